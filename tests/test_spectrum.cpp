// test_spectrum.cpp: the dense symmetric eigensolver on matrices with a known spectrum, and the
// matrix-free methods (Lanczos, power iteration, Hutchinson, SLQ) against the dense spectrum
// of a real network Hessian.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "analysis/hessian.h"
#include "analysis/spectrum.h"
#include "autodiff/product.h"

using namespace awd;

namespace {

// Q = product of random Householder reflections: an exactly-constructed orthogonal matrix.
Tensor random_orthogonal(int n, Rng& rng) {
    Tensor Q(n, n);
    for (int i = 0; i < n; ++i) Q(i, i) = 1.0;
    for (int r = 0; r < n; ++r) {
        std::vector<double> u(n);
        double norm = 0;
        for (double& x : u) x = rng.normal(), norm += x * x;
        for (double& x : u) x /= std::sqrt(norm);
        Tensor next = Q;  // Q (I - 2 u u^T)
        for (int i = 0; i < n; ++i) {
            double qu = 0;
            for (int k = 0; k < n; ++k) qu += Q(i, k) * u[k];
            for (int j = 0; j < n; ++j) next(i, j) -= 2 * qu * u[j];
        }
        Q = next;
    }
    return Q;
}

double orthonormality_error(const Tensor& V) {  // max |V V^T - I|
    const Tensor G = matmul(V, V, false, true);
    double worst = 0;
    for (int i = 0; i < G.rows; ++i)
        for (int j = 0; j < G.cols; ++j) worst = std::max(worst, std::fabs(G(i, j) - (i == j)));
    return worst;
}

struct NetHessian {
    Mlp net;
    Tensor X;
    std::vector<int> y;
    std::vector<size_t> idx;
    Tensor H;
};

NetHessian small_net_hessian() {
    NetHessian h{Mlp(MlpSpec::parse("10-12-5", Activation::Tanh, true)), Tensor(60, 10), {}, {}, {}};
    Rng rng(7);
    initialize(h.net.model, Init::PyTorch, 1.5, rng);
    for (double& v : h.X.data) v = rng.normal();
    for (int n = 0; n < 60; ++n) h.y.push_back((int)rng.index(5));
    h.idx = all_indices(h.net.spec);
    h.H = hessian_fast(h.net, h.X, h.y, h.idx);
    return h;
}

LinearOperator dense_operator(const Tensor& H) {
    return [&H](const std::vector<double>& v) {
        std::vector<double> out(v.size(), 0.0);
        for (int r = 0; r < H.rows; ++r)
            for (int c = 0; c < H.cols; ++c) out[r] += H(r, c) * v[c];
        return out;
    };
}

}  // namespace

TEST_CASE("dsyevd recovers a known spectrum, in descending order, with orthonormal eigenvectors") {
    Rng rng(1);
    const int n = 40;
    const Tensor Q = random_orthogonal(n, rng);
    std::vector<double> lambda(n);
    for (int i = 0; i < n; ++i) lambda[i] = std::pow(10.0, -3.0 + 6.0 * i / (n - 1)) * (i % 3 ? 1 : -1);
    Tensor A(n, n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
            for (int k = 0; k < n; ++k) A(i, j) += Q(i, k) * lambda[k] * Q(j, k);
    const EigenPairs e = symmetric_eigen(A, true);
    std::vector<double> sorted = lambda;
    std::sort(sorted.rbegin(), sorted.rend());
    for (int i = 0; i < n; ++i)
        CHECK(std::fabs(e.values[i] - sorted[i]) <= 1e-12 * 1e3);  // absolute, relative to |A| = 1e3
    for (int i = 1; i < n; ++i) CHECK(e.values[i - 1] >= e.values[i]);
    CHECK(orthonormality_error(e.vectors) <= 1e-13);
    for (int i = 0; i < n; ++i) {  // A v_i = lambda_i v_i
        double residual = 0;
        for (int r = 0; r < n; ++r) {
            double av = 0;
            for (int c = 0; c < n; ++c) av += A(r, c) * e.vectors(i, c);
            residual = std::max(residual, std::fabs(av - e.values[i] * e.vectors(i, r)));
        }
        CHECK(residual <= 1e-12 * 1e3);
    }
    CHECK_THROWS_WITH_AS(symmetric_eigen(Tensor(2, 3), false), doctest::Contains("(2 x 3) is not square"),
                         std::invalid_argument);
}

TEST_CASE("an eigen-decomposition is the same bytes on 1 and 2 threads (LAPACK runs on one)") {
    Rng rng(3);
    const int n = 300;  // large enough for dsyevd's blocked path and its inner products
    Tensor A(n, n);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) A(i, j) = A(j, i) = rng.normal();
    set_threads(1);
    const EigenPairs one = symmetric_eigen(A, true);
    set_threads(2);
    const EigenPairs two = symmetric_eigen(A, true);
    set_threads(1);
    CHECK(one.values == two.values);
    CHECK(std::memcmp(one.vectors.data.data(), two.vectors.data.data(), one.vectors.size() * sizeof(double)) == 0);
}

