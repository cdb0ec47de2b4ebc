// model.cpp: parameters as views of one flat buffer, and the modules an MLP is made of.
#include "nn/model.h"

#include <stdexcept>

namespace awd {

int ParameterDeclarations::add(const std::string& name, int rows, int cols) {
    if (rows <= 0 || cols <= 0)
        throw std::invalid_argument("parameter '" + name + "': shape (" + std::to_string(rows) + " x " +
                                    std::to_string(cols) + ") is empty");
    for (const ParameterInfo& p : list_)
        if (p.name == name) throw std::invalid_argument("parameter '" + name + "' is declared twice");
    const size_t offset = list_.empty() ? 0 : list_.back().offset + list_.back().size();
    list_.push_back({name, rows, cols, offset});
    return (int)list_.size() - 1;
}

Var ForwardContext::parameter(int id) const {
    const ParameterInfo& p = parameters_.at(id);
    return view(theta_, (int)p.offset, p.rows, p.cols);
}

// ---- Dense -----------------------------------------------------------------------------------

Dense::Dense(int in, int out, bool with_bias) : n_in(in), n_out(out), bias(with_bias) {
    if (in <= 0 || out <= 0) throw std::invalid_argument(describe() + ": widths must be positive");
}

std::string Dense::describe() const {
    return "Dense(" + std::to_string(n_in) + " -> " + std::to_string(n_out) + (bias ? "" : ", no bias") + ")";
}

void Dense::declare(ParameterDeclarations& d, const std::string& prefix) {
    weight_id = d.add(prefix + "weight", n_out, n_in);
    if (bias) bias_id = d.add(prefix + "bias", 1, n_out);
}

Var Dense::forward(const Var& x, const ForwardContext& ctx) const {
    if (x.cols() != n_in)
        throw std::invalid_argument(describe() + ": input " + x.value().shape() + " has " + std::to_string(x.cols()) +
                                    " features, expected " + std::to_string(n_in));
    return linear(x, ctx.parameter(weight_id), bias ? ctx.parameter(bias_id) : Var());
}

// ---- Dropout ---------------------------------------------------------------------------------

Dropout::Dropout(double probability) : p(probability) {
    if (!(p >= 0.0 && p < 1.0))
        throw std::invalid_argument("dropout: probability " + std::to_string(p) + " is not in [0, 1)");
}

Var Dropout::forward(const Var& x, const ForwardContext& ctx) const {
    if (!ctx.training() || p == 0.0) return x;
    Tensor mask = Tensor::uninitialized(x.rows(), x.cols());
    const double keep_scale = 1.0 / (1.0 - p);
    ctx.rng().uniforms(mask.data.data(), mask.size());  // entry k: the k-th uniform() drawn
    for (double& m : mask.data) m = m < p ? 0.0 : keep_scale;
    return x * constant(std::move(mask));
}

// ---- Sequential ------------------------------------------------------------------------------

Sequential& Sequential::add(std::unique_ptr<Module> m) {
    children_.push_back(std::move(m));
    return *this;
}

void Sequential::declare(ParameterDeclarations& d, const std::string& prefix) {
    for (size_t k = 0; k < children_.size(); ++k) children_[k]->declare(d, prefix + std::to_string(k) + ".");
}

std::vector<Var> Sequential::forward_trace(const Var& x, const ForwardContext& ctx) const {
    std::vector<Var> outputs;
    Var h = x;
    for (size_t k = 0; k < children_.size(); ++k) {
        try {
            h = children_[k]->forward(h, ctx);
        } catch (const std::invalid_argument& e) {  // say which child of the model failed
            throw std::invalid_argument("module " + std::to_string(k) + " " + e.what());
        }
        outputs.push_back(h);
    }
    return outputs;
}

Var Sequential::forward(const Var& x, const ForwardContext& ctx) const {
    Var h = x;
    for (size_t k = 0; k < children_.size(); ++k) {
        try {
            h = children_[k]->forward(h, ctx);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument("module " + std::to_string(k) + " " + e.what());
        }
    }
    return h;
}

std::string Sequential::describe() const {
    std::string s = "Sequential(";
    for (size_t k = 0; k < children_.size(); ++k) s += (k ? ", " : "") + children_[k]->describe();
    return s + ")";
}

// ---- Model -----------------------------------------------------------------------------------

Model::Model(std::unique_ptr<Module> root) : root_(std::move(root)) {
    ParameterDeclarations d;
    root_->declare(d, "");
    parameters_ = d.list();
    if (parameters_.empty()) throw std::invalid_argument("model " + root_->describe() + " has no parameters");
    theta_ = variable(Tensor((int)size(), 1));
    gradient_ = Tensor((int)size(), 1);
}

Model::Model(const Model& o) : root_(o.root_), parameters_(o.parameters_), gradient_(o.gradient_) {
    if (o.theta_) theta_ = variable(o.theta());
}

Model& Model::operator=(const Model& o) {
    if (this != &o) *this = Model(o);
    return *this;
}

const ParameterInfo& Model::parameter(const std::string& name) const {
    std::string names;
    for (const ParameterInfo& p : parameters_) {
        if (p.name == name) return p;
        names += (names.empty() ? "" : ", ") + p.name;
    }
    throw std::invalid_argument("model has no parameter '" + name + "' (it has " + names + ")");
}

Var Model::forward_at(const Var& t, const Var& x, Rng* rng) const {
    if (t.rows() != (int)size() || t.cols() != 1)
        throw std::invalid_argument("model " + describe() + ": flat parameters " + t.value().shape() +
                                    " do not hold its " + std::to_string(size()) + " parameters");
    return root_->forward(x, ForwardContext(t, parameters_, rng));
}

Var Model::forward(const Var& x) const { return forward_at(theta_, x); }
Var Model::forward(const Var& x, Rng& rng) const { return forward_at(theta_, x, &rng); }

void Model::backward(const Var& loss) {
    Var g;
    try {
        g = grad(loss, {theta_})[0];
    } catch (const NonFiniteError& e) {
        if (e.input != 0) throw;  // an op named itself
        throw NonFiniteError("the gradient of " + name_of(e.entry) + " is not finite (" + e.what() + ")");
    }
    gradient_ = std::move(g.node()->value);  // the pass made it for us alone: take it, no copy
}

std::string Model::name_of(size_t entry) const {
    for (const ParameterInfo& p : parameters_)
        if (entry >= p.offset && entry < p.offset + p.size())
            return p.name + " (entry " + std::to_string(entry - p.offset) + ")";
    throw std::out_of_range("model " + describe() + ": flat index " + std::to_string(entry) + " is past its " +
                            std::to_string(size()) + " parameters");
}

}  // namespace awd
