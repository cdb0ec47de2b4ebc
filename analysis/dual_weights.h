// dual_weights.h: the activity-weight duality of one dense layer (experiments/aw/README.md), in any
// floating-point type T (double, long double), with plain loops so that both precisions run
// the same operations in the same order.
// Is not: the analysis over many pairs (duality.h) or its verification (verify.h).
//
// For layer l with weights W (n_out, n_in), inputs x, x' with activities a = a^l(x),
// a' = a^l(x') and da = a' - a, any dW with dW a = W da gives (W + dW) a = W a', so
//   f(x'; theta) = f(x; theta + dtheta)   (dtheta = dW in layer l's block, zero elsewhere).
// The solutions are dW = (W da) a^T / |a|^2 + M (I - a a^T / |a|^2); M = 0 is the minimal
// (Frobenius) one. With the bias absorbed (a~ = [a; 1], da~ = [da; 0]) the minimal solution
// changes W and b together: [dW db] = (W da) a~^T / (|a|^2 + 1), defined even when a = 0.
#pragma once

#include <vector>

#include "nn/mlp.h"

namespace awd {

// a^l(x): the input of layer l (a^0 = x), computed in T.
template <class T>
std::vector<T> activity(const Mlp& net, int layer, const double* x) {
    const MlpSpec& s = net.spec;
    std::vector<T> a(x, x + s.widths[0]);
    for (int l = 0; l < layer; ++l) {
        std::vector<T> next(s.n_out(l));
        for (int i = 0; i < s.n_out(l); ++i) {
            T z = net.b(l) ? T(net.b(l)[i]) : T(0);
            for (int j = 0; j < s.n_in(l); ++j) z += T(net.W(l)[(size_t)i * s.n_in(l) + j]) * a[j];
            next[i] = activation_value(s.activation, z);
        }
        a.swap(next);
    }
    return a;
}

// The network from layer l up, applied to the activity a, with layer l's weights W_l (and bias
// b_l, may be null when the net has none) in place of the trained ones. z1 receives z^{l+1}.
template <class T>
std::vector<T> forward_from(const Mlp& net, int layer, const std::vector<T>& a_in, const T* W_l, const T* b_l,
                            std::vector<T>* z1 = nullptr) {
    const MlpSpec& s = net.spec;
    std::vector<T> a = a_in;
    for (int l = layer; l < s.layers(); ++l) {
        std::vector<T> z(s.n_out(l));
        for (int i = 0; i < s.n_out(l); ++i) {
            T sum = l == layer ? (b_l ? b_l[i] : T(0)) : (net.b(l) ? T(net.b(l)[i]) : T(0));
            for (int j = 0; j < s.n_in(l); ++j)
                sum += (l == layer ? W_l[(size_t)i * s.n_in(l) + j] : T(net.W(l)[(size_t)i * s.n_in(l) + j])) * a[j];
            z[i] = sum;
        }
        if (l == layer && z1) *z1 = z;
        if (l + 1 == s.layers()) return z;
        a.resize(z.size());
        for (size_t i = 0; i < z.size(); ++i) a[i] = activation_value(s.activation, z[i]);
    }
    return a;
}

// (W da)_i, the change the dual weights must produce in z^{l+1}.
template <class T>
std::vector<T> weight_times(const T* W, int n_out, int n_in, const std::vector<T>& da) {
    std::vector<T> s(n_out, T(0));
    for (int i = 0; i < n_out; ++i)
        for (int j = 0; j < n_in; ++j) s[i] += W[(size_t)i * n_in + j] * da[j];
    return s;
}

template <class T>
T squared_norm(const std::vector<T>& a) {
    T s = 0;
    for (const T& v : a) s += v * v;
    return s;
}

// dW* = (W da) a^T / |a|^2, row-major (n_out, n_in). False (dW untouched) when a = 0.
template <class T>
bool minimal_dual(const T* W, int n_out, int n_in, const std::vector<T>& a, const std::vector<T>& da,
                  std::vector<T>& dW) {
    const T norm2 = squared_norm(a);
    if (norm2 == T(0)) return false;
    const std::vector<T> s = weight_times(W, n_out, n_in, da);
    dW.assign((size_t)n_out * n_in, T(0));
    for (int i = 0; i < n_out; ++i)
        for (int j = 0; j < n_in; ++j) dW[(size_t)i * n_in + j] = s[i] * a[j] / norm2;
    return true;
}

// The general solution with a given M (n_out, n_in): dW* + M (I - a a^T / |a|^2).
template <class T>
bool dual_with_M(const T* W, int n_out, int n_in, const std::vector<T>& a, const std::vector<T>& da,
                 const std::vector<T>& M, std::vector<T>& dW) {
    if (!minimal_dual(W, n_out, n_in, a, da, dW)) return false;
    const T norm2 = squared_norm(a);
    const std::vector<T> Ma = weight_times(M.data(), n_out, n_in, a);
    for (int i = 0; i < n_out; ++i)
        for (int j = 0; j < n_in; ++j) dW[(size_t)i * n_in + j] += M[(size_t)i * n_in + j] - Ma[i] * a[j] / norm2;
    return true;
}

// Bias absorbed: dW = (W da) a^T / (|a|^2 + 1), db = (W da) / (|a|^2 + 1). Always defined.
template <class T>
void bias_absorbed_dual(const T* W, int n_out, int n_in, const std::vector<T>& a, const std::vector<T>& da,
                        std::vector<T>& dW, std::vector<T>& db) {
    const T norm2 = squared_norm(a) + T(1);
    const std::vector<T> s = weight_times(W, n_out, n_in, da);
    dW.assign((size_t)n_out * n_in, T(0));
    db.assign(n_out, T(0));
    for (int i = 0; i < n_out; ++i) {
        for (int j = 0; j < n_in; ++j) dW[(size_t)i * n_in + j] = s[i] * a[j] / norm2;
        db[i] = s[i] / norm2;
    }
}

}  // namespace awd
