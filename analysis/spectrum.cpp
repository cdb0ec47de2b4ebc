// spectrum.cpp: dsyevd through LAPACKE, and the Lanczos family on a linear operator.
#include "analysis/spectrum.h"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "nn/random.h"

namespace awd {

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0.0;
    for (size_t k = 0; k < a.size(); ++k) s += a[k] * b[k];
    return s;
}

void axpy(double alpha, const std::vector<double>& x, std::vector<double>& y) {
    for (size_t k = 0; k < x.size(); ++k) y[k] += alpha * x[k];
}

std::vector<double> rademacher(size_t n, Rng& rng) {
    std::vector<double> v(n);
    for (double& x : v) x = (rng.bits() & 1) ? 1.0 : -1.0;
    return v;
}

// Eigen-decomposition of the symmetric tridiagonal matrix (alpha on the diagonal, beta off
// it), ascending, with eigenvectors as columns of `vectors` (m x m, row-major).
void tridiagonal_eigen(const std::vector<double>& alpha, const std::vector<double>& beta, std::vector<double>& values,
                       std::vector<double>& vectors) {
    const int m = (int)alpha.size();
    values = alpha;
    std::vector<double> off(beta.begin(), beta.begin() + std::max(m - 1, 0));
    vectors.assign((size_t)m * m, 0.0);
    const int info = LAPACKE_dstev(LAPACK_ROW_MAJOR, 'V', m, values.data(), off.data(), vectors.data(), m);
    if (info != 0) throw std::runtime_error("Lanczos: LAPACK dstev failed (info " + std::to_string(info) + ")");
}

// m steps of Lanczos with full reorthogonalisation from the unit vector q0. Returns the basis;
// alpha and beta receive the tridiagonal matrix. Stops early on an invariant subspace.
std::vector<std::vector<double>> lanczos_basis(const LinearOperator& op, std::vector<double> q0, int m,
                                               std::vector<double>& alpha, std::vector<double>& beta,
                                               const std::function<bool(int)>& done = {}) {
    const size_t n = q0.size();
    std::vector<std::vector<double>> Q{std::move(q0)};
    alpha.clear(), beta.clear();
    for (int j = 0; j < m; ++j) {
        std::vector<double> w = op(Q[j]);
        if (w.size() != n) throw std::invalid_argument("Lanczos: the operator returned a vector of the wrong size");
        alpha.push_back(dot(Q[j], w));
        axpy(-alpha[j], Q[j], w);
        if (j > 0) axpy(-beta[j - 1], Q[j - 1], w);
        for (int pass = 0; pass < 2; ++pass)  // twice is enough (Kahan): keeps Q orthonormal to rounding
            for (int i = 0; i <= j; ++i) axpy(-dot(Q[i], w), Q[i], w);
        beta.push_back(std::sqrt(dot(w, w)));
        const double scale = std::fabs(alpha[j]) + (j > 0 ? beta[j - 1] : 0.0);
        if (j + 1 == (int)n || beta[j] <= 1e-14 * std::max(scale, 1e-300) || (done && done(j + 1))) break;
        for (double& x : w) x /= beta[j];
        Q.push_back(std::move(w));
    }
    Q.resize(alpha.size());
    return Q;
}

}  // namespace

EigenPairs symmetric_eigen(const Tensor& A, bool with_vectors) {
    if (A.rows != A.cols) throw std::invalid_argument("symmetric_eigen: matrix " + A.shape() + " is not square");
    require_finite(A, "symmetric_eigen");
    const int n = A.rows;
    // A is symmetric, so its row-major array is also its column-major array: LAPACK works on it
    // in place, without LAPACKE's two transposed copies. Workspaces come from the tensor pool
    // (sizes as dsyevd documents them), so a repeated call touches no fresh memory.
    Tensor work = A;
    std::vector<double> w(n);
    const size_t nn = (size_t)n * n;
    Tensor workspace = Tensor::uninitialized(1, (int)(with_vectors ? 1 + 6 * (size_t)n + 2 * nn : 2 * (size_t)n + 1));
    std::vector<lapack_int> iwork(with_vectors ? 3 + 5 * (size_t)n : 1);
    const int info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, with_vectors ? 'V' : 'N', 'L', n, work.data.data(), n,
                                         w.data(), workspace.data.data(), (lapack_int)workspace.size(), iwork.data(),
                                         (lapack_int)iwork.size());
    if (info != 0)
        throw std::runtime_error("symmetric_eigen: LAPACK dsyevd failed (info " + std::to_string(info) + ")");
    EigenPairs out;
    out.values.assign(w.rbegin(), w.rend());
    if (with_vectors) {  // ascending, eigenvector j contiguous (column j, column-major); we want descending rows
        out.vectors = Tensor::uninitialized(n, n);
        for (int i = 0; i < n; ++i)
            std::copy_n(&work.data[(size_t)(n - 1 - i) * n], n, &out.vectors.data[(size_t)i * n]);
    }
    return out;
}

