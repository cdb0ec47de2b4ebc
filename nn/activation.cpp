// activation.cpp: names of activations and their autodiff form.
#include "nn/activation.h"

#include <stdexcept>

namespace awd {

Activation parse_activation(const std::string& name) {
    for (Activation a : {Activation::Identity, Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Softplus})
        if (name == activation_name(a)) return a;
    throw std::invalid_argument("unknown activation '" + name + "' (expected identity, relu, tanh, sigmoid or softplus)");
}

const char* activation_name(Activation a) {
    switch (a) {
        case Activation::Identity: return "identity";
        case Activation::Relu: return "relu";
        case Activation::Tanh: return "tanh";
        case Activation::Sigmoid: return "sigmoid";
        case Activation::Softplus: return "softplus";
    }
    return "?";
}

Var activate(Activation a, const Var& z) {
    switch (a) {
        case Activation::Identity: return z;
        case Activation::Relu: return relu(z);
        case Activation::Tanh: return tanh(z);
        case Activation::Sigmoid: return sigmoid(z);
        case Activation::Softplus: return softplus(z);
    }
    return z;
}

}  // namespace awd
