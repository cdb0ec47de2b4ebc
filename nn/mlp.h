// mlp.h: a multilayer perceptron whose parameters live in one flat vector theta.
//
// Layer l maps a^l (n_l values) to z^{l+1} = W^l a^l + b^l, then a^{l+1} = phi(z^{l+1}); the last
// layer has no activation. theta = [W^0 (n_1 x n_0, row-major, like PyTorch), b^0, W^1, b^1, ...]
// so the Hessian is indexed exactly as torch.nn.utils.parameters_to_vector would index it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/activation.h"
#include "nn/loss.h"
#include "nn/random.h"

namespace awd {

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

    Mlp() = default;
    explicit Mlp(MlpSpec s) : spec(std::move(s)), theta(spec.n_params(), 0.0) {}
    double* W(int l) { return theta.data() + spec.weight_offset(l); }  // (n_out, n_in) row-major
    const double* W(int l) const { return theta.data() + spec.weight_offset(l); }
    double* b(int l) { return spec.bias ? theta.data() + spec.bias_offset(l) : nullptr; }
    const double* b(int l) const { return spec.bias ? theta.data() + spec.bias_offset(l) : nullptr; }
};

// ---- initialisation ------------------------------------------------------------------------
// PyTorch's nn.Linear default: W and b uniform in +-1/sqrt(fan_in). Glorot (Xavier) uniform:
// W uniform in +-sqrt(6/(fan_in+fan_out)), b = 0. He (Kaiming) normal: W ~ N(0, 2/fan_in), b = 0.
// Every parameter is then multiplied by `scale` (the reference setup's init scale s).
enum class Init { PyTorch, Glorot, He };
Init parse_init(const std::string& name);  // "pytorch", "glorot", "he"
const char* init_name(Init init);
void initialize(Mlp& net, Init init, double scale, Rng& rng);

// ---- fast forward and backward over a batch ------------------------------------------------
struct Dropout {
    double p = 0.0;  // probability of dropping a unit
    int layer = 1;   // applied to the activity a^layer (1 = after the first hidden layer)
};

// What the backward pass needs from the forward pass: z[l] and a[l] = phi(z[l]) for
// l = 1..L (a[L] is unused: the output has no activation), the dropped-out copy of the one
// activity dropout acts on and its mask; delta[l] = dloss/dz[l] and da are backward scratch.
struct MlpWorkspace {
    const Tensor* input = nullptr;  // a^0, not copied
    std::vector<Tensor> z, a, delta;
    Tensor dropped, mask, da;
};

// Logits (B, n_L) of the batch X. With dropout (and its rng), training mode.
const Tensor& mlp_forward(const Mlp& net, const Tensor& X, MlpWorkspace& ws, const Dropout* dropout = nullptr, Rng* rng = nullptr);
// Mean loss of the batch; its gradient, in theta's layout, overwrites grad (P values).
double mlp_loss_gradient(const Mlp& net, const Tensor& X, const int* labels, MlpWorkspace& ws, double* grad,
                         const Dropout* dropout = nullptr, Rng* rng = nullptr);

struct Evaluation {
    double loss = 0.0, accuracy = 0.0;
};
// Mean loss and accuracy over a data set (no dropout). When `keep` is given, only samples n
// with keep[n] != 0 count (e.g. the clean ones under label noise).
Evaluation evaluate(const Mlp& net, const Tensor& X, const std::vector<int>& labels, const std::vector<uint8_t>* keep = nullptr);

// The mean training loss as an autodiff graph of theta (P, 1): the plain, general path that
// every fast path is checked against. X is (N, n_0); labels has N entries.
Var mlp_loss_graph(const MlpSpec& spec, const Var& theta, const Tensor& X, const std::vector<int>& labels);
// The network output f(X) (N, n_L) as a graph of theta.
Var mlp_output_graph(const MlpSpec& spec, const Var& theta, const Var& X);

}  // namespace awd
