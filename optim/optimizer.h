// optimizer.h: first-order optimizers on the flat parameter vector, weight decay, schedules.
// Is not: the sequence of one step (step.h) or the loop (train.h).
//
// The update rules follow PyTorch's (torch.optim.SGD, Adam, AdamW) operation for operation:
//   SGD:   d = g; with momentum mu: buf = mu buf + d; d = nesterov ? g + mu buf : buf;  theta -= lr d
//   Adam:  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//          theta -= (lr / (1 - b1^t)) (m / (sqrt(v) / sqrt(1 - b2^t) + eps))
//   AdamW: Adam after theta *= 1 - lr beta (decoupled decay)
//   amsgrad (Adam, AdamW): vmax = max(vmax, v) replaces v in the denominator
// All of them act on a Model: its flat theta and the gradient backward() left beside it.
// Weight decay acts on every parameter, as PyTorch's does:
//   l2:        loss += beta/2 |theta|^2         (gradient += beta theta; "coupled")
//   decoupled: theta -= lr beta theta           (before the step, as AdamW)
//   norm:      loss += beta |theta|_2           (the A-W reference setup: one L2 norm of all
//                                                parameters together, the norm, not squared, as
//                                                the authors' code computes it;
//                                                gradient += beta theta / |theta|_2)
// Gradient clipping rescales the whole gradient to norm max_norm when it is longer.
#pragma once

#include <string>
#include <vector>

#include "autodiff/names.h"
#include "nn/model.h"

namespace awd {

enum class OptimizerKind { Sgd, Adam, AdamW };
inline constexpr Named<OptimizerKind> kOptimizerNames[] = {
    {OptimizerKind::Sgd, "sgd"}, {OptimizerKind::Adam, "adam"}, {OptimizerKind::AdamW, "adamw"}};
static_assert(in_enum_order(kOptimizerNames));
inline OptimizerKind parse_optimizer(const std::string& name) { return parse_name(name, kOptimizerNames, "optimizer"); }
inline const char* optimizer_name(OptimizerKind value) { return name_of(kOptimizerNames, value); }
enum class WeightDecay { L2, Decoupled, Norm };
inline constexpr Named<WeightDecay> kWeightDecayNames[] = {
    {WeightDecay::L2, "l2"}, {WeightDecay::Decoupled, "decoupled"}, {WeightDecay::Norm, "norm"}};
static_assert(in_enum_order(kWeightDecayNames));
inline WeightDecay parse_weight_decay(const std::string& name) {
    return parse_name(name, kWeightDecayNames, "weight decay");
}
inline const char* weight_decay_name(WeightDecay value) { return name_of(kWeightDecayNames, value); }

struct OptimizerConfig {
    OptimizerKind kind = OptimizerKind::Sgd;
    double momentum = 0.0;
    bool nesterov = false;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    bool amsgrad = false;  // Adam, AdamW: PyTorch's amsgrad = True
};

class Optimizer {
public:
    Optimizer(const OptimizerConfig& config, Model& model);
    // One update of the model's theta from its gradient() at learning rate lr.
    void step(double lr);

private:
    OptimizerConfig config_;
    Model& model_;
    std::vector<double> first_, second_;  // momentum buffer or Adam's m; Adam's v
    std::vector<double> second_max_;      // amsgrad: the largest v so far
    long steps_ = 0;
};

// Adds the decay's gradient to model.gradient() (l2, norm) or shrinks theta (decoupled).
void apply_weight_decay(Model& model, WeightDecay kind, double beta, double lr);
// Scales model.gradient() down to norm max_norm when it is longer; returns the norm before.
double clip_gradient_norm(Model& model, double max_norm);

enum class Schedule { Constant, Step, Cosine };
inline constexpr Named<Schedule> kScheduleNames[] = {
    {Schedule::Constant, "constant"}, {Schedule::Step, "step"}, {Schedule::Cosine, "cosine"}};
static_assert(in_enum_order(kScheduleNames));
inline Schedule parse_schedule(const std::string& name) {
    return parse_name(name, kScheduleNames, "learning-rate schedule");
}
inline const char* schedule_name(Schedule value) { return name_of(kScheduleNames, value); }

struct ScheduleConfig {
    Schedule kind = Schedule::Constant;
    int step_epochs = 100;  // step: multiply by gamma every step_epochs epochs
    double gamma = 0.1;
    int total_epochs = 1000;  // cosine: from lr at epoch 0 down to 0 at total_epochs
};
// Learning rate for epoch `epoch` (0-based).
double learning_rate(const ScheduleConfig& s, double base_lr, int epoch);

}  // namespace awd
