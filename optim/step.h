// step.h: one optimizer step, the sequence every training loop runs after its forward pass:
// backward, weight decay, gradient clipping, the optimizer's update, and a check that every
// parameter is still finite. Is not: a loop, a schedule or a stop rule (train.h has those).
//
// Errors are returned, not thrown: a loop decides what a divergence means (train.h restores the
// last good epoch; continual learning stops with the message).
#pragma once

#include <string>

#include "autodiff/autodiff.h"
#include "nn/model.h"
#include "optim/optimizer.h"

namespace awd {

// What happens to the gradient between backward and the update. Zero strengths switch a part off.
struct StepRule {
    double weight_decay = 0;  // beta of apply_weight_decay; 0: no decay
    WeightDecay decay_kind = WeightDecay::Norm;
    double clip_norm = 0;  // > 0: clip the gradient's global norm to this
};

// model.backward(loss), then step_from_gradient. "" on success; otherwise what was not finite
// (the gradient, with the op or parameter that made it, or a parameter after the update).
std::string optimizer_step(Model& model, Optimizer& optimizer, const Var& loss, double lr, const StepRule& rule = {});

// The step from the gradient already in model.gradient() (a loop that edits it, as GEM's projection
// does, or that writes it itself): decay, clip, update, finiteness check. "" on success, else
// "parameter NAME became NaN or Inf".
std::string step_from_gradient(Model& model, Optimizer& optimizer, double lr, const StepRule& rule = {});

// The name of the first parameter with a non-finite entry in theta, or "".
std::string first_non_finite(const Model& model);

}  // namespace awd
