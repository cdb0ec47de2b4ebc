// online_mlp.h: the continual learner's network, a ReLU MLP with softmax cross-entropy,
// trained one example at a time (THEORY section 7).
//
// theta = [W^0 (n_1 x n_0, row-major), b^0, W^1, b^1, ...], PyTorch's parameters_to_vector
// order. A single-example SGD step is the hot loop of MER (2 x 10^7 of them per stream), so
// it is fused: forward, then per layer one pass over W that both back-propagates through the
// old W and applies the update, without materialising the gradient. Dot products use eight
// partial sums in a fixed order (vectorisable, and the same bytes whatever the thread count).
// The first layer visits only the columns of W^0 where the input is non-zero.
// The hand-written derivatives here are held equal to the autodiff in tests/test_continual.cpp.
#pragma once

#include <cstdint>
#include <vector>

#include "autodiff/tensor.h"
#include "nn/random.h"

namespace awd {

struct OnlineMlp {
    std::vector<int> widths;    // n_0, ..., n_L
    std::vector<double> theta;  // layout above

    OnlineMlp() = default;
    explicit OnlineMlp(std::vector<int> w);
    int layers() const { return (int)widths.size() - 1; }
    size_t weight_offset(int l) const;
    size_t bias_offset(int l) const { return weight_offset(l) + (size_t)widths[l + 1] * widths[l]; }
    size_t n_params() const { return theta.size(); }
};

// Glorot (Xavier) uniform weights, W uniform in +-sqrt(6 / (fan_in + fan_out)); zero biases.
void glorot_uniform(OnlineMlp& net, Rng& rng);

struct ExampleScratch {
    std::vector<std::vector<double>> a;  // a[l] for l = 1..L (a[L] = logits); a[0] is the input, not stored
    std::vector<double> delta, da;
    std::vector<int> nz;  // the non-zero entries of the input
};

// Cross-entropy of one example; grad += scale * dloss/dtheta (P values).
double example_loss_gradient(const OnlineMlp& net, const double* x, int label, double scale, ExampleScratch& s, double* grad);
// One SGD step on one example: theta -= lr * dloss/dtheta, bit-identical to
// example_loss_gradient(scale 1, into zeros) followed by theta -= lr * grad. Returns the loss.
double sgd_example(OnlineMlp& net, const double* x, int label, double lr, ExampleScratch& s);

// Logits (N, n_L) of a batch (N, n_0), through BLAS.
Tensor forward_batch(const OnlineMlp& net, const Tensor& X);
double accuracy(const OnlineMlp& net, const Tensor& X, const std::vector<int>& labels);

}  // namespace awd
