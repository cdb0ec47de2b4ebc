// gan.h: the effective GAN model (Durr, Mroueh, Tu & Wang, arXiv 2212.04580; the mathematics is
// in experiments/gan/README.md).
//
// The generator is N particles Q (N, d) in output space, coupled by a kernel K (N, N):
//   one generator step   Q <- Q + eta_G K G,   G = grad_q D(q_i) row by row (N, d),
//   K = g1 I + g2 (1 1^T - I)  (or any N x N matrix, e.g. an empirical NTK read from a file),
// one matrix product over all particles. Only the discriminator is a network (nn/mlp.h's
// make_discriminator) whose output f(x) is a logit (objective gan, D = sigmoid f) or a critic
// value (objective wasserstein). It is trained by ascent on
//   gan:          E_data log D(x) + E_particles log(1 - D(q))  = -E softplus(-f(x)) - E softplus(f(q))
//   wasserstein:  E_data f(x) - E_particles f(q)
// minus the gradient penalty alpha E_S |grad_x f(x)|^2, S = data samples, particles or both
// (their union), a double backward through grad(create_graph = true). Scaled per sample, each
// row's gradient is grad_x f(x_m); scaled as a batch mean, it is grad_x of (1/B) sum_m f(x_m),
// so the penalty is 1/B^2 of the per-sample one (what code differentiating a batch mean
// computes). Weight decay beta adds beta theta to the descent gradient (PyTorch's coupled
// weight_decay). The particles ascend
//   gan: log D(q) (the non-saturating generator loss),   wasserstein: f(q).
// Each generator step is preceded by d_steps discriminator steps on fresh data samples
// (d_steps_first before the first); dropout acts in those critic steps only.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "experiments/gan/gan_targets.h"
#include "nn/mlp.h"
#include "nn/random.h"
#include "optim/optimizer.h"

