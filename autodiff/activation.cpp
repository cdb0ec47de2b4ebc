// activation.cpp: the command-line names of the activations.
#include "autodiff/activation.h"
#include "autodiff/names.h"

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

}  // namespace awd
