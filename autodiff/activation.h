// activation.h: the table of activation functions, each written once: its value and its first,
// second and third derivatives, and whether the second derivative vanishes identically (relu,
// identity), which is what makes a Hessian's residual terms drop out (BackPACK's
// `hessian_is_zero`). The graph ops `activation` and `activation_derivative` (ops.cpp) and
// the layer-structured Hessian (analysis/) both read this table; nothing else defines them.
// Is not: the graph ops that use it (ops.cpp) or a layer (nn/model.h).
//
// Templates, so the A-W duality check runs the same code in double and long double.
// y = phi(z) is recomputed where a derivative needs it (tanh' = 1 - y^2).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "autodiff/names.h"

namespace awd {

enum class Activation { Identity, Relu, Tanh, Sigmoid, Softplus };
inline constexpr Named<Activation> kActivationNames[] = {{Activation::Identity, "identity"},
                                                         {Activation::Relu, "relu"},
                                                         {Activation::Tanh, "tanh"},
                                                         {Activation::Sigmoid, "sigmoid"},
                                                         {Activation::Softplus, "softplus"}};
static_assert(in_enum_order(kActivationNames));
inline Activation parse_activation(const std::string& name) { return parse_name(name, kActivationNames, "activation"); }
inline const char* activation_name(Activation value) { return name_of(kActivationNames, value); }

// phi'' = 0 everywhere (relu: almost everywhere; its kink is a set of measure zero).
constexpr bool hessian_is_zero(Activation a) { return a == Activation::Identity || a == Activation::Relu; }

template <class T>
T logistic(T z) {  // 1 / (1 + e^-z) without overflow for either sign of z
    if (z >= 0) return T(1) / (T(1) + std::exp(-z));
    const T e = std::exp(z);
    return e / (T(1) + e);
}

// always_inline: called per element with `a` known, the switch then folds away (ops.cpp)
template <class T>
[[gnu::always_inline]] inline T activation_value(Activation a, T z) {
    switch (a) {
        case Activation::Identity: return z;
        case Activation::Relu: return z > 0 ? z : T(0);
        case Activation::Tanh: return std::tanh(z);
        case Activation::Sigmoid: return logistic(z);
        case Activation::Softplus: return std::max(z, T(0)) + std::log1p(std::exp(-std::fabs(z)));
    }
    return z;
}

// d^order phi / dz^order at z, order 1, 2 or 3. Relu's derivative at its kink is taken as 0
// (as PyTorch does); its higher derivatives are 0.
template <class T>
[[gnu::always_inline]] inline T activation_derivative(Activation a, int order, T z) {
    switch (a) {
        case Activation::Identity: return order == 1 ? T(1) : T(0);
        case Activation::Relu: return order == 1 && z > 0 ? T(1) : T(0);
        case Activation::Tanh: {
            const T y = std::tanh(z), d1 = T(1) - y * y;
            return order == 1 ? d1 : order == 2 ? T(-2) * y * d1 : T(-2) * d1 * (T(1) - T(3) * y * y);
        }
        case Activation::Sigmoid:
        case Activation::Softplus: {
            // softplus' = sigmoid, so softplus's derivatives are sigmoid's shifted by one order
            const int k = a == Activation::Sigmoid ? order : order - 1;
            const T s = logistic(z), d1 = s * (T(1) - s);
            return k == 0 ? s : k == 1 ? d1 : k == 2 ? d1 * (T(1) - T(2) * s) : d1 * (T(1) - T(6) * s + T(6) * s * s);
        }
    }
    return T(0);
}

}  // namespace awd