TEST_CASE("Lanczos top-10 from autodiff HVPs matches the dense spectrum to 1e-10") {
    const NetHessian h = small_net_hessian();
    const EigenPairs dense = symmetric_eigen(h.H, true);
    HessianVectorProduct hvp(h.net, h.X, h.y, h.idx);
    const LanczosResult r = lanczos_top(hvp, h.idx.size(), 10, (int)h.idx.size(), 1e-12, 3);
    for (int i = 0; i < 10; ++i) {
        CAPTURE(i);
        CHECK(std::fabs(r.pairs.values[i] - dense.values[i]) <= 1e-10 * std::fabs(dense.values[i]));
        CHECK(r.residuals[i] <= 1e-10 * std::fabs(dense.values[0]));
        double overlap = 0;  // |<v_lanczos, v_dense>| = 1 for a simple eigenvalue
        for (size_t t = 0; t < h.idx.size(); ++t) overlap += r.pairs.vectors(i, (int)t) * dense.vectors(i, (int)t);
        CHECK(std::fabs(std::fabs(overlap) - 1.0) <= 1e-8);
    }
    CHECK(r.steps < (int)h.idx.size());  // converged before exhausting the space
}

TEST_CASE("power iteration finds the eigenvalue of largest magnitude") {
    const NetHessian h = small_net_hessian();
    const EigenPairs dense = symmetric_eigen(h.H, false);
    const double dominant =
        std::fabs(dense.values.front()) >= std::fabs(dense.values.back()) ? dense.values.front() : dense.values.back();
    int iterations = 0;
    const double lambda = power_iteration(dense_operator(h.H), h.idx.size(), 5000, 1e-14, 5, &iterations);
    CHECK(std::fabs(lambda - dominant) <= 1e-9 * std::fabs(dominant));
    CHECK(iterations < 5000);
}

TEST_CASE("Hutchinson's estimate is within its standard error of the trace, and the error is honest") {
    const NetHessian h = small_net_hessian();
    double trace = 0, off_diagonal_sq = 0;
    for (int i = 0; i < h.H.rows; ++i) {
        trace += h.H(i, i);
        for (int j = 0; j < h.H.cols; ++j) off_diagonal_sq += i == j ? 0 : h.H(i, j) * h.H(i, j);
    }
    const int samples = 400;
    const Estimate e = hutchinson_trace(dense_operator(h.H), h.idx.size(), samples, 9);
    const double true_error = std::sqrt(2 * off_diagonal_sq / samples);  // Var(v^T H v) = 2 sum_{i != j} H_ij^2
    CHECK(std::fabs(e.value - trace) <= 5 * true_error);
    CHECK(e.standard_error == doctest::Approx(true_error).epsilon(0.25));
}

TEST_CASE("SLQ: density and moments against the dense spectrum") {
    const NetHessian h = small_net_hessian();
    const EigenPairs dense = symmetric_eigen(h.H, false);
    const size_t n = h.idx.size();
    const int vectors = 30;
    const SpectralDensity d = stochastic_lanczos_quadrature(dense_operator(h.H), n, vectors, 40, 11);
    double weight = 0, mean = 0, second = 0;
    for (size_t i = 0; i < d.nodes.size(); ++i)
        weight += d.weights[i], mean += d.weights[i] * d.nodes[i], second += d.weights[i] * d.nodes[i] * d.nodes[i];
    CHECK(std::fabs(weight - 1.0) <= 1e-12);
    double exact_mean = 0, exact_second = 0, frob_sq = 0, diag_sq = 0, diag2_sq = 0;
    for (double l : dense.values) exact_mean += l / n, exact_second += l * l / n;
    const Tensor H2 = matmul(h.H, h.H);
    for (int i = 0; i < h.H.rows; ++i) {
        diag_sq += h.H(i, i) * h.H(i, i), diag2_sq += H2(i, i) * H2(i, i);
        for (int j = 0; j < h.H.cols; ++j) frob_sq += H2(i, j) * H2(i, j);
    }
    double h_frob_sq = 0;
    for (double x : h.H.data) h_frob_sq += x * x;
    // v = r / sqrt(n), r Rademacher: Var(v^T A v) = 2 (|A|_F^2 - sum A_ii^2) / n^2, averaged over `vectors`
    const double se_mean = std::sqrt(2 * (h_frob_sq - diag_sq) / (n * n) / vectors);
    const double se_second = std::sqrt(2 * (frob_sq - diag2_sq) / (n * n) / vectors);
    CHECK(std::fabs(mean - exact_mean) <= 5 * se_mean);
    CHECK(std::fabs(second - exact_second) <= 5 * se_second);
    // smoothed densities agree in L1 up to the sampling error of 30 vectors
    const double lo = dense.values.back() - 0.1, hi = dense.values.front() + 0.1, sigma = (hi - lo) / 50;
    double l1 = 0, step = (hi - lo) / 2000;
    for (double x = lo; x <= hi; x += step) {
        double exact = 0;
        for (double l : dense.values)
            exact += std::exp(-0.5 * (x - l) * (x - l) / (sigma * sigma)) / (sigma * std::sqrt(2 * M_PI) * n);
        l1 += std::fabs(exact - d.density_at(x, sigma)) * step;
    }
    CHECK(l1 <= 0.15);
}
