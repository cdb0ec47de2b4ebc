// optimizer.cpp: the update rules, weight decay and learning-rate schedules.
#include "optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autodiff/product.h"

namespace awd {

Optimizer::Optimizer(const OptimizerConfig& config, Model& model) : config_(config), model_(model) {
    const size_t n_params = model.size();
    if (config.kind != OptimizerKind::Sgd || config.momentum != 0.0) first_.assign(n_params, 0.0);
    if (config.kind != OptimizerKind::Sgd) second_.assign(n_params, 0.0);
    if (config.amsgrad && config.kind == OptimizerKind::Sgd) throw std::invalid_argument("amsgrad needs Adam or AdamW");
    if (config.amsgrad) second_max_.assign(n_params, 0.0);
    if (config.nesterov && (config.kind != OptimizerKind::Sgd || config.momentum <= 0.0))
        throw std::invalid_argument("Nesterov momentum needs SGD with momentum > 0");
}

namespace {
constexpr size_t kEntriesPerThread = 1 << 14;  // below this, splitting the update over threads costs more than it saves
}  // namespace

void Optimizer::step(double lr) {
    ++steps_;
    // restrict: the buffers are distinct, so the loops below vectorise. Each entry is updated on
    // its own, so cutting the loop over the product threads changes no bit.
    double* const theta_all = model_.theta().data.data();
    const double* const g_all = model_.gradient().data.data();
    double *const m_all = first_.data(), *const v_all = second_.data(), *const v_max_all = second_max_.data();
    const size_t n = model_.size();
    if (config_.kind == OptimizerKind::Sgd) {
        const double mu = config_.momentum;
        const bool nesterov = config_.nesterov;
        for_entry_blocks(n, kEntriesPerThread, [=](size_t begin, size_t end) {
            double* __restrict theta = theta_all;
            const double* __restrict g = g_all;
            double* __restrict m = m_all;
            if (mu == 0.0) {
                for (size_t k = begin; k < end; ++k) theta[k] -= lr * g[k];
                return;
            }
            for (size_t k = begin; k < end; ++k) m[k] = mu * m[k] + g[k];
            if (nesterov)
                for (size_t k = begin; k < end; ++k) theta[k] -= lr * (g[k] + mu * m[k]);
            else
                for (size_t k = begin; k < end; ++k) theta[k] -= lr * m[k];
        });
        return;
    }
    const double b1 = config_.beta1, b2 = config_.beta2, eps = config_.eps;
    const double bias1 = 1.0 - std::pow(b1, (double)steps_), bias2 = 1.0 - std::pow(b2, (double)steps_);
    const double step_size = lr / bias1, sqrt_bias2 = std::sqrt(bias2);
    const bool amsgrad = config_.amsgrad;
    for_entry_blocks(n, kEntriesPerThread, [=](size_t begin, size_t end) {
        double* __restrict theta = theta_all;
        const double* __restrict g = g_all;
        double *__restrict m = m_all, *__restrict v = v_all, *__restrict v_max = v_max_all;
        for (size_t k = begin; k < end; ++k) {
            m[k] = b1 * m[k] + (1.0 - b1) * g[k];
            v[k] = b2 * v[k] + (1.0 - b2) * g[k] * g[k];
            double denominator = v[k];
            if (amsgrad) {
                const double largest = v_max[k];
                denominator = v_max[k] = largest < denominator ? denominator : largest;  // std::max(v_max, v)
            }
            theta[k] -= step_size * (m[k] / (std::sqrt(denominator) / sqrt_bias2 + eps));
        }
    });
}

void apply_weight_decay(Model& model, WeightDecay kind, double beta, double lr) {
    if (beta == 0.0) return;
    const size_t p = model.size();
    double* theta = model.theta().data.data();
    double* grad = model.gradient().data.data();
    if (kind == WeightDecay::L2) {
        for_entry_blocks(p, kEntriesPerThread, [=](size_t begin, size_t end) {
            for (size_t k = begin; k < end; ++k) grad[k] += beta * theta[k];
        });
    } else if (kind == WeightDecay::Decoupled) {
        for_entry_blocks(p, kEntriesPerThread, [=](size_t begin, size_t end) {
            for (size_t k = begin; k < end; ++k) theta[k] *= 1.0 - lr * beta;
        });
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
