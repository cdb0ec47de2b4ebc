// spectrum.h: eigen-decompositions of symmetric matrices, dense and matrix-free.
// Is not: the Hessian itself (hessian.h) or its products (autodiff's hvp).
//
// Dense: LAPACK's symmetric divide-and-conquer driver dsyevd (never a general eigensolver).
// Matrix-free, from Hessian-vector products only, for Hessians too big to store:
//   Lanczos with full reorthogonalisation (top-k eigenpairs), power iteration (the eigenvalue
//   of largest magnitude), Hutchinson's trace estimator, and stochastic Lanczos quadrature
//   (SLQ) for the spectral density.
// Order everywhere: eigenvalues descending (largest first); eigenvector i is row i of
// `vectors` (a unit vector).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "autodiff/tensor.h"

namespace awd {

using LinearOperator = std::function<std::vector<double>(const std::vector<double>&)>;

struct EigenPairs {
    std::vector<double> values;  // descending
    Tensor vectors;              // (k, n): row i belongs to values[i]; empty when not asked for
};

// All eigenpairs of the symmetric matrix A (only its upper triangle is read).
EigenPairs symmetric_eigen(const Tensor& A, bool with_vectors);

struct LanczosResult {
    EigenPairs pairs;               // top k
    std::vector<double> residuals;  // |H v - lambda v| for each returned pair
    int steps = 0;                  // Lanczos steps taken (= HVPs)
};
// The k largest eigenpairs of the n x n symmetric operator. Stops when every one of them has
// residual <= tolerance * max(|lambda_1|, tiny), or after max_steps (at most n) steps.
LanczosResult lanczos_top(const LinearOperator& op, size_t n, int k, int max_steps, double tolerance, uint64_t seed,
                          bool with_vectors = true);

// The eigenvalue of largest magnitude, by power iteration from a random start; stops when the
// Rayleigh quotient changes by less than tolerance (relative) or after max_iterations.
double power_iteration(const LinearOperator& op, size_t n, int max_iterations, double tolerance, uint64_t seed,
                       int* iterations = nullptr);

struct Estimate {
    double value = 0, standard_error = 0;
};
// tr(H) ~ mean of v^T H v over `samples` Rademacher vectors v; with its standard error.
Estimate hutchinson_trace(const LinearOperator& op, size_t n, int samples, uint64_t seed);

// Spectral density by SLQ: `vectors` random starts, `steps` Lanczos steps each. The density of
// the eigenvalue distribution (1/n) sum_i delta(lambda - lambda_i) is approximated by the
// weighted nodes; density_at smooths them with a Gaussian of width sigma.
struct SpectralDensity {
    std::vector<double> nodes, weights;  // weights sum to 1
    double density_at(double lambda, double sigma) const;
};
SpectralDensity stochastic_lanczos_quadrature(const LinearOperator& op, size_t n, int vectors, int steps,
                                              uint64_t seed);

}  // namespace awd
