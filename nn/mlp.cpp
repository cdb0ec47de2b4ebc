// mlp.cpp: the MLP's parameter layout, its modules, initialisation.
#include "nn/mlp.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace awd {

std::vector<int> parse_widths(const std::string& text, char separator, const std::string& what) {
    std::vector<int> widths;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, separator);) {
        size_t used = 0;
        int width = 0;
        try {
            width = std::stoi(part, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != part.size() || part.empty() || width <= 0)
            throw std::invalid_argument(what + " '" + text + "': '" + part + "' is not a positive width");
        widths.push_back(width);
    }
    return widths;
}

MlpSpec MlpSpec::parse(const std::string& arch, Activation activation, bool bias, Loss loss) {
    MlpSpec s{parse_widths(arch, '-', "architecture"), activation, bias, loss};
    if (s.widths.size() < 2)
        throw std::invalid_argument("architecture '" + arch + "': need at least two widths, e.g. 784-30-10");
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

Model make_mlp(const MlpSpec& spec) {
    auto net = std::make_unique<Sequential>();
    for (int l = 0; l < spec.layers(); ++l) {
        net->add<Dense>(spec.n_in(l), spec.n_out(l), spec.bias);
        if (l + 1 == spec.layers()) break;
        net->add<Act>(spec.activation);
        if (spec.dropout > 0 && spec.dropout_layer == l + 1) net->add<Dropout>(spec.dropout);
    }
    if (spec.dropout > 0 && (spec.dropout_layer < 1 || spec.dropout_layer >= spec.layers()))
        throw std::invalid_argument("dropout: layer " + std::to_string(spec.dropout_layer) +
                                    " is not a hidden layer of " + spec.arch() + " (1.." +
                                    std::to_string(spec.layers() - 1) + ")");
    return Model(std::move(net));
}

Model make_discriminator(const DiscriminatorSpec& spec, Rng& rng) {
    const int layers = (int)spec.hidden.size() + 1;
    if (spec.input_dim <= 0)
        throw std::invalid_argument("discriminator: input dimension must be positive, not " +
                                    std::to_string(spec.input_dim));
    for (int h : spec.hidden)
        if (h <= 0) throw std::invalid_argument("discriminator widths must be positive, not " + std::to_string(h));
    if (spec.dropout < 0 || spec.dropout >= 1)
        throw std::invalid_argument("discriminator dropout must be in [0, 1), not " + std::to_string(spec.dropout));
    if (spec.dropout > 0 && (spec.dropout_after < 1 || spec.dropout_after >= layers))
        throw std::invalid_argument("discriminator dropout after layer " + std::to_string(spec.dropout_after) +
                                    ": not a hidden layer (1.." + std::to_string(layers - 1) + ")");
    auto net = std::make_unique<Sequential>();
    int n_in = spec.input_dim;
    for (int l = 0; l + 1 < layers; ++l) {
        net->add<Dense>(n_in, spec.hidden[l], true);
        net->add<Act>(spec.activation);
        if (spec.dropout > 0 && spec.dropout_after == l + 1) net->add<Dropout>(spec.dropout);
        n_in = spec.hidden[l];
    }
    net->add<Dense>(n_in, 1, spec.output_bias);
    Model D(std::move(net));
    initialize(D, Init::PyTorch, 1.0, rng);
    return D;
}

MlpActivities mlp_activities(const Mlp& net, const Tensor& X) {
    const auto& seq = dynamic_cast<const Sequential&>(net.model.root());
    NoGradGuard inference;
    const std::vector<Var> trace =
        seq.forward_trace(constant_view(X), ForwardContext(variable(net.theta()), net.model.parameters(), nullptr));
    MlpActivities out;
    out.z.assign(net.spec.layers() + 1, Tensor());
    out.a.assign(net.spec.layers(), Tensor());
    out.a[0] = X;
    int layer = 0;  // the Dense layers seen so far
    for (size_t k = 0; k < trace.size(); ++k) {
        const Module& m = *seq.children()[k];
        if (dynamic_cast<const Dense*>(&m)) out.z[++layer] = trace[k].value();
        else if (dynamic_cast<const Act*>(&m)) out.a[layer] = trace[k].value();
    }
    return out;
}

// ---- initialisation ------------------------------------------------------------------------

void initialize(Model& model, Init init, double scale, Rng& rng) {
    const auto* seq = dynamic_cast<const Sequential*>(&model.root());
    const std::vector<std::unique_ptr<Module>> none;
    int dense_layers = 0;
    for (const auto& child : seq ? seq->children() : none) {
        const auto* d = dynamic_cast<const Dense*>(child.get());
        if (!d) continue;
        ++dense_layers;
        const double fan_in = d->n_in, fan_out = d->n_out;
        double* W = model.values(model.parameters()[d->weight_id]);
        const size_t count = (size_t)d->n_out * d->n_in;
        if (init == Init::He) {
            for (size_t k = 0; k < count; ++k) W[k] = scale * std::sqrt(2.0 / fan_in) * rng.normal();
        } else {
            const double bound = init == Init::PyTorch ? 1.0 / std::sqrt(fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
            for (size_t k = 0; k < count; ++k) W[k] = scale * rng.uniform(-bound, bound);
        }
        if (!d->bias) continue;
        double* b = model.values(model.parameters()[d->bias_id]);
        for (int o = 0; o < d->n_out; ++o)
            b[o] = init == Init::PyTorch ? scale * rng.uniform(-1.0 / std::sqrt(fan_in), 1.0 / std::sqrt(fan_in)) : 0.0;
    }
    if (dense_layers == 0)
        throw std::invalid_argument("initialize: model " + model.describe() + " has no Dense layers in a Sequential");
}

}  // namespace awd
