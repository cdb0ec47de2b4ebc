// verify.cpp: both sides of the duality in T, and their rounding-error normalisation.
#include "analysis/verify.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "analysis/dual_weights.h"

namespace awd {

namespace {

constexpr double kUnitRoundoff = std::numeric_limits<double>::epsilon() / 2;  // u = 2^-53

template <class T>
struct TwoSides {
    bool defined = false;
    std::vector<T> a, a_prime, da, W, W_tilde, b, b_tilde;  // layer l's weights before and after
    std::vector<T> z_prime, z_tilde, f_prime, f_tilde;
    T loss_prime = 0, loss_tilde = 0;
};

template <class T>
TwoSides<T> both_sides(const Mlp& net, int layer, const std::vector<double>& a, const std::vector<double>& a_prime,
                       int label, DualVariant variant, const std::vector<double>* M) {
    const MlpSpec& s = net.spec;
    const int n_out = s.n_out(layer), n_in = s.n_in(layer), C = s.widths.back();
    TwoSides<T> t;
    t.a.assign(a.begin(), a.end());  // exact in any wider T
    t.a_prime.assign(a_prime.begin(), a_prime.end());
    t.da.resize(n_in);
    for (int j = 0; j < n_in; ++j) t.da[j] = t.a_prime[j] - t.a[j];
    t.W.assign(net.W(layer), net.W(layer) + (size_t)n_out * n_in);
    if (net.b(layer)) t.b.assign(net.b(layer), net.b(layer) + n_out);
    std::vector<T> dW, db;
    if (variant == DualVariant::BiasAbsorbed) {
        bias_absorbed_dual(t.W.data(), n_out, n_in, t.a, t.da, dW, db);
    } else if (variant == DualVariant::Family) {
        if (!M || M->size() != (size_t)n_out * n_in)
            throw std::invalid_argument("dual family: M must be " + std::to_string(n_out) + " x " +
                                        std::to_string(n_in));
        if (!dual_with_M(t.W.data(), n_out, n_in, t.a, t.da, std::vector<T>(M->begin(), M->end()), dW)) return t;
    } else if (!minimal_dual(t.W.data(), n_out, n_in, t.a, t.da, dW)) {
        return t;
    }
    t.defined = true;
    t.W_tilde = t.W;
    for (size_t k = 0; k < dW.size(); ++k) t.W_tilde[k] += dW[k];
    t.b_tilde = t.b;
    if (!db.empty()) {  // the bias-absorbed dual moves the bias too, which needs one to move
        if (t.b_tilde.empty()) t.b_tilde.assign(n_out, T(0));
        for (int i = 0; i < n_out; ++i) t.b_tilde[i] += db[i];
    }
    t.f_prime = forward_from<T>(net, layer, t.a_prime, t.W.data(), t.b.empty() ? nullptr : t.b.data(), &t.z_prime);
    t.f_tilde =
        forward_from<T>(net, layer, t.a, t.W_tilde.data(), t.b_tilde.empty() ? nullptr : t.b_tilde.data(), &t.z_tilde);
    t.loss_prime = sample_loss(s.loss, t.f_prime.data(), C, label);
    t.loss_tilde = sample_loss(s.loss, t.f_tilde.data(), C, label);
    return t;
}

// For each entry of dW (and db), the sum of the magnitudes of the terms it is formed from:
// rounding in forming dW is relative to these, not to |dW|, which can be much smaller when the
// terms cancel (the general solution's M - (M a) a^T / |a|^2 does).
struct DualTermSizes {
    std::vector<double> dW, db;
};

DualTermSizes dual_term_sizes(const TwoSides<double>& t, DualVariant variant, const std::vector<double>* M) {
    const int n_in = (int)t.a.size(), n_out = (int)(t.W.size() / n_in);
    const double norm2 = squared_norm(t.a) + (variant == DualVariant::BiasAbsorbed ? 1.0 : 0.0);
    DualTermSizes sizes;
    sizes.dW.assign(t.W.size(), 0.0);
    if (variant == DualVariant::BiasAbsorbed) sizes.db.assign(n_out, 0.0);
    for (int i = 0; i < n_out; ++i) {
        double s = 0, Ma = 0, Ma_terms = 0;  // |W da|_i and, for the family, (M a)_i with its term sizes
        for (int j = 0; j < n_in; ++j) s += std::fabs(t.W[(size_t)i * n_in + j] * t.da[j]);
        if (variant == DualVariant::Family)
            for (int j = 0; j < n_in; ++j)
                Ma += (*M)[(size_t)i * n_in + j] * t.a[j], Ma_terms += std::fabs((*M)[(size_t)i * n_in + j] * t.a[j]);
        for (int j = 0; j < n_in; ++j) {
            double& d = sizes.dW[(size_t)i * n_in + j];
            d = s * std::fabs(t.a[j]) / norm2;
            if (variant == DualVariant::Family)
                d += std::fabs((*M)[(size_t)i * n_in + j]) + (std::fabs(Ma) + Ma_terms) * std::fabs(t.a[j]) / norm2;
        }
        if (!sizes.db.empty()) sizes.db[i] = s / norm2;
    }
    return sizes;
}

double ratio(double difference, double bound) {
    return bound > 0 ? difference / (kUnitRoundoff * bound) : (difference == 0 ? 0.0 : INFINITY);
}

// First-order rounding bounds of both sides: at z^{l+1}, at the output f, and of the loss.
struct Bounds {
    std::vector<double> z, f;
    double loss = 0;
};

// A z within a few rounding errors (8 u E) of relu's kink may lie across it on the other side.
constexpr double kKinkWindow = 8 * kUnitRoundoff;

Bounds rounding_bounds(const Mlp& net, int layer, const TwoSides<double>& t, int label, DualVariant variant,
                       const std::vector<double>* M) {
    const MlpSpec& s = net.spec;
    const int n_out = s.n_out(layer), n_in = s.n_in(layer);
    const DualTermSizes sizes = dual_term_sizes(t, variant, M);
    Bounds bounds;
    std::vector<double> E(n_out, 0.0);
    for (int i = 0; i < n_out; ++i) {
        for (int j = 0; j < n_in; ++j) {  // W a', W da (inside dW), (W + dW) a with dW's own terms
            const size_t k = (size_t)i * n_in + j;
            E[i] += std::fabs(t.W[k] * t.a_prime[j]) + std::fabs(t.W[k] * t.da[j]) +
                (std::fabs(t.W[k]) + sizes.dW[k]) * std::fabs(t.a[j]);
        }
        if (!t.b.empty()) E[i] += 2 * std::fabs(t.b[i]);
        if (!sizes.db.empty()) E[i] += sizes.db[i];
    }
    bounds.z = E;
    std::vector<double> z = t.z_prime;  // side 1's values stand for both: they agree to rounding
    for (int l = layer + 1; l < s.layers(); ++l) {
        std::vector<double> a(z.size()), Ea(z.size());
        for (size_t j = 0; j < z.size(); ++j) {
            a[j] = activation_value(s.activation, z[j]);
            // relu has a kink at 0: when z is within its rounding bound of it, the other side may
            // sit across the kink, so the slope carried is relu's Lipschitz constant 1, not phi'(z)
            const bool near_kink = s.activation == Activation::Relu && std::fabs(z[j]) <= kKinkWindow * E[j];
            Ea[j] = (near_kink ? 1.0 : std::fabs(activation_derivative(s.activation, 1, z[j]))) * E[j] +
                2 * std::fabs(a[j]);
        }
        std::vector<double> next(s.n_out(l), 0.0), En(s.n_out(l), 0.0);
        for (int i = 0; i < s.n_out(l); ++i) {
            double magnitude = net.b(l) ? std::fabs(net.b(l)[i]) : 0.0;
            next[i] = net.b(l) ? net.b(l)[i] : 0.0;
            for (int j = 0; j < s.n_in(l); ++j) {
                const double w = net.W(l)[(size_t)i * s.n_in(l) + j];
                next[i] += w * a[j];
                magnitude += std::fabs(w * a[j]);
                En[i] += std::fabs(w) * Ea[j];
            }
            En[i] += 2 * magnitude;
        }
        z.swap(next), E.swap(En);
    }
    bounds.f = E;
    const int C = s.widths.back();
    const std::vector<double>& f = t.f_prime;
    if (s.loss == Loss::CrossEntropy) {  // l = m + log sum exp(f - m) - f_y, dl/df = p - onehot
        double m = f[0], sum = 0;
        for (int k = 1; k < C; ++k) m = std::max(m, f[k]);
        for (int k = 0; k < C; ++k) sum += std::exp(f[k] - m);
        for (int k = 0; k < C; ++k) bounds.loss += std::fabs(std::exp(f[k] - m) / sum - (k == label)) * E[k];
        bounds.loss += 2 * (std::fabs(m) + std::fabs(std::log(sum)) + std::fabs(f[label]) + C);
    } else {  // l = (1/C) sum r^2, dl/df = 2 r / C
        double own = 0;
        for (int k = 0; k < C; ++k) {
            const double r = f[k] - (k == label);
            bounds.loss += std::fabs(2 * r / C) * E[k];
            own += r * r / C;
        }
        bounds.loss += 4 * own;
    }
    return bounds;
}

template <class T>
Discrepancy measure(const TwoSides<T>& t, const Bounds& b) {
    Discrepancy d;
    for (size_t i = 0; i < t.z_prime.size(); ++i)
        d.preactivation = std::max(d.preactivation, ratio((double)std::fabs(t.z_prime[i] - t.z_tilde[i]), b.z[i]));
    for (size_t k = 0; k < t.f_prime.size(); ++k)
        d.output = std::max(d.output, ratio((double)std::fabs(t.f_prime[k] - t.f_tilde[k]), b.f[k]));
    d.loss = ratio((double)std::fabs(t.loss_prime - t.loss_tilde), b.loss);
    return d;
}

}  // namespace

PairCheck verify_pair(const Mlp& net, int layer, const std::vector<double>& a, const std::vector<double>& a_prime,
                      int label, DualVariant variant, const std::vector<double>* M) {
    if (layer < 0 || layer >= net.spec.layers())
        throw std::invalid_argument("layer " + std::to_string(layer) + " is out of range: " + net.spec.arch() +
                                    " has layers 0.." + std::to_string(net.spec.layers() - 1));
    if ((int)a.size() != net.spec.n_in(layer) || a_prime.size() != a.size())
        throw std::invalid_argument("verify: activities of size " + std::to_string(a.size()) + " and " +
                                    std::to_string(a_prime.size()) + " for layer " + std::to_string(layer) + " with " +
                                    std::to_string(net.spec.n_in(layer)) + " inputs");
    PairCheck check;
    const TwoSides<double> d = both_sides<double>(net, layer, a, a_prime, label, variant, M);
    if (!d.defined) return check;
    const TwoSides<long double> q = both_sides<long double>(net, layer, a, a_prime, label, variant, M);
    const Bounds bounds = rounding_bounds(net, layer, d, label, variant, M);
    check.defined = true;
    check.in_double = measure(d, bounds);
    check.in_long_double = measure(q, bounds);
    return check;
}

}  // namespace awd
