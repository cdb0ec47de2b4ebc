// mlp.h: the multilayer perceptron, as a Sequential of modules, and its initialisation.
// Is not: the module machinery (model.h) or training (optim/).
//
// Layer l maps a^l (n_l values) to z^{l+1} = W^l a^l + b^l, then a^{l+1} = phi(z^{l+1}); the last
// layer has no activation. make_mlp builds Sequential(Dense, Act, [Dropout], Dense, ..., Dense),
// so theta = [W^0 (n_1 x n_0, row-major, like PyTorch), b^0, W^1, b^1, ...] and the Hessian is
// indexed exactly as torch.nn.utils.parameters_to_vector would index it.
//
// Training, checkpoints and the optimizers know only Model. The A-W analysis is about dense
// layers and reads an MLP's structure from its MlpSpec: Mlp pairs the two.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/names.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "nn/random.h"

namespace awd {

// The positive widths in `text`, separated by `separator`: "784-30-10" with '-' (an architecture),
// "64,64" with ',' (hidden widths). Anything else throws std::invalid_argument naming `what`, the
// text and the bad item. The one width parser: MlpSpec::parse and every width flag use it.
std::vector<int> parse_widths(const std::string& text, char separator, const std::string& what);

struct MlpSpec {
    std::vector<int> widths;  // n_0, n_1, ..., n_L
    Activation activation = Activation::Relu;
    bool bias = true;
    Loss loss = Loss::CrossEntropy;
    double dropout = 0.0;   // inverted dropout on the hidden activity a^dropout_layer (training only)
    int dropout_layer = 1;  // 1 = after the first hidden layer

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

Model make_mlp(const MlpSpec& spec);

struct Mlp {
    MlpSpec spec;
    Model model;

    Mlp() = default;
    explicit Mlp(MlpSpec s) : spec(std::move(s)), model(make_mlp(spec)) {}
    Tensor& theta() { return model.theta(); }
    const Tensor& theta() const { return model.theta(); }
    double* W(int l) { return theta().data.data() + spec.weight_offset(l); }  // (n_out, n_in) row-major
    const double* W(int l) const { return theta().data.data() + spec.weight_offset(l); }
    double* b(int l) { return spec.bias ? theta().data.data() + spec.bias_offset(l) : nullptr; }
    const double* b(int l) const { return spec.bias ? theta().data.data() + spec.bias_offset(l) : nullptr; }
};

// A GAN discriminator (critic): Sequential(Dense, Act, [Dropout], ..., Dense) from input_dim
// through the hidden widths to one output f(x), PyTorch's default initialisation from rng.
// Every hidden layer has a bias; the output layer has one only when output_bias. Dropout with
// probability `dropout` acts on the activity of hidden layer `dropout_after` (1 = the first),
// in training-mode forward passes only. theta is in PyTorch's parameter order.
struct DiscriminatorSpec {
    int input_dim = 1;
    std::vector<int> hidden = {64, 64};
    Activation activation = Activation::Relu;
    double dropout = 0.0;
    int dropout_after = 1;
    bool output_bias = true;
};
Model make_discriminator(const DiscriminatorSpec& spec, Rng& rng);

// The activities of an evaluation-mode forward pass, read off the graph (the outputs of the
// Sequential's children), so they are exactly what training computes: z[l] (N, n_l) for
// l = 1..L (z[L] is the output f) and a[l] = phi(z[l]) for l = 1..L-1; a[0] is X.
struct MlpActivities {
    std::vector<Tensor> z, a;
};
MlpActivities mlp_activities(const Mlp& net, const Tensor& X);

// ---- initialisation ------------------------------------------------------------------------
// PyTorch's nn.Linear default: W and b uniform in +-1/sqrt(fan_in). Glorot (Xavier) uniform:
// W uniform in +-sqrt(6/(fan_in+fan_out)), b = 0. He (Kaiming) normal: W ~ N(0, 2/fan_in), b = 0.
// Every parameter is then multiplied by `scale` (the reference setup's init scale s). Applies to
// every Dense layer of the model, in order (W, then b).
enum class Init { PyTorch, Glorot, He };
inline constexpr Named<Init> kInitNames[] = {{Init::PyTorch, "pytorch"}, {Init::Glorot, "glorot"}, {Init::He, "he"}};
static_assert(in_enum_order(kInitNames));
inline Init parse_init(const std::string& name) { return parse_name(name, kInitNames, "init"); }
inline const char* init_name(Init value) { return name_of(kInitNames, value); }
void initialize(Model& model, Init init, double scale, Rng& rng);

}  // namespace awd
