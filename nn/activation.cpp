// activation.cpp: names of activations and their autodiff form.
#include "nn/activation.h"
#include "nn/names.h"

#include <stdexcept>

namespace awd {

Activation parse_activation(const std::string& name) {
    const Activation all[] = {Activation::Identity, Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Softplus};
    return parse_name(name, all, activation_name, "activation");
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
