// loss.h: the two losses a network is trained with, each defined once.
//
// Cross-entropy of one sample with output f (C logits): log sum_c exp f_c - f_label.
// MSE against the one-hot target: (1/C) sum_c (f_c - [c = label])^2, so the batch mean equals
// PyTorch's MSELoss(reduction="mean") over the (N, C) outputs.
// loss_graph is the mean over a batch as an autodiff graph (what training differentiates);
// sample_loss is the same number for one sample, templated so the A-W duality check can
// evaluate it in long double. Both use autodiff's one log_sum_exp.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"

namespace awd {

enum class Loss { CrossEntropy, MeanSquaredError };
Loss parse_loss(const std::string& name);  // "ce" or "mse"
const char* loss_name(Loss loss);

// Mean loss of the batch: output (N, C), labels N entries in [0, C).
Var loss_graph(Loss loss, const Var& output, const std::vector<int>& labels);

// What training and evaluation take: any mean loss of a model's output over a batch.
using LossFunction = std::function<Var(const Var& output, const std::vector<int>& labels)>;
inline LossFunction loss_function(Loss loss) {
    return [loss](const Var& output, const std::vector<int>& labels) { return loss_graph(loss, output, labels); };
}

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
