// model.h: a model is a tree of modules over one flat parameter buffer.
//
// Every parameter of a model lives in one vector theta (P, 1), in the order the modules declare
// them: for a Sequential of Dense layers that is PyTorch's parameters_to_vector order
// (0.weight, 0.bias, 2.weight, ...), so a Hessian over theta is indexed exactly as PyTorch's.
// During a forward pass a module asks the context for its parameters and gets views of theta
// (autodiff's `view`: a window, not a copy). theta itself is one autodiff leaf, so
//   - training: loss = f(model.forward(x)); model.backward(loss) fills model.gradient() (P, 1);
//   - second order: model.forward_at(t, x) is the output as a differentiable function of any
//     flat t (P, 1): Hessians, HVPs and Lanczos work on flat theta with no further code.
//
// A new model is a Module subclass: declare() its parameters, forward() from them. Sequential,
// Dense, Act (an activation) and Dropout cover MLPs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/random.h"

namespace awd {

struct ParameterInfo {
    std::string name;  // e.g. "0.weight", as PyTorch's state_dict names it
    int rows = 0, cols = 0;
    size_t offset = 0;  // where it starts in theta
    size_t size() const { return (size_t)rows * cols; }
    std::string shape() const { return "(" + std::to_string(rows) + " x " + std::to_string(cols) + ")"; }
};

// Collects the parameters modules declare, in declaration order, and hands out their ids.
class ParameterDeclarations {
public:
    int add(const std::string& name, int rows, int cols);
    const std::vector<ParameterInfo>& list() const { return list_; }

private:
    std::vector<ParameterInfo> list_;
};

// What a module sees during one forward pass: the flat theta in use and, in training mode, the
// random stream dropout draws its masks from.
class ForwardContext {
public:
    ForwardContext(const Var& theta, const std::vector<ParameterInfo>& parameters, Rng* training_rng)
        : theta_(theta), parameters_(parameters), rng_(training_rng) {}
    Var parameter(int id) const;  // (rows, cols) view of theta
    bool training() const { return rng_ != nullptr; }
    Rng& rng() const { return *rng_; }

private:
    Var theta_;
    const std::vector<ParameterInfo>& parameters_;
    Rng* rng_;
};

class Module {
public:
    virtual ~Module() = default;
    // x is (N, inputs), one sample per row; the result is (N, outputs).
    virtual Var forward(const Var& x, const ForwardContext& ctx) const = 0;
    virtual std::string describe() const = 0;  // e.g. "Dense(784 -> 30)"
    // Declares this module's parameters, named prefix + own name, and keeps their ids.
    virtual void declare(ParameterDeclarations&, const std::string& /*prefix*/) {}
};

// z = x W^T + b with W (n_out, n_in) and b (1, n_out): PyTorch's nn.Linear.
class Dense : public Module {
public:
    Dense(int n_in, int n_out, bool bias = true);
    Var forward(const Var& x, const ForwardContext& ctx) const override;
    std::string describe() const override;
    void declare(ParameterDeclarations& d, const std::string& prefix) override;
    int n_in, n_out;
    bool bias;
    int weight_id = -1, bias_id = -1;
};

// An activation of the table in autodiff/activation.h, elementwise.
class Act : public Module {
public:
    explicit Act(Activation a) : kind(a) {}
    Var forward(const Var& x, const ForwardContext&) const override { return activation(kind, x); }
    std::string describe() const override { return activation_name(kind); }
    Activation kind;
};

// Inverted dropout: in training each entry is kept with probability 1 - p and scaled by
// 1 / (1 - p), else zeroed; the mask is a constant of the graph. The identity in evaluation.
class Dropout : public Module {
public:
    explicit Dropout(double p);
    Var forward(const Var& x, const ForwardContext& ctx) const override;
    std::string describe() const override { return "Dropout(" + std::to_string(p) + ")"; }
    double p;
};

// Children applied in order; child k's parameters are named "k.<name>".
class Sequential : public Module {
public:
    Sequential& add(std::unique_ptr<Module> m);
    template <class M, class... Args>
    Sequential& add(Args&&... args) {
        return add(std::make_unique<M>(std::forward<Args>(args)...));
    }
    Var forward(const Var& x, const ForwardContext& ctx) const override;
    // Every child's output, in order (the last one is forward's result).
    std::vector<Var> forward_trace(const Var& x, const ForwardContext& ctx) const;
    std::string describe() const override;
    void declare(ParameterDeclarations& d, const std::string& prefix) override;
    const std::vector<std::unique_ptr<Module>>& children() const { return children_; }

private:
    std::vector<std::unique_ptr<Module>> children_;
};

class Model {
public:
    Model() = default;
    explicit Model(std::unique_ptr<Module> root);
    Model(const Model& other);  // copies theta; the (immutable) module tree is shared
    Model& operator=(const Model& other);
    Model(Model&&) = default;
    Model& operator=(Model&&) = default;

    const Module& root() const { return *root_; }
    const std::vector<ParameterInfo>& parameters() const { return parameters_; }
    const ParameterInfo& parameter(const std::string& name) const;  // throws listing the names
    size_t size() const { return parameters_.empty() ? 0 : parameters_.back().offset + parameters_.back().size(); }

    Tensor& theta() { return theta_.node()->value; }  // (P, 1), the values the graph reads
    const Tensor& theta() const { return theta_.node()->value; }
    Tensor& gradient() { return gradient_; }  // (P, 1), written by backward()
    const Tensor& gradient() const { return gradient_; }
    double* values(const ParameterInfo& p) { return theta().data.data() + p.offset; }
    const double* values(const ParameterInfo& p) const { return theta().data.data() + p.offset; }

    // Evaluation mode (dropout off). The result is a graph of theta: backward() differentiates it.
    Var forward(const Var& x) const;
    // Training mode: dropout draws its masks from rng.
    Var forward(const Var& x, Rng& rng) const;
    // The output as a differentiable function of a given flat t (P, 1) in place of theta.
    Var forward_at(const Var& t, const Var& x, Rng* rng = nullptr) const;
    // gradient() = d loss / d theta, one backward pass into the flat buffer. A NaN or Inf in it
    // throws NonFiniteError naming the parameter and entry.
    void backward(const Var& loss);
    // "name (entry k)" for flat index `entry`: where a value sits, for messages.
    std::string name_of(size_t entry) const;
    std::string describe() const { return root_ ? root_->describe() : "(empty model)"; }

private:
    std::shared_ptr<Module> root_;
    std::vector<ParameterInfo> parameters_;
    Var theta_;  // the leaf that owns the flat parameter buffer
    Tensor gradient_;
};

}  // namespace awd
