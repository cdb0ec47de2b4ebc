// mlp.cpp: the MLP's parameter layout and its loss as an autodiff graph.
#include "nn/mlp.h"
#include "nn/names.h"

#include "nn/layers.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace awd {

MlpSpec MlpSpec::parse(const std::string& arch, Activation activation, bool bias, Loss loss) {
    MlpSpec s{{}, activation, bias, loss};
    std::stringstream in(arch);
    for (std::string part; std::getline(in, part, '-');) {
        size_t used = 0;
        int width = 0;
        try {
            width = std::stoi(part, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != part.size() || part.empty() || width <= 0)
            throw std::invalid_argument("architecture '" + arch + "': '" + part + "' is not a positive width");
        s.widths.push_back(width);
    }
    if (s.widths.size() < 2) throw std::invalid_argument("architecture '" + arch + "': need at least two widths, e.g. 784-30-10");
    if (loss == Loss::CrossEntropy && s.widths.back() < 2)
        throw std::invalid_argument("architecture '" + arch + "': cross-entropy needs at least 2 outputs");
    return s;
}

std::string MlpSpec::arch() const {
    std::string s;
    for (size_t k = 0; k < widths.size(); ++k) s += (k ? "-" : "") + std::to_string(widths[k]);
    return s;
}

size_t MlpSpec::weight_offset(int l) const {
    size_t offset = 0;
    for (int k = 0; k < l; ++k) offset += layer_size(k);
    return offset;
}

size_t MlpSpec::bias_offset(int l) const { return weight_offset(l) + (size_t)n_out(l) * n_in(l); }

size_t MlpSpec::n_params() const { return weight_offset(layers()); }

Var mlp_output_graph(const MlpSpec& spec, const Var& theta, const Var& X) {
    if (X.cols() != spec.widths[0])
        throw std::invalid_argument("mlp: input " + X.value().shape() + " does not match architecture " + spec.arch());
    if (theta.value().size() != spec.n_params())
        throw std::invalid_argument("mlp: theta " + theta.value().shape() + " does not hold the " +
                                    std::to_string(spec.n_params()) + " parameters of " + spec.arch());
    Var a = X;  // a is (N, n_l)
    for (int l = 0; l < spec.layers(); ++l) {
        Var W = reshape(slice(theta, (int)spec.weight_offset(l), 0, spec.n_out(l) * spec.n_in(l), 1), spec.n_out(l), spec.n_in(l));
        Var z = matmul(a, W, false, true);  // z is (N, n_out) = a W^T
        if (spec.bias) z = z + reshape(slice(theta, (int)spec.bias_offset(l), 0, spec.n_out(l), 1), 1, spec.n_out(l));
        a = l + 1 < spec.layers() ? activate(spec.activation, z) : z;
    }
    return a;
}

Var mlp_loss_graph(const MlpSpec& spec, const Var& theta, const Tensor& X, const std::vector<int>& labels) {
    Var f = mlp_output_graph(spec, theta, constant(X));
    if (spec.loss == Loss::CrossEntropy) return cross_entropy(f, labels);
    Tensor one_hot(f.rows(), f.cols());
    if ((int)labels.size() != f.rows())
        throw std::invalid_argument("mlp: " + std::to_string(labels.size()) + " labels for " + std::to_string(f.rows()) + " samples");
    for (int n = 0; n < f.rows(); ++n) {
        if (labels[n] < 0 || labels[n] >= f.cols())
            throw std::invalid_argument("mlp: label " + std::to_string(labels[n]) + " of sample " + std::to_string(n) +
                                        " is outside [0, " + std::to_string(f.cols()) + ")");
        one_hot(n, labels[n]) = 1.0;
    }
    return mse(f, constant(one_hot));
}

// ---- initialisation ------------------------------------------------------------------------

Init parse_init(const std::string& name) {
    const Init all[] = {Init::PyTorch, Init::Glorot, Init::He};
    return parse_name(name, all, init_name, "init");
}

const char* init_name(Init init) { return init == Init::PyTorch ? "pytorch" : init == Init::Glorot ? "glorot" : "he"; }

void initialize(Mlp& net, Init init, double scale, Rng& rng) {
    const MlpSpec& s = net.spec;
    for (int l = 0; l < s.layers(); ++l) {
        const double fan_in = s.n_in(l), fan_out = s.n_out(l);
        double* W = net.W(l);
        double* b = net.b(l);
        const size_t count = (size_t)s.n_out(l) * s.n_in(l);
        if (init == Init::He) {
            for (size_t k = 0; k < count; ++k) W[k] = scale * std::sqrt(2.0 / fan_in) * rng.normal();
        } else {
            const double bound = init == Init::PyTorch ? 1.0 / std::sqrt(fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
            for (size_t k = 0; k < count; ++k) W[k] = scale * rng.uniform(-bound, bound);
        }
        if (b)
            for (int o = 0; o < s.n_out(l); ++o)
                b[o] = init == Init::PyTorch ? scale * rng.uniform(-1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in)) : 0.0;
    }
}

// ---- fast forward and backward ---------------------------------------------------------------

namespace {

bool drops_after(const Dropout* dropout, int l) { return dropout && dropout->p > 0 && dropout->layer == l; }

// The input of layer l: x for l = 0, else a^l, or its dropped-out copy when dropout acts there.
const Tensor& layer_input(const MlpWorkspace& ws, const Dropout* dropout, int l) {
    return l == 0 ? *ws.input : drops_after(dropout, l) ? ws.dropped : ws.a[l];
}

}  // namespace

const Tensor& mlp_forward(const Mlp& net, const Tensor& X, MlpWorkspace& ws, const Dropout* dropout, Rng* rng) {
    const MlpSpec& s = net.spec;
    const int L = s.layers();
    if (X.cols != s.widths[0])
        throw std::invalid_argument("mlp_forward: input " + X.shape() + " does not match architecture " + s.arch());
    if (dropout && (dropout->layer < 1 || dropout->layer >= L))
        throw std::invalid_argument("dropout: layer " + std::to_string(dropout->layer) + " is not a hidden layer of " + s.arch() +
                                    " (1.." + std::to_string(L - 1) + ")");
    ws.input = &X;
    ws.z.resize(L + 1), ws.a.resize(L + 1), ws.delta.resize(L + 1);
    for (int l = 0; l < L; ++l) {
        dense_forward(layer_input(ws, dropout, l), net.W(l), net.b(l), s.n_out(l), ws.z[l + 1]);  // z[l+1] is (B, n_{l+1})
        if (l + 1 == L) break;
        activation_forward(s.activation, ws.z[l + 1], ws.a[l + 1]);
        if (drops_after(dropout, l + 1)) {
            ws.dropped = ws.a[l + 1];
            dropout_forward(ws.dropped, dropout->p, *rng, ws.mask);
        }
    }
    return ws.z[L];
}

double mlp_loss_gradient(const Mlp& net, const Tensor& X, const int* labels, MlpWorkspace& ws, double* grad,
                         const Dropout* dropout, Rng* rng) {
    const MlpSpec& s = net.spec;
    const int L = s.layers();
    const Tensor& logits = mlp_forward(net, X, ws, dropout, rng);  // sizes ws before delta[L] is taken
    const double loss = loss_forward_backward(s.loss, logits, labels, &ws.delta[L]);
    for (int l = L - 1; l >= 0; --l) {  // ws.delta[l+1] = dloss/dz^{l+1}, (B, n_{l+1})
        double* db = s.bias ? grad + s.bias_offset(l) : nullptr;
        dense_backward(layer_input(ws, dropout, l), net.W(l), ws.delta[l + 1], grad + s.weight_offset(l), db,
                       l > 0 ? &ws.da : nullptr);
        if (l == 0) break;
        if (drops_after(dropout, l)) dropout_backward(ws.mask, ws.da);
        activation_backward(s.activation, ws.z[l], ws.a[l], ws.da, ws.delta[l]);
    }
    return loss;
}

Evaluation evaluate(const Mlp& net, const Tensor& X, const std::vector<int>& labels, const std::vector<uint8_t>* keep) {
    MlpWorkspace ws;
    const Tensor& f = mlp_forward(net, X, ws);  // one pass: activations are (N, width), small
    const int classes = net.spec.widths.back();
    Evaluation e;
    size_t counted = 0;
    for (int n = 0; n < X.rows; ++n) {
        if (keep && !(*keep)[n]) continue;
        const double* out = &f.data[(size_t)n * classes];
        e.loss += sample_loss(net.spec.loss, out, classes, labels[n]);
        e.accuracy += (std::max_element(out, out + classes) - out) == labels[n];
        ++counted;
    }
    if (counted) e.loss /= counted, e.accuracy /= counted;
    return e;
}

}  // namespace awd
