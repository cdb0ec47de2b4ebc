// loss.h: the two losses a network is trained with, per sample and over a batch.
//
// Cross-entropy of one sample with output f (C logits): log sum_c exp f_c - f_label.
// MSE against the one-hot target: (1/C) sum_c (f_c - [c = label])^2, so the batch mean equals
// PyTorch's MSELoss(reduction="mean") over the (N, C) outputs.
#pragma once

#include <cmath>
#include <string>

#include "autodiff/tensor.h"

namespace awd {

enum class Loss { CrossEntropy, MeanSquaredError };
Loss parse_loss(const std::string& name);  // "ce" or "mse"
const char* loss_name(Loss loss);

// A template so that the duality check can evaluate it in long double.
template <class T>
T sample_loss(Loss loss, const T* f, int classes, int label) {
    if (loss == Loss::CrossEntropy) {
        T m = f[0], s = 0;
        for (int c = 1; c < classes; ++c) m = std::max(m, f[c]);
        for (int c = 0; c < classes; ++c) s += std::exp(f[c] - m);
        return m + std::log(s) - f[label];
    }
    T s = 0;
    for (int c = 0; c < classes; ++c) {
        const T r = f[c] - (c == label ? T(1) : T(0));
        s += r * r;
    }
    return s / T(classes);
}

// Mean loss over the batch (B, C); when dlogits is given, the gradient of that mean with
// respect to the logits. Labels must be in [0, C) (checked by whoever made the data).
double loss_forward_backward(Loss loss, const Tensor& logits, const int* labels, Tensor* dlogits);

}  // namespace awd
