// loss.cpp: the batch losses as graphs, and each sample loss's own gradient and Hessian.
#include "nn/loss.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace awd {

Var loss_graph(Loss loss, const Var& output, const std::vector<int>& labels) {
    if (loss == Loss::CrossEntropy) return cross_entropy(output, labels);
    if ((int)labels.size() != output.rows())
        throw std::invalid_argument("mse: " + std::to_string(labels.size()) + " labels for " +
                                    std::to_string(output.rows()) + " samples");
    Tensor one_hot(output.rows(), output.cols());
    for (int n = 0; n < output.rows(); ++n) {
        if (labels[n] < 0 || labels[n] >= output.cols())
            throw std::invalid_argument("mse: label " + std::to_string(labels[n]) + " of sample " + std::to_string(n) +
                                        " is outside [0, " + std::to_string(output.cols()) + ")");
        one_hot(n, labels[n]) = 1.0;
    }
    return mse(output, constant(std::move(one_hot)));
}

void sample_loss_derivatives(Loss loss, const double* f, int classes, int label, double* gradient, double* hessian) {
    const int C = classes;
    if (loss == Loss::MeanSquaredError) {  // l = (1/C) sum (f - t)^2
        for (int k = 0; k < C; ++k) {
            gradient[k] = 2.0 * (f[k] - (k == label)) / C;
            for (int i = 0; i < C; ++i) hessian[k * C + i] = i == k ? 2.0 / C : 0.0;
        }
        return;
    }
    double* p = gradient;  // p = softmax f first, then p - onehot in place
    double top = f[0], total = 0.0;
    for (int k = 1; k < C; ++k) top = std::max(top, f[k]);
    for (int k = 0; k < C; ++k) total += (p[k] = std::exp(f[k] - top));
    for (int k = 0; k < C; ++k) p[k] /= total;
    for (int i = 0; i < C; ++i) {
        double others = 0.0;  // 1 - p_i without the cancellation when p is nearly one-hot
        for (int k = 0; k < C; ++k) others += k == i ? 0.0 : p[k];
        for (int k = 0; k < C; ++k) hessian[i * C + k] = i == k ? p[i] * others : -p[i] * p[k];
    }
    gradient[label] -= 1.0;
}

}  // namespace awd
