// autodiff.h: reverse-mode automatic differentiation on 2-D tensors, to any order.
// Is not: the tensor type (tensor.h), the matrix products (product.h) or any model (nn/).
//
// A Var is a node of a computation graph: its value, the op that made it and the Vars it was
// made from. grad() walks the graph backwards and applies each op's vector-Jacobian product
// (the table in ops.cpp). Those products are written with the same differentiable ops, so
// with create_graph = true the gradients are themselves graph nodes and can be differentiated
// again: Hessians and third derivatives come from reverse-over-reverse, exactly.
//
// Conventions:
// - Elementwise binary ops broadcast a (1, C) row, an (N, 1) column or a (1, 1) scalar.
//   A double on either side of + - * / is a (1, 1) constant.
// - grad(y, xs) of a non-scalar y needs a seed (the cotangent, same shape as y).
// - grad with respect to a Var that y does not depend on is a zero tensor of its shape.
// - Every op checks shapes and refuses to produce a non-finite value: it throws
//   std::invalid_argument naming the op, the input shapes and the offending entry.
// - Where a function has a kink, the derivative chosen there is stated beside the op.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "autodiff/activation.h"
#include "autodiff/tensor.h"

namespace awd {

enum class Op {
    Leaf,
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    MatMul,
    Linear,
    Exp,
    Log,
    Sqrt,
    Abs,
    Sign,
    Pow,
    Sin,
    Cos,
    Activation,
    ActivationDerivative,
    Maximum,
    Minimum,
    Square,
    Sum,
    Broadcast,
    Transpose,
    Reshape,
    Slice,
    Pad,
    Concat,
    GatherRows,
    ScatterRows,
    View,
    Embed,
    LogSoftmax,
    Softmax,
    CrossEntropy,
};
const char* op_name(Op op);

// What an op throws when its result would hold a NaN or an infinity (a divergence, not a bug of
// the caller's shapes): training catches this one and stops, keeping the last good parameters.
// When grad() finds one in a gradient it returns, `input` and `entry` say where.
struct NonFiniteError : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
    NonFiniteError(const std::string& what, int input_index, size_t entry_index)
        : std::invalid_argument(what), input(input_index), entry(entry_index) {}
    int input = -1;  // which of grad()'s inputs, or -1 when an op refused its own result
    size_t entry = 0;
};

struct Node;

class Var {
public:
    Var() = default;
    explicit Var(std::shared_ptr<Node> node) : node_(std::move(node)) {}

    const Tensor& value() const;
    int rows() const { return value().rows; }
    int cols() const { return value().cols; }
    bool requires_grad() const;
    explicit operator bool() const { return node_ != nullptr; }
    Node* node() const { return node_.get(); }
    const std::shared_ptr<Node>& shared() const { return node_; }

private:
    std::shared_ptr<Node> node_;
};

// The inputs an op was applied to: at most three, held in place (no allocation per node).
class Inputs {
public:
    // One copy of each input (an initializer_list would copy each twice, its atomic count too).
    Inputs() = default;
    Inputs(const Var& a) : vars_{a}, count_(1) {}
    Inputs(const Var& a, const Var& b) : vars_{a, b}, count_(2) {}
    Inputs(const Var& a, const Var& b, const Var& c) : vars_{a, b, c}, count_(3) {}
    size_t size() const { return count_; }
    const Var& operator[](size_t k) const { return vars_[k]; }
    const Var* begin() const { return vars_.data(); }
    const Var* end() const { return vars_.data() + count_; }

private:
    std::array<Var, 3> vars_;
    size_t count_ = 0;
};

struct Node {
    Tensor value;
    Op op = Op::Leaf;
    Inputs in;  // the inputs the op was applied to
    bool requires_grad = false;
    int attr[4] = {0, 0, 0, 0};  // Sum: axis; MatMul: transpose flags; Slice/Pad: offsets; View: offset, ...
    double constant = 0.0;       // Pow: the exponent
    std::vector<int> index;      // GatherRows/ScatterRows: row numbers; CrossEntropy: labels
    // Bookkeeping of the backward pass in progress (grad.cpp), empty between passes.
    unsigned visit = 0;
    int slot = -1;
    bool leads_to_input = false;  // an input of grad() is this node or among its ancestors
};

// A new, empty graph node. Nodes come from a per-thread list of freed node blocks: a small step
// builds and drops dozens of nodes, and malloc and free per node would be a large part of it.
std::shared_ptr<Node> new_node();

Var variable(Tensor t);  // a leaf to differentiate with respect to
Var constant(Tensor t);  // a leaf that carries no gradient (data, labels, seeds)
// Leaves that read the caller's tensor in place (a data set fed to a model, inputs to
// differentiate with respect to): no copy; the caller keeps it alive and unchanged while the
// graph is in use.
Var constant_view(const Tensor& t);
Var variable_view(const Tensor& t);

