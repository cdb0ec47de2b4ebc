// mlp.h: a multilayer perceptron whose parameters live in one flat vector theta.
//
// Layer l maps a^l (n_l values) to z^{l+1} = W^l a^l + b^l, then a^{l+1} = phi(z^{l+1}); the last
// layer has no activation. theta = [W^0 (n_1 x n_0, row-major, like PyTorch), b^0, W^1, b^1, ...]
// so the Hessian is indexed exactly as torch.nn.utils.parameters_to_vector would index it.
#pragma once

#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/activation.h"

namespace awd {

enum class Loss { CrossEntropy, MeanSquaredError };  // MSE: mean over samples and outputs, one-hot targets
Loss parse_loss(const std::string& name);             // "ce" or "mse"
const char* loss_name(Loss loss);

struct MlpSpec {
    std::vector<int> widths;  // n_0, n_1, ..., n_L
    Activation activation = Activation::Relu;
    bool bias = true;
    Loss loss = Loss::CrossEntropy;

    static MlpSpec parse(const std::string& arch, Activation activation, bool bias, Loss loss = Loss::CrossEntropy);
    std::string arch() const;  // "784-30-30-10"
    int layers() const { return (int)widths.size() - 1; }
    int n_in(int l) const { return widths[l]; }
    int n_out(int l) const { return widths[l + 1]; }
    size_t weight_offset(int l) const;  // where W^l starts in theta
    size_t bias_offset(int l) const;    // where b^l starts (only when bias)
    size_t layer_size(int l) const { return (size_t)n_out(l) * n_in(l) + (bias ? n_out(l) : 0); }
    size_t n_params() const;
};

struct Mlp {
    MlpSpec spec;
    std::vector<double> theta;  // all parameters, layout above

    explicit Mlp(MlpSpec s) : spec(std::move(s)), theta(spec.n_params(), 0.0) {}
    double* W(int l) { return theta.data() + spec.weight_offset(l); }  // (n_out, n_in) row-major
    const double* W(int l) const { return theta.data() + spec.weight_offset(l); }
    double* b(int l) { return spec.bias ? theta.data() + spec.bias_offset(l) : nullptr; }
    const double* b(int l) const { return spec.bias ? theta.data() + spec.bias_offset(l) : nullptr; }
};

// The mean training loss as an autodiff graph of theta (P, 1): the plain, general path that
// every fast path is checked against. X is (N, n_0); labels has N entries.
Var mlp_loss_graph(const MlpSpec& spec, const Var& theta, const Tensor& X, const std::vector<int>& labels);
// The network output f(X) (N, n_L) as a graph of theta.
Var mlp_output_graph(const MlpSpec& spec, const Var& theta, const Var& X);

}  // namespace awd
