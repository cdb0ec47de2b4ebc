// step.cpp: one optimizer step (step.h).
#include "optim/step.h"

#include <cmath>

namespace awd {

std::string first_non_finite(const Model& model) {
    const Tensor& theta = model.theta();
    // the common case, all finite, is one pass that vectorises; the entry is looked for only when one is not
    if (all_finite(theta.data.data(), theta.size())) return "";
    for (size_t k = 0; k < theta.size(); ++k)
        if (!std::isfinite(theta[k])) return model.name_of(k);
    return "";
}

std::string step_from_gradient(Model& model, Optimizer& optimizer, double lr, const StepRule& rule) {
    if (rule.weight_decay > 0) apply_weight_decay(model, rule.decay_kind, rule.weight_decay, lr);
    if (rule.clip_norm > 0) clip_gradient_norm(model, rule.clip_norm);
    optimizer.step(lr);
    const std::string bad = first_non_finite(model);
    return bad.empty() ? "" : "parameter " + bad + " became NaN or Inf";
}

std::string optimizer_step(Model& model, Optimizer& optimizer, const Var& loss, double lr, const StepRule& rule) {
    try {
        model.backward(loss);
    } catch (const NonFiniteError& e) {  // backward() found a non-finite entry in the gradient
        return e.what();
    }
    return step_from_gradient(model, optimizer, lr, rule);
}

}  // namespace awd
