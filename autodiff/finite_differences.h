// finite_differences.h: the independent reference for derivative checks (tests and
// `awd check-hessian`). Central differences of the function value (for gradients) and of the
// analytic gradient (for Hessians), plus seeded random tensors. Nothing here uses the
// second-order code it checks.
// Is not: a derivative used for training; a reference only.
#pragma once

#include <random>

#include "autodiff/autodiff.h"

namespace awd {

inline Tensor random_tensor(int rows, int cols, std::mt19937_64& rng, double lo = -1.0, double hi = 1.0) {
    std::uniform_real_distribution<double> u(lo, hi);
    Tensor t(rows, cols);
    for (double& v : t.data) v = u(rng);
    return t;
}

inline double value_of(const ScalarFunction& f, const Tensor& theta) {
    NoGradGuard no_graph;
    return f(constant(theta)).value().item();
}

// (f(theta + h e_i) - f(theta - h e_i)) / 2h for every i.
inline Tensor central_difference_gradient(const ScalarFunction& f, const Tensor& theta, double h = 1e-5) {
    Tensor g(theta.rows, theta.cols), t = theta;
    for (size_t i = 0; i < theta.size(); ++i) {
        t[i] = theta[i] + h;
        const double up = value_of(f, t);
        t[i] = theta[i] - h;
        const double down = value_of(f, t);
        t[i] = theta[i];
        g[i] = (up - down) / (2 * h);
    }
    return g;
}

// Column j: (grad(theta + h e_j) - grad(theta - h e_j)) / 2h, from the analytic gradient.
inline Tensor central_difference_hessian(const ScalarFunction& f, const Tensor& theta, double h = 1e-5) {
    const int p = (int)theta.size();
    Tensor H(p, p), t = theta;
    for (int j = 0; j < p; ++j) {
        t[j] = theta[j] + h;
        const Tensor up = gradient(f, t);
        t[j] = theta[j] - h;
        const Tensor down = gradient(f, t);
        t[j] = theta[j];
        for (int i = 0; i < p; ++i) H(i, j) = (up[i] - down[i]) / (2 * h);
    }
    return H;
}

// |A - B|_F measured against the larger of |B|_F and `floor`, so that an all-zero reference
// (a linear op has a zero Hessian) is compared in absolute terms.
inline double difference_against(const Tensor& A, const Tensor& B, double floor) {
    Tensor D = A;
    for (size_t k = 0; k < D.size(); ++k) D[k] -= B[k];
    return frobenius_norm(D) / std::max(frobenius_norm(B), floor);
}

}  // namespace awd
