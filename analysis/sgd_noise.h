// sgd_noise.h: the SGD noise of a real network from exact per-sample gradients, set against its
// exact Hessian (experiments/sgd/README.md, real networks).
// Is not: the toy landscapes (experiments/sgd/) or the Spearman statistic (rank_correlation.h).
//
// Per-sample gradients come from nn/per_sample.h (one backward pass per sample through grad()).
// The noise covariance of minibatch SGD with batch B (drawn with replacement) is C / B with
// C = (1/N) sum_n (g_n - g)(g_n - g)^T, P x P: too big to store for 784-50-50-10 (42310
// parameters), so its top eigenpairs come from the N x N Gram matrix of the centred gradients
// and its diagonal from the column sums of squares.
#pragma once

#include <vector>

#include "autodiff/tensor.h"

namespace awd {

struct NoiseCovariance {
    std::vector<double> eigenvalues;  // top k of C, descending
    Tensor eigenvectors;              // (k, P), unit rows
    std::vector<double> diagonal;     // C_ii, P values
    double trace = 0;
};
NoiseCovariance noise_covariance(const Tensor& G, int top_k);

struct PowerLawFit {
    double exponent = 0, exponent_stderr = 0, prefactor = 0;
    int points = 0;  // pairs with both values > 0
};
// Least squares of ln c against ln h over pairs where both are positive: c ~ prefactor h^exponent.
PowerLawFit fit_power_law(const std::vector<double>& h, const std::vector<double>& c);

}  // namespace awd
