// per_sample.h: the gradient of each sample's own loss, for any model.
// Is not: the statistics built from the rows (analysis/sgd_noise.h, EWC).
//
// Row n of the result is d loss(f(x_n), y_n) / d theta: one backward pass per sample through
// grad(), each sample read in place (a one-row view) and its gradient landing in the model's
// flat layout. The noise covariance of SGD, the Fisher diagonal of EWC and GEM's memory
// gradients are all built from these rows.
#pragma once

#include <functional>
#include <vector>

#include "autodiff/tensor.h"
#include "nn/loss.h"
#include "nn/model.h"

namespace awd {

// X is (N, inputs), labels N entries; the result is (N, P). model.gradient() is left holding
// the last sample's gradient.
Tensor per_sample_gradients(Model& model, const LossFunction& loss, const Tensor& X, const std::vector<int>& labels);

// The same passes without storing the rows: use(n, g) sees sample n's gradient g (P, 1), which
// lives in model.gradient() until the next sample's pass (EWC's Fisher needs only its squares).
void for_each_sample_gradient(Model& model, const LossFunction& loss, const Tensor& X, const std::vector<int>& labels,
                              const std::function<void(int n, const Tensor& g)>& use);

}  // namespace awd
