// continual.h: continual learning over a task stream (experiments/mer/README.md): the methods
// (online, ER, MER, EWC, GEM, independent), EWC's Fisher diagonal, the stream loop, the accuracy
// matrix R and its summaries RA, LA, BTI, and the checkpoint. Is not: the reservoir memory
// (reservoir.h) or GEM's QP (gem_qp.h).
//
// The learner is an ordinary Model (nn/mlp.h's make_mlp, Glorot-initialised): every gradient
// is the autodiff's (model.backward on a cross-entropy graph), every update a plain-SGD
// Optimizer step; MER's Reptile interpolations are arithmetic on the flat theta.
//
// Examples arrive one at a time, one pass. Randomness: task t's draws come from
// Rng(stream_seed(seed, 1000 + t)), so the state at a task boundary (parameters, memory,
// reservoir age, EWC and GEM accumulators, R so far) is all a checkpoint needs: a resumed run
// ends with the same bytes as an uninterrupted one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autodiff/names.h"
#include "autodiff/tensor.h"
#include "experiments/mer/gem_qp.h"
#include "experiments/mer/reservoir.h"
#include "experiments/mer/task_streams.h"
#include "nn/mlp.h"
#include "nn/random.h"

namespace awd {

enum class Method { Online, Er, Mer, Ewc, Gem, Independent };
inline constexpr Named<Method> kMethodNames[] = {{Method::Online, "online"}, {Method::Er, "er"},
                                                 {Method::Mer, "mer"},       {Method::Ewc, "ewc"},
                                                 {Method::Gem, "gem"},       {Method::Independent, "independent"}};
static_assert(in_enum_order(kMethodNames));
inline Method parse_method(const std::string& name) { return parse_name(name, kMethodNames, "method"); }
inline const char* method_name(Method value) { return name_of(kMethodNames, value); }

// ---- EWC ----------------------------------------------------------------------------------
// Diagonal Fisher: the mean over the examples (rows of X) of the squared per-example gradient
// of the cross-entropy, each one backward pass through net (its gradient() is overwritten).
std::vector<double> ewc_fisher(Model& net, const Tensor& X, const std::vector<int>& labels);

// ---- MER's update -------------------------------------------------------------------------
// Reptile around a caller's within-batch steps: theta_a = theta; for each of `batches` batches
// theta_w = theta, batch_steps(b) (the caller's SGD steps on batch b), theta = theta_w + beta
// (theta - theta_w); at the end theta = theta_a + gamma (theta - theta_a). Used by `awd
// continual` (single-example cross-entropy steps) and `awd rl` (Q-learning steps).
struct MerScratch {
    std::vector<double> theta_a, theta_w;
};
void mer_update(Model& net, int batches, double beta, double gamma, MerScratch& scratch,
                const std::function<void(int batch)>& batch_steps);

// ---- methods ------------------------------------------------------------------------------
struct ContinualConfig {
    Method method = Method::Mer;
    int memories = 5120, replay = 100, batches = 10;  // replay = k - 1 draws from memory, batches = s
    double lr = 0.03, beta = 0.03, gamma = 1.0;
    bool without_replacement = false;  // memory draws (the paper: with replacement)
    double ewc_lambda = 100.0;         // penalty (lambda / 2) sum_t sum_i F_t,i (theta_i - theta*_t,i)^2
    int fisher_examples = 200;         // first m examples of each finished task
    int gem_per_task = 256;            // GEM: the most recent this many examples of each task
    double margin = 1.0, gem_eps = 1e-3;
    int hidden = 100, depth = 2;  // 784-100-100-10
    uint64_t seed = 1;
    int curve_every = 100;  // task-1 accuracy every this many examples
};

struct ContinualState {
    int tasks_done = 0;
    std::vector<Model> nets;  // one, or one per task (independent)
    Reservoir memory;
    std::vector<double> ewc_F, ewc_Ftheta;  // sum_t F_t, sum_t F_t theta*_t
    std::vector<Reservoir> gem;             // per task, a ring buffer (capacity gem_per_task, age = count)
    std::vector<std::vector<double>> R;     // R[i][j]: accuracy on task j after task i
    std::vector<double> curve;              // task-1 accuracy every curve_every examples
    uint64_t examples_seen = 0;
    struct Scratch {                     // buffers only, not part of a checkpoint
        Tensor batch;                    // ER's (k, inputs) batch
        std::vector<int> labels, label;  // its labels; one example's label
        MerScratch mer;
        std::vector<double> x;
        std::vector<int> order;
    } scratch;
};

ContinualState initial_state(const ContinualConfig& config, const TaskStream& stream);
// Trains tasks state.tasks_done .. T-1, calling after_task(state) after each finished task
// (its R row filled); stops early when after_task returns false.
void run_stream(const ContinualConfig& config, const TaskStream& stream, ContinualState& state,
                const std::function<bool(const ContinualState&)>& after_task);

// The update of one incoming example i of task t (exposed for the tests): every method's step.
void observe(const ContinualConfig& config, const TaskStream& stream, ContinualState& state, int t, const double* x,
             int y, int i, Rng& rng);

struct Summary {
    double RA = 0, LA = 0, BTI = 0;
};
Summary summarize(const std::vector<std::vector<double>>& R);

// Checkpoint: binary, every field of the state; inputs are rebuilt from the stream on reading.
std::string serialize_state(const ContinualState& state);
ContinualState deserialize_state(const std::string& bytes, const ContinualConfig& config, const TaskStream& stream);

}  // namespace awd
