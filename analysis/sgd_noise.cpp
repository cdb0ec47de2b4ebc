// sgd_noise.cpp: the noise covariance's spectrum from its Gram matrix, and the statistics that
// compare it with the Hessian.
#include "analysis/sgd_noise.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "analysis/spectrum.h"

namespace awd {

NoiseCovariance noise_covariance(const Tensor& G, int top_k) {
    const int N = G.rows, P = G.cols;
    Tensor centred = G;
    std::vector<double> mean(P, 0.0);
    for (int n = 0; n < N; ++n)
        for (int p = 0; p < P; ++p) mean[p] += G(n, p) / N;
    for (int n = 0; n < N; ++n)
        for (int p = 0; p < P; ++p) centred(n, p) -= mean[p];
    NoiseCovariance c;
    c.diagonal.assign(P, 0.0);
    for (int n = 0; n < N; ++n)
        for (int p = 0; p < P; ++p) c.diagonal[p] += centred(n, p) * centred(n, p) / N;
    for (double v : c.diagonal) c.trace += v;
    // C = Gc^T Gc / N and K = Gc Gc^T / N share their nonzero eigenvalues; v = Gc^T u / sqrt(N mu)
    Tensor K;
    gemm(centred, false, centred, true, K, 1.0 / N);
    const EigenPairs e = symmetric_eigen(K, true);
    const int k = std::min(top_k, N);
    c.eigenvalues.assign(e.values.begin(), e.values.begin() + k);
    c.eigenvectors = Tensor(k, P);
    for (int i = 0; i < k; ++i) {
        const double norm = std::sqrt(std::max(N * e.values[i], 1e-300));
        for (int n = 0; n < N; ++n) {
            const double u = e.vectors(i, n) / norm;
            for (int p = 0; p < P; ++p) c.eigenvectors(i, p) += u * centred(n, p);
        }
    }
    return c;
}

PowerLawFit fit_power_law(const std::vector<double>& h, const std::vector<double>& c) {
    std::vector<double> x, y;
    for (size_t i = 0; i < h.size(); ++i)
        if (h[i] > 0 && c[i] > 0) x.push_back(std::log(h[i])), y.push_back(std::log(c[i]));
    PowerLawFit fit;
    fit.points = (int)x.size();
    if (fit.points < 3) return fit;
    const double n = fit.points, mx = std::accumulate(x.begin(), x.end(), 0.0) / n,
                 my = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxx = 0, sxy = 0;
    for (size_t i = 0; i < x.size(); ++i) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
    fit.exponent = sxy / sxx;
    double rss = 0;
    for (size_t i = 0; i < x.size(); ++i) rss += std::pow(y[i] - my - fit.exponent * (x[i] - mx), 2);
    fit.exponent_stderr = std::sqrt(rss / (n - 2) / sxx);
    fit.prefactor = std::exp(my - fit.exponent * mx);
    return fit;
}

}  // namespace awd