// Elementwise, with broadcasting.
Var operator+(const Var& a, const Var& b);
Var operator-(const Var& a, const Var& b);
Var operator*(const Var& a, const Var& b);
Var operator/(const Var& a, const Var& b);
Var operator-(const Var& a);
Var operator+(const Var& a, double c);
Var operator+(double c, const Var& a);
Var operator-(const Var& a, double c);
Var operator-(double c, const Var& a);
Var operator*(const Var& a, double c);
Var operator*(double c, const Var& a);
Var operator/(const Var& a, double c);
Var operator/(double c, const Var& a);

Var exp(const Var& x);
Var log(const Var& x);
Var sqrt(const Var& x);                  // the derivative at 0 is infinite: grad refuses it (non-finite)
Var abs(const Var& x);                   // derivative sign(x), taken as 0 at x = 0 (as PyTorch)
Var sign(const Var& x);                  // -1, 0, +1; its derivative is exactly zero
Var pow(const Var& x, double exponent);  // x^c elementwise; x must be > 0 unless c is a whole number
Var sin(const Var& x);
Var cos(const Var& x);
Var square(const Var& x);
// Elementwise max/min with broadcasting; at a tie the whole derivative goes to the first argument.
Var maximum(const Var& a, const Var& b);
Var minimum(const Var& a, const Var& b);

// The activation table (activation.h) as ops: phi(z), and phi^(order)(z) for order 1..3.
Var activation(Activation a, const Var& z);
Var activation_derivative(Activation a, int order, const Var& z);
Var tanh(const Var& x);
Var sigmoid(const Var& x);
Var relu(const Var& x);  // derivative 0 at x = 0
Var step(const Var& x);  // 1 where x > 0, else 0 (= relu'); its derivative is exactly zero
Var softplus(const Var& x);

// C = op(A) op(B), op = transpose when the flag is set.
Var matmul(const Var& a, const Var& b, bool transpose_a = false, bool transpose_b = false);
// A dense layer in one op: x (N, n_in), W (n_out, n_in), b (1, n_out) or empty -> x W^T + b (N, n_out).
Var linear(const Var& x, const Var& W, const Var& b = Var());

// Reductions: axis -1 = all (-> (1, 1)), 0 = down the rows (-> (1, C)), 1 = along a row (-> (N, 1)).
Var sum(const Var& x, int axis = -1);
Var mean(const Var& x, int axis = -1);
Var broadcast_to(const Var& x, int rows, int cols);
Var sum_to(const Var& x, int rows, int cols);  // the adjoint of broadcast_to

Var transpose(const Var& x);
Var reshape(const Var& x, int rows, int cols);
Var slice(const Var& x, int row0, int col0, int rows, int cols);
Var pad(const Var& x, int rows, int cols, int row0, int col0);  // embed x in zeros (rows, cols)
Var concat(const Var& a, const Var& b, int axis);               // axis 0: stack rows; 1: side by side
Var gather_rows(const Var& x, const std::vector<int>& rows);    // (rows.size(), C); rows may repeat
// A (rows, cols) window of a flat (P, 1) tensor starting at `offset`, sharing its values (no copy).
// This is how a model's parameters are read out of its one flat buffer.
Var view(const Var& flat, int offset, int rows, int cols);

Var log_softmax(const Var& logits);  // row-wise, numerically stable
Var softmax(const Var& logits);      // row-wise
// mean over rows of -log softmax(logits)[label]; logits is (N, C), labels has N entries in [0, C).
// One fused op (log-sum-exp, then its gradient (softmax - one-hot) / N), differentiable again.
Var cross_entropy(const Var& logits, const std::vector<int>& labels);
Var mse(const Var& prediction, const Var& target);  // mean over all entries of (p - t)^2

// log sum_c exp f_c of one row, shifted by the maximum so it never overflows. The one
// definition of log-sum-exp: the cross-entropy op and the per-sample losses (nn/loss.h) use it.
template <class T>
T log_sum_exp(const T* f, int n) {
    T m = f[0], s = 0;
    for (int c = 1; c < n; ++c) m = std::max(m, f[c]);
    for (int c = 0; c < n; ++c) s += std::exp(f[c] - m);
    return m + std::log(s);
}

// Gradients of `output` with respect to each of `inputs`. With create_graph the results are
// differentiable Vars; otherwise they are constants (the backward pass records nothing).
// Results hold no NaN or Inf: NonFiniteError names the backward op that made one, or the
// input and entry where a sum overflowed.
std::vector<Var> grad(const Var& output, const std::vector<Var>& inputs, bool create_graph = false,
                      const Var& seed = Var());

// While alive, ops record no graph: results are constants. Used by grad without create_graph
// and by inference (evaluation), which then keeps no intermediate values alive.
bool is_recording();

class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

// Second order on top of grad. f maps theta to a scalar Var; the Hessian is indexed by the
// row-major flat position in theta.
using ScalarFunction = std::function<Var(const Var&)>;
Tensor gradient(const ScalarFunction& f, const Tensor& theta);
Tensor hvp(const ScalarFunction& f, const Tensor& theta, const Tensor& v);         // H v, shape of theta
Tensor hessian(const ScalarFunction& f, const Tensor& theta);                      // (P, P)
Tensor hessian(const ScalarFunction& f, const Tensor& theta, int begin, int end);  // block [begin, end)^2

}  // namespace awd
