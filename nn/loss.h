// loss.h: the two losses a network is trained with, each defined once.
// Is not: a Hessian algorithm (analysis/hessian.h uses the derivatives given here).
//
// Cross-entropy of one sample with output f (C logits): log sum_c exp f_c - f_label.
// MSE against the one-hot target: (1/C) sum_c (f_c - [c = label])^2, so the batch mean equals
// PyTorch's MSELoss(reduction="mean") over the (N, C) outputs.
// loss_graph is the mean over a batch as an autodiff graph (what training differentiates);
// sample_loss is the same number for one sample, templated so the A-W duality check can
// evaluate it in long double. Both use autodiff's one log_sum_exp. sample_loss_derivatives gives
// its gradient and Hessian with respect to the outputs in closed form (analysis/hessian.cpp).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "autodiff/names.h"

namespace awd {

enum class Loss { CrossEntropy, MeanSquaredError };
inline constexpr Named<Loss> kLossNames[] = {{Loss::CrossEntropy, "ce"}, {Loss::MeanSquaredError, "mse"}};
static_assert(in_enum_order(kLossNames));
inline Loss parse_loss(const std::string& name) { return parse_name(name, kLossNames, "loss"); }
inline const char* loss_name(Loss value) { return name_of(kLossNames, value); }

// Mean loss of the batch: output (N, C), labels N entries in [0, C).
Var loss_graph(Loss loss, const Var& output, const std::vector<int>& labels);

// What training and evaluation take: any mean loss of a model's output over a batch.
using LossFunction = std::function<Var(const Var& output, const std::vector<int>& labels)>;
inline LossFunction loss_function(Loss loss) {
    return [loss](const Var& output, const std::vector<int>& labels) { return loss_graph(loss, output, labels); };
}

// The sample loss's own derivatives with respect to its input f (C values), BackPACK-style: the
// loss carries its Hessian, so a second-order algorithm needs no case per loss.
//   gradient (C): dl/df_k.      cross-entropy: p - onehot (p = softmax f);  MSE: 2 (f - onehot) / C
//   hessian (C x C, row-major): d^2 l / df_i df_k.  cross-entropy: diag(p) - p p^T;  MSE: (2 / C) I
// The cross-entropy diagonal p_i (1 - p_i) is computed as p_i sum_{k != i} p_k, without the
// cancellation of 1 - p_i when p is nearly one-hot.
void sample_loss_derivatives(Loss loss, const double* f, int classes, int label, double* gradient, double* hessian);

template <class T>
T sample_loss(Loss loss, const T* f, int classes, int label) {
    if (loss == Loss::CrossEntropy) return log_sum_exp(f, classes) - f[label];
    T s = 0;
    for (int c = 0; c < classes; ++c) {
        const T r = f[c] - (c == label ? T(1) : T(0));
        s += r * r;
    }
    return s / T(classes);
}

}  // namespace awd
