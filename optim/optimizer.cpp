// optimizer.cpp: the update rules, weight decay and learning-rate schedules.
#include "optim/optimizer.h"

#include <cmath>
#include <stdexcept>

namespace awd {

Optimizer::Optimizer(const OptimizerConfig& config, Model& model) : config_(config), model_(model) {
    const size_t n_params = model.size();
    if (config.kind != OptimizerKind::Sgd || config.momentum != 0.0) first_.assign(n_params, 0.0);
    if (config.kind != OptimizerKind::Sgd) second_.assign(n_params, 0.0);
    if (config.nesterov && (config.kind != OptimizerKind::Sgd || config.momentum <= 0.0))
        throw std::invalid_argument("Nesterov momentum needs SGD with momentum > 0");
}

void Optimizer::step(double lr) {
    ++steps_;
    // restrict: theta and the gradient are separate buffers, so the loops below vectorise
    double* __restrict theta = model_.theta().data.data();
    const double* __restrict g = model_.gradient().data.data();
    const size_t n = model_.size();
    if (config_.kind == OptimizerKind::Sgd) {
        const double mu = config_.momentum;
        if (mu == 0.0) {
            for (size_t k = 0; k < n; ++k) theta[k] -= lr * g[k];
            return;
        }
        for (size_t k = 0; k < n; ++k) {
            first_[k] = mu * first_[k] + g[k];
            theta[k] -= lr * (config_.nesterov ? g[k] + mu * first_[k] : first_[k]);
        }
        return;
    }
    const double b1 = config_.beta1, b2 = config_.beta2;
    const double bias1 = 1.0 - std::pow(b1, (double)steps_), bias2 = 1.0 - std::pow(b2, (double)steps_);
    const double step_size = lr / bias1, sqrt_bias2 = std::sqrt(bias2);
    for (size_t k = 0; k < n; ++k) {
        first_[k] = b1 * first_[k] + (1.0 - b1) * g[k];
        second_[k] = b2 * second_[k] + (1.0 - b2) * g[k] * g[k];
        theta[k] -= step_size * (first_[k] / (std::sqrt(second_[k]) / sqrt_bias2 + config_.eps));
    }
}

void apply_weight_decay(Model& model, WeightDecay kind, double beta, double lr) {
    if (beta == 0.0) return;
    const size_t p = model.size();
    double* theta = model.theta().data.data();
    double* grad = model.gradient().data.data();
    if (kind == WeightDecay::L2) {
        for (size_t k = 0; k < p; ++k) grad[k] += beta * theta[k];
    } else if (kind == WeightDecay::Decoupled) {
        for (size_t k = 0; k < p; ++k) theta[k] *= 1.0 - lr * beta;
    } else {  // norm: beta |theta|_2 over every parameter together
        const double norm = frobenius_norm(model.theta());
        if (norm == 0.0) return;  // |theta| is not differentiable at 0; its subgradient 0 is used
        for (size_t k = 0; k < p; ++k) grad[k] += beta * theta[k] / norm;
    }
}

double clip_gradient_norm(Model& model, double max_norm) {
    const double norm = frobenius_norm(model.gradient());
    if (norm > max_norm) {
        const double scale = max_norm / norm;
        for (double& g : model.gradient().data) g *= scale;
    }
    return norm;
}

double learning_rate(const ScheduleConfig& s, double base_lr, int epoch) {
    switch (s.kind) {
        case Schedule::Constant: return base_lr;
        case Schedule::Step: return base_lr * std::pow(s.gamma, epoch / std::max(1, s.step_epochs));
        case Schedule::Cosine:
            return base_lr * 0.5 *
                (1.0 + std::cos(M_PI * std::min(epoch, s.total_epochs) / std::max(1, s.total_epochs)));
    }
    return base_lr;
}

}  // namespace awd