namespace awd {

enum class GanObjective { Gan, Wasserstein };
enum class PenaltyOn { Data, Particles, Both };
enum class PenaltyScale { PerSample, BatchMean };
GanObjective parse_gan_objective(const std::string& name);  // gan | wasserstein
const char* gan_objective_name(GanObjective o);
PenaltyOn parse_penalty_on(const std::string& name);  // data | particles | both
const char* penalty_on_name(PenaltyOn p);
PenaltyScale parse_penalty_scale(const std::string& name);  // per-sample | batch-mean
const char* penalty_scale_name(PenaltyScale s);

// K = g1 I + g2 (1 1^T - I), (n, n).
Tensor coupling_kernel(int n, double g1, double g2);
// Q <- Q + eta K G as one dgemm; Q and G are (N, d), K is (N, N).
void kernel_step(Tensor& Q, const Tensor& K, const Tensor& G, double eta);

struct CriticTerms {
    Var loss;              // the quantity the discriminator descends: -objective + alpha penalty (a graph of D's theta)
    double objective = 0;  // the GAN or Wasserstein objective (what it ascends)
    double penalty = 0;    // E_S |grad_x f|^2 in the chosen scaling (before alpha)
};
// dropout_rng: a training-mode forward pass (dropout on) drawing its masks from it; null: evaluation mode.
CriticTerms critic_loss(const Model& D, const Tensor& data, const Tensor& particles, GanObjective objective,
                        double alpha, PenaltyOn on, PenaltyScale scale = PenaltyScale::PerSample,
                        Rng* dropout_rng = nullptr);
// E_S |grad_x f(x)|^2 over the rows of X, differentiable in D's theta (create_graph); batch-mean:
// the gradient of the mean of f over the rows, so 1/B^2 of the per-sample value (B = X.rows).
Var gradient_penalty(const Model& D, const Tensor& X, PenaltyScale scale = PenaltyScale::PerSample);
// G (N, d): row i = grad_q of the particles' objective at q_i (log D for gan, f for wasserstein).
Tensor particle_gradient(const Model& D, const Tensor& Q, GanObjective objective);

struct GanConfig {
    int particles = 100;
    double g1 = 1, g2 = 0.5;
    double lr_g = 1e-4, lr_d = 1e-3;
    int d_steps = 1;
    double weight_decay = 0;
    int d_steps_first = 0;  // discriminator steps before the first generator step (0: d_steps)
    double penalty = 0;
    PenaltyOn penalty_on = PenaltyOn::Data;
    PenaltyScale penalty_scale = PenaltyScale::PerSample;
    GanObjective objective = GanObjective::Gan;
    std::vector<int> hidden = {64, 64};
    Activation activation = Activation::Relu;
    double dropout = 0;  // in critic steps, after hidden layer dropout_after
    int dropout_after = 1;
    bool output_bias = true;
    OptimizerConfig optimizer;     // the discriminator's (SGD by default)
    bool fresh_optimizer = false;  // a new optimizer (zero moments, step count 0) at every generator step
    int batch = 0;  // data samples per discriminator step (0: as many as particles; point sets: all points)
    double init_std =
        0.1;  // particles start as N(0, init_std^2) in every coordinate: a tight cluster, like an untrained generator
    uint64_t seed = 0;
};

// The authors' mnist100 setup (experiments/gan/README.md, setup table), at lrD 1e-3 and g2 0:
// 100 particles from N(0, 0.5^2), critic 784-64-1024-64-1 ReLU with dropout 0.2 after the 1024
// layer and no output bias, Wasserstein objective with the penalty 1.25 (E|grad f|^2 - 1) on the
// particles in the batch-mean scaling, Adam (amsgrad, weight decay 1e-4) made anew at every
// generator step, 20 critic steps per generator step and 200 before the first, lr_g 1e-4.
GanConfig authors_mnist100_config();

// The particles and the discriminator, advanced one generator step at a time. When a step
// produces a non-finite value, step() restores the particles and the discriminator's theta from
// before it and throws std::runtime_error naming the step, so the caller keeps the last good
// state (the optimizer's moments are not restored: the run stops there).
class GanDynamics {
public:
    GanDynamics(const GanTarget& target, const GanConfig& config, Tensor kernel);
    void step();
    const Tensor& particles() const { return Q_; }
    const Tensor& start() const { return Q0_; }
    const Model& discriminator() const { return D_; }
    int steps_done() const { return steps_; }
    double objective() const { return objective_; }  // of the last discriminator step
    double penalty() const { return penalty_; }

private:
    const GanTarget& target_;
    GanConfig config_;
    Tensor K_, Q_, Q0_;
    Model D_;
    std::optional<Optimizer> optimizer_;  // holds a reference to D_; made anew when fresh_optimizer
    Rng data_rng_, dropout_rng_;
    Tensor samples_;  // the discriminator's data of the current step (a mixture's draws)
    int steps_ = 0;
    double objective_ = 0, penalty_ = 0;
};

// One row of a run's trajectory: the order parameters after `step` generator steps.
struct GanRecord {
    int step = 0;
    OrderParameters order;
    double objective = 0, penalty = 0;  // of the last discriminator step
};
struct GanOutcome {
    std::vector<GanRecord> trajectory;
    std::string error;  // empty, or why the run stopped early (the state is the last good one)
};
// `steps` generator steps from the configured start, recording the order parameters at step 0,
// every `record_every` steps and at the end; on_record sees the state at each record.
GanOutcome run_gan(GanDynamics& dynamics, const GanTarget& target, int steps, int record_every,
                   const std::function<void(const GanDynamics&, const GanRecord&)>& on_record = {});

// Every step builds and frees a graph of many small tensors; glibc would hand the top of the
// heap back to the kernel after each step and fault it in again (measured: over half the run
// time of awd gan). Raises glibc's trim and mmap thresholds for the whole process.
void keep_heap_between_steps();

}  // namespace awd
