// activation.h: the activations an MLP may use, with the per-layer facts second-order code
// needs (as in BackPACK): value, first derivative d1, second derivative d2, and whether d2 is
// identically zero (relu, identity), which makes the Hessian's residual terms vanish.
//
// The scalar functions are templates so the same code runs in double and long double (the
// duality check compares the two precisions).
#pragma once

#include <cmath>
#include <string>

#include "autodiff/autodiff.h"

namespace awd {

enum class Activation { Identity, Relu, Tanh, Sigmoid, Softplus };

Activation parse_activation(const std::string& name);  // "relu", "tanh", ...; throws otherwise
const char* activation_name(Activation a);
inline bool d2_is_zero(Activation a) { return a == Activation::Identity || a == Activation::Relu; }

template <class T>
T sigmoid_of(T z) {
    if (z >= 0) return T(1) / (T(1) + std::exp(-z));
    const T e = std::exp(z);
    return e / (T(1) + e);
}

template <class T>
T activate(Activation a, T z) {
    switch (a) {
        case Activation::Identity: return z;
        case Activation::Relu: return z > 0 ? z : T(0);
        case Activation::Tanh: return std::tanh(z);
        case Activation::Sigmoid: return sigmoid_of(z);
        case Activation::Softplus: return std::max(z, T(0)) + std::log1p(std::exp(-std::fabs(z)));
    }
    return z;
}

// phi'(z) and phi''(z); `y` is phi(z), passed because tanh and sigmoid are cheaper from it.
template <class T>
T d1(Activation a, T z, T y) {
    switch (a) {
        case Activation::Identity: return T(1);
        case Activation::Relu: return z > 0 ? T(1) : T(0);
        case Activation::Tanh: return T(1) - y * y;
        case Activation::Sigmoid: return y * (T(1) - y);
        case Activation::Softplus: return sigmoid_of(z);
    }
    return T(1);
}

template <class T>
T d2(Activation a, T z, T y) {
    switch (a) {
        case Activation::Identity:
        case Activation::Relu: return T(0);
        case Activation::Tanh: return T(-2) * y * (T(1) - y * y);
        case Activation::Sigmoid: return y * (T(1) - y) * (T(1) - T(2) * y);
        case Activation::Softplus: {
            const T s = sigmoid_of(z);
            return s * (T(1) - s);
        }
    }
    return T(0);
}

// The same activation as a differentiable autodiff op.
Var activate(Activation a, const Var& z);

}  // namespace awd
