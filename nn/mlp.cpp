// mlp.cpp: the MLP's parameter layout and its loss as an autodiff graph.
#include "nn/mlp.h"

#include <sstream>
#include <stdexcept>

namespace awd {

Loss parse_loss(const std::string& name) {
    if (name == "ce" || name == "cross-entropy") return Loss::CrossEntropy;
    if (name == "mse") return Loss::MeanSquaredError;
    throw std::invalid_argument("unknown loss '" + name + "' (expected ce or mse)");
}

const char* loss_name(Loss loss) { return loss == Loss::CrossEntropy ? "ce" : "mse"; }

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

}  // namespace awd
