// gem_qp.cpp: the non-negative QP by an active-set method, and GEM's projection (gem_qp.h).
#include "experiments/mer/gem_qp.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "autodiff/product.h"

namespace awd {

namespace {

// Solves A z = b for the symmetric positive definite A restricted to the index set F.
std::vector<double> solve_spd(const Tensor& P, const std::vector<int>& F, const std::vector<double>& b) {
    const int m = (int)F.size();
    std::vector<double> L((size_t)m * m, 0.0), z(m);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = P(F[i], F[j]);
            for (int k = 0; k < j; ++k) s -= L[i * m + k] * L[j * m + k];
            if (i == j) {
                if (!(s > 0))
                    throw std::runtime_error(
                        "GEM QP: the Gram matrix of the memory gradients is not positive definite");
                L[i * m + i] = std::sqrt(s);
            } else {
                L[i * m + j] = s / L[j * m + j];
            }
        }
    for (int i = 0; i < m; ++i) {  // L y = b, then L^T z = y
        double s = b[i];
        for (int k = 0; k < i; ++k) s -= L[i * m + k] * z[k];
        z[i] = s / L[i * m + i];
    }
    for (int i = m - 1; i >= 0; --i) {
        double s = z[i];
        for (int k = i + 1; k < m; ++k) s -= L[k * m + i] * z[k];
        z[i] = s / L[i * m + i];
    }
    return z;
}

std::vector<double> qp_gradient(const Tensor& P, const std::vector<double>& c, const std::vector<double>& u) {
    std::vector<double> g(c);
    for (size_t i = 0; i < c.size(); ++i)
        for (size_t j = 0; j < c.size(); ++j) g[i] += P(i, j) * u[j];
    return g;
}

}  // namespace

std::vector<double> solve_nonnegative_qp(const Tensor& P, const std::vector<double>& c) {
    const int n = (int)c.size();
    if (P.rows != n || P.cols != n)
        throw std::invalid_argument("solve_nonnegative_qp: P " + P.shape() + " does not match c");
    double scale = 1e-300;
    for (int i = 0; i < n; ++i) scale = std::max(scale, std::abs(c[i]));
    const double tol = 1e-13 * scale;
    std::vector<double> u(n, 0.0);
    std::vector<char> passive(n, 0);
    for (int outer = 0; outer < 10 * n + 10; ++outer) {
        const std::vector<double> g = qp_gradient(P, c, u);
        int j = -1;
        for (int i = 0; i < n; ++i)
            if (!passive[i] && -g[i] > tol && (j < 0 || -g[i] > -g[j])) j = i;
        if (j < 0) break;  // KKT hold: every active variable has a non-negative gradient
        passive[j] = 1;
        for (int inner = 0; inner < 10 * n + 10; ++inner) {
            std::vector<int> F;
            std::vector<double> rhs;
            for (int i = 0; i < n; ++i)
                if (passive[i]) F.push_back(i), rhs.push_back(-c[i]);
            const std::vector<double> zF = solve_spd(P, F, rhs);
            std::vector<double> z(n, 0.0);
            for (size_t k = 0; k < F.size(); ++k) z[F[k]] = zF[k];
            bool feasible = true;
            for (int i : F) feasible = feasible && z[i] > 0;
            if (feasible) {
                u = z;
                break;
            }
            if (z[j] <= 0 && u[j] == 0 && inner == 0) {  // rounding: the entering variable cannot grow
                passive[j] = 0;
                return u;
            }
            double alpha = 1.0;  // the longest step towards z that keeps u >= 0; its blocking variable leaves
            int blocking = -1;
            for (int i : F)
                if (z[i] <= 0 && u[i] / (u[i] - z[i]) < alpha) alpha = u[i] / (u[i] - z[i]), blocking = i;
            for (int i = 0; i < n; ++i) u[i] += alpha * (z[i] - u[i]);
            for (int i : F)
                if (i == blocking || u[i] <= 0) passive[i] = 0, u[i] = 0.0;
        }
    }
    return u;
}

double nonnegative_qp_kkt_violation(const Tensor& P, const std::vector<double>& c, const std::vector<double>& u) {
    const std::vector<double> g = qp_gradient(P, c, u);
    double u_max = 1e-300, worst = 0;
    for (double v : u) u_max = std::max(u_max, std::abs(v));
    for (size_t i = 0; i < c.size(); ++i) {
        double size = std::abs(c[i]) + 1e-300;
        for (size_t j = 0; j < c.size(); ++j) size += std::abs(P(i, j) * u[j]);
        const double ui = u[i] / u_max, gi = g[i] / size;
        worst = std::max({worst, -ui, -gi, std::min(std::abs(ui), std::abs(gi))});
    }
    return worst;
}

std::vector<double> gem_project(const Tensor& G, const std::vector<double>& g, double margin, double eps) {
    const int n = G.rows, P = G.cols;
    if ((int)g.size() != P) throw std::invalid_argument("gem_project: gradient length does not match G " + G.shape());
    Tensor K(n, n);
    product(false, true, n, n, P, 1.0, G.data.data(), P, G.data.data(), P, 0.0, K.data.data(), n);
    for (int i = 0; i < n; ++i) K(i, i) += eps;
    std::vector<double> c(n);
    for (int i = 0; i < n; ++i) {  // c = G g + K (margin 1): the dual shifted by v = u + margin
        c[i] = cblas_ddot(P, &G.data[(size_t)i * P], 1, g.data(), 1);
        for (int j = 0; j < n; ++j) c[i] += K(i, j) * margin;
    }
    const std::vector<double> u = solve_nonnegative_qp(K, c);
    std::vector<double> out(g);
    for (int i = 0; i < n; ++i) cblas_daxpy(P, u[i] + margin, &G.data[(size_t)i * P], 1, out.data(), 1);
    return out;
}

}  // namespace awd