LanczosResult lanczos_top(const LinearOperator& op, size_t n, int k, int max_steps, double tolerance, uint64_t seed,
                          bool with_vectors) {
    if (k <= 0 || (size_t)k > n)
        throw std::invalid_argument("Lanczos: asked for " + std::to_string(k) + " eigenpairs of a " +
                                    std::to_string(n) + "-dimensional operator");
    Rng rng(seed);
    std::vector<double> q(n);
    for (double& x : q) x = rng.normal();
    const double norm = std::sqrt(dot(q, q));
    for (double& x : q) x /= norm;
    std::vector<double> alpha, beta, theta, S;
    // converged when the top k Ritz pairs' residuals beta_j |S[j, i]| are small; checked every 5 steps
    auto converged = [&](int m) {
        if (m < k || m % 5) return false;
        tridiagonal_eigen(alpha, beta, theta, S);
        const double scale = std::max(std::fabs(theta[m - 1]), std::fabs(theta[0]));
        for (int i = 0; i < k; ++i)
            if (beta[m - 1] * std::fabs(S[(size_t)(m - 1) * m + (m - 1 - i)]) > tolerance * std::max(scale, 1e-300))
                return false;
        return true;
    };
    const std::vector<std::vector<double>> Q =
        lanczos_basis(op, q, std::min<int>(max_steps, (int)n), alpha, beta, converged);
    const int m = (int)alpha.size();
    if (m < k)
        throw std::runtime_error("Lanczos: the Krylov space has dimension " + std::to_string(m) + " < " +
                                 std::to_string(k) + " (start vector in an invariant subspace)");
    tridiagonal_eigen(alpha, beta, theta, S);
    LanczosResult r;
    r.steps = m;
    if (with_vectors) r.pairs.vectors = Tensor(k, (int)n);
    for (int i = 0; i < k; ++i) {
        const int col = m - 1 - i;  // ascending order: the largest is last
        r.pairs.values.push_back(theta[col]);
        r.residuals.push_back(beta[m - 1] * std::fabs(S[(size_t)(m - 1) * m + col]));
        if (!with_vectors) continue;
        for (int j = 0; j < m; ++j)
            for (size_t t = 0; t < n; ++t) r.pairs.vectors(i, (int)t) += S[(size_t)j * m + col] * Q[j][t];
    }
    return r;
}

double power_iteration(const LinearOperator& op, size_t n, int max_iterations, double tolerance, uint64_t seed,
                       int* iterations) {
    Rng rng(seed);
    std::vector<double> v(n);
    for (double& x : v) x = rng.normal();
    double lambda = 0.0;
    for (int it = 1; it <= max_iterations; ++it) {
        const double norm = std::sqrt(dot(v, v));
        for (double& x : v) x /= norm;
        std::vector<double> w = op(v);
        const double next = dot(v, w);  // Rayleigh quotient
        v.swap(w);
        if (iterations) *iterations = it;
        if (it > 1 && std::fabs(next - lambda) <= tolerance * std::fabs(next)) return next;
        lambda = next;
    }
    return lambda;
}

Estimate hutchinson_trace(const LinearOperator& op, size_t n, int samples, uint64_t seed) {
    if (samples < 2) throw std::invalid_argument("Hutchinson: need at least 2 samples for a standard error");
    Rng rng(seed);
    double sum = 0.0, sum_sq = 0.0;
    for (int s = 0; s < samples; ++s) {
        const std::vector<double> v = rademacher(n, rng);
        const double q = dot(v, op(v));
        sum += q, sum_sq += q * q;
    }
    Estimate e;
    e.value = sum / samples;
    e.standard_error = std::sqrt(std::max(0.0, (sum_sq - samples * e.value * e.value) / (samples - 1)) / samples);
    return e;
}

SpectralDensity stochastic_lanczos_quadrature(const LinearOperator& op, size_t n, int vectors, int steps,
                                              uint64_t seed) {
    Rng rng(seed);
    SpectralDensity d;
    std::vector<double> alpha, beta, theta, S;
    for (int v = 0; v < vectors; ++v) {
        std::vector<double> q = rademacher(n, rng);
        for (double& x : q) x /= std::sqrt((double)n);
        lanczos_basis(op, q, std::min<int>(steps, (int)n), alpha, beta);
        tridiagonal_eigen(alpha, beta, theta, S);
        const int m = (int)alpha.size();
        for (int i = 0; i < m; ++i) {  // Gauss quadrature: nodes theta_i, weights (first component)^2
            d.nodes.push_back(theta[i]);
            d.weights.push_back(S[i] * S[i] / vectors);
        }
    }
    return d;
}

double SpectralDensity::density_at(double lambda, double sigma) const {
    double s = 0.0;
    for (size_t i = 0; i < nodes.size(); ++i) {
        const double u = (lambda - nodes[i]) / sigma;
        s += weights[i] * std::exp(-0.5 * u * u);
    }
    return s / (sigma * std::sqrt(2.0 * M_PI));
}

}  // namespace awd
