// ops.cpp: every primitive of the autodiff, forward value first, then the derivative table.
//
// Each op is a one-line forward function that computes its value and records a node. The
// table vjp() below holds the whole chain rule, one short line per primitive, written with the
// same differentiable ops: that is what makes second and higher derivatives work.
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "autodiff/autodiff.h"

namespace awd {

namespace {

thread_local bool g_recording = true;

std::string shapes_of(const std::vector<Var>& in) {
    std::string s;
    for (size_t k = 0; k < in.size(); ++k) s += (k ? ", " : "") + in[k].value().shape();
    return s;
}

[[noreturn]] void fail(Op op, const std::vector<Var>& in, const std::string& why) {
    throw std::invalid_argument(std::string(op_name(op)) + "(" + shapes_of(in) + "): " + why);
}

// Records the node when gradients are wanted and at least one input carries them.
Var record(Op op, std::vector<Var> in, Tensor value, int a0 = 0, int a1 = 0, int a2 = 0, int a3 = 0) {
    for (size_t k = 0; k < value.size(); ++k) {
        if (!std::isfinite(value[k])) {
            std::ostringstream why;
            why << "result " << value.shape() << " has non-finite entry " << value[k] << " at ["
                << k / value.cols << "," << k % value.cols << "]";
            fail(op, in, why.str());
        }
    }
    auto n = std::make_shared<Node>();
    n->value = std::move(value);
    n->op = op;
    n->attr[0] = a0, n->attr[1] = a1, n->attr[2] = a2, n->attr[3] = a3;
    if (g_recording) {
        for (const Var& v : in) n->requires_grad = n->requires_grad || v.requires_grad();
        if (n->requires_grad) n->in = std::move(in);
    }
    return Var(n);
}

Var leaf(Tensor t, bool requires_grad, const char* what) {
    if (t.empty()) throw std::invalid_argument(std::string(what) + ": empty tensor " + t.shape());
    require_finite(t, what);
    auto n = std::make_shared<Node>();
    n->value = std::move(t);
    n->requires_grad = requires_grad;
    return Var(n);
}

template <class F>
Tensor map(const Tensor& x, F f) {
    Tensor y(x.rows, x.cols);
    for (size_t k = 0; k < x.size(); ++k) y[k] = f(x[k]);
    return y;
}

// Elementwise binary op with broadcasting of (1, C), (N, 1) and (1, 1) operands.
template <class F>
Tensor zip(Op op, const Var& va, const Var& vb, F f) {
    const Tensor &a = va.value(), &b = vb.value();
    auto dim = [&](int p, int q) {
        if (p != q && p != 1 && q != 1) fail(op, {va, vb}, "shapes do not broadcast");
        return std::max(p, q);
    };
    Tensor y(dim(a.rows, b.rows), dim(a.cols, b.cols));
    if (a.same_shape(b)) {
        for (size_t k = 0; k < y.size(); ++k) y[k] = f(a[k], b[k]);
        return y;
    }
    for (int i = 0; i < y.rows; ++i)
        for (int j = 0; j < y.cols; ++j)
            y(i, j) = f(a(a.rows == 1 ? 0 : i, a.cols == 1 ? 0 : j), b(b.rows == 1 ? 0 : i, b.cols == 1 ? 0 : j));
    return y;
}

double stable_sigmoid(double v) {
    if (v >= 0) return 1.0 / (1.0 + std::exp(-v));
    double e = std::exp(v);
    return e / (1.0 + e);
}

Var scalar_constant(double c) { return constant(Tensor::scalar(c)); }

}  // namespace

const char* op_name(Op op) {
    static const char* names[] = {"leaf", "add", "sub", "mul", "div", "neg", "matmul", "exp", "log",
                                  "tanh", "sigmoid", "relu", "step", "softplus", "square", "sum",
                                  "broadcast_to", "transpose", "reshape", "slice", "pad", "log_softmax"};
    return names[(int)op];
}

const Tensor& Var::value() const {
    if (!node_) throw std::logic_error("Var: use of an empty Var");
    return node_->value;
}
bool Var::requires_grad() const { return node_ && node_->requires_grad; }

Var variable(Tensor t) { return leaf(std::move(t), true, "variable"); }
Var constant(Tensor t) { return leaf(std::move(t), false, "constant"); }

NoGradGuard::NoGradGuard() : previous_(g_recording) { g_recording = false; }
NoGradGuard::~NoGradGuard() { g_recording = previous_; }

// ---- forward: value of each primitive ---------------------------------------------------

Var operator+(const Var& a, const Var& b) { return record(Op::Add, {a, b}, zip(Op::Add, a, b, [](double p, double q) { return p + q; })); }
Var operator-(const Var& a, const Var& b) { return record(Op::Sub, {a, b}, zip(Op::Sub, a, b, [](double p, double q) { return p - q; })); }
Var operator*(const Var& a, const Var& b) { return record(Op::Mul, {a, b}, zip(Op::Mul, a, b, [](double p, double q) { return p * q; })); }
Var operator/(const Var& a, const Var& b) { return record(Op::Div, {a, b}, zip(Op::Div, a, b, [](double p, double q) { return p / q; })); }
Var operator-(const Var& a) { return record(Op::Neg, {a}, map(a.value(), [](double v) { return -v; })); }
Var exp(const Var& x) { return record(Op::Exp, {x}, map(x.value(), [](double v) { return std::exp(v); })); }
Var log(const Var& x) { return record(Op::Log, {x}, map(x.value(), [](double v) { return std::log(v); })); }
Var tanh(const Var& x) { return record(Op::Tanh, {x}, map(x.value(), [](double v) { return std::tanh(v); })); }
Var sigmoid(const Var& x) { return record(Op::Sigmoid, {x}, map(x.value(), stable_sigmoid)); }
Var relu(const Var& x) { return record(Op::Relu, {x}, map(x.value(), [](double v) { return v > 0 ? v : 0.0; })); }
Var step(const Var& x) { return record(Op::Step, {x}, map(x.value(), [](double v) { return v > 0 ? 1.0 : 0.0; })); }
Var softplus(const Var& x) { return record(Op::Softplus, {x}, map(x.value(), [](double v) { return std::max(v, 0.0) + std::log1p(std::exp(-std::fabs(v))); })); }
Var square(const Var& x) { return record(Op::Square, {x}, map(x.value(), [](double v) { return v * v; })); }
Var transpose(const Var& x) { return record(Op::Transpose, {x}, transpose(x.value())); }

Var matmul(const Var& a, const Var& b, bool ta, bool tb) {
    const Tensor &A = a.value(), &B = b.value();
    if ((ta ? A.rows : A.cols) != (tb ? B.cols : B.rows))
        fail(Op::MatMul, {a, b}, std::string("inner dimensions differ") + (ta ? " (first transposed)" : "") + (tb ? " (second transposed)" : ""));
    return record(Op::MatMul, {a, b}, matmul(A, B, ta, tb), ta, tb);
}

Var sum(const Var& x, int axis) {
    const Tensor& X = x.value();
    if (axis < -1 || axis > 1) fail(Op::Sum, {x}, "axis " + std::to_string(axis) + " is not -1, 0 or 1");
    Tensor y(axis == 1 ? X.rows : 1, axis == 0 ? X.cols : 1);
    for (int i = 0; i < X.rows; ++i)
        for (int j = 0; j < X.cols; ++j) y(axis == 1 ? i : 0, axis == 0 ? j : 0) += X(i, j);
    return record(Op::Sum, {x}, std::move(y), axis);
}

Var broadcast_to(const Var& x, int rows, int cols) {
    const Tensor& X = x.value();
    if ((X.rows != rows && X.rows != 1) || (X.cols != cols && X.cols != 1))
        fail(Op::Broadcast, {x}, "cannot broadcast to (" + std::to_string(rows) + " x " + std::to_string(cols) + ")");
    Tensor y(rows, cols);
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) y(i, j) = X(X.rows == 1 ? 0 : i, X.cols == 1 ? 0 : j);
    return record(Op::Broadcast, {x}, std::move(y));
}

Var reshape(const Var& x, int rows, int cols) {
    if (rows < 0 || cols < 0 || (size_t)rows * cols != x.value().size())
        fail(Op::Reshape, {x}, "cannot reshape to (" + std::to_string(rows) + " x " + std::to_string(cols) + ")");
    return record(Op::Reshape, {x}, Tensor(rows, cols, x.value().data));
}

Var slice(const Var& x, int r0, int c0, int rows, int cols) {
    const Tensor& X = x.value();
    if (r0 < 0 || c0 < 0 || rows <= 0 || cols <= 0 || r0 + rows > X.rows || c0 + cols > X.cols)
        fail(Op::Slice, {x}, "block at (" + std::to_string(r0) + "," + std::to_string(c0) + ") of shape (" +
                                 std::to_string(rows) + " x " + std::to_string(cols) + ") is out of range");
    Tensor y(rows, cols);
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) y(i, j) = X(r0 + i, c0 + j);
    return record(Op::Slice, {x}, std::move(y), r0, c0);
}

Var pad(const Var& x, int rows, int cols, int r0, int c0) {
    const Tensor& X = x.value();
    if (r0 < 0 || c0 < 0 || r0 + X.rows > rows || c0 + X.cols > cols)
        fail(Op::Pad, {x}, "does not fit in (" + std::to_string(rows) + " x " + std::to_string(cols) + ") at (" +
                               std::to_string(r0) + "," + std::to_string(c0) + ")");
    Tensor y(rows, cols);
    for (int i = 0; i < X.rows; ++i)
        for (int j = 0; j < X.cols; ++j) y(r0 + i, c0 + j) = X(i, j);
    return record(Op::Pad, {x}, std::move(y), r0, c0);
}

Var log_softmax(const Var& logits) {
    const Tensor& Z = logits.value();
    Tensor y(Z.rows, Z.cols);
    for (int i = 0; i < Z.rows; ++i) {
        double m = Z(i, 0), s = 0.0;
        for (int j = 1; j < Z.cols; ++j) m = std::max(m, Z(i, j));
        for (int j = 0; j < Z.cols; ++j) s += std::exp(Z(i, j) - m);
        const double log_normaliser = m + std::log(s);
        for (int j = 0; j < Z.cols; ++j) y(i, j) = Z(i, j) - log_normaliser;
    }
    return record(Op::LogSoftmax, {logits}, std::move(y));
}

// ---- composites: built from the primitives, so their derivatives come for free -------------

Var operator+(const Var& a, double c) { return a + scalar_constant(c); }
Var operator+(double c, const Var& a) { return scalar_constant(c) + a; }
Var operator-(const Var& a, double c) { return a - scalar_constant(c); }
Var operator-(double c, const Var& a) { return scalar_constant(c) - a; }
Var operator*(const Var& a, double c) { return a * scalar_constant(c); }
Var operator*(double c, const Var& a) { return scalar_constant(c) * a; }
Var operator/(const Var& a, double c) { return a / scalar_constant(c); }
Var operator/(double c, const Var& a) { return scalar_constant(c) / a; }

Var mean(const Var& x, int axis) {
    const double count = axis == -1 ? (double)x.value().size() : axis == 0 ? x.rows() : x.cols();
    return sum(x, axis) / count;
}

Var sum_to(const Var& x, int rows, int cols) {
    Var y = x;
    if (y.rows() != rows) y = sum(y, 0);
    if (y.cols() != cols) y = sum(y, 1);
    if (y.rows() != rows || y.cols() != cols)
        fail(Op::Sum, {x}, "cannot reduce to (" + std::to_string(rows) + " x " + std::to_string(cols) + ")");
    return y;
}

Var cross_entropy(const Var& logits, const std::vector<int>& labels) {
    const Tensor& Z = logits.value();
    if ((int)labels.size() != Z.rows)
        throw std::invalid_argument("cross_entropy: " + std::to_string(labels.size()) + " labels for logits " + Z.shape());
    Tensor one_hot(Z.rows, Z.cols);
    for (int i = 0; i < Z.rows; ++i) {
        if (labels[i] < 0 || labels[i] >= Z.cols)
            throw std::invalid_argument("cross_entropy: label " + std::to_string(labels[i]) + " of row " + std::to_string(i) +
                                        " is outside [0, " + std::to_string(Z.cols) + ") for logits " + Z.shape());
        one_hot(i, labels[i]) = 1.0;
    }
    return -sum(constant(std::move(one_hot)) * log_softmax(logits)) / (double)Z.rows;
}

Var mse(const Var& prediction, const Var& target) {
    if (!prediction.value().same_shape(target.value()))
        throw std::invalid_argument("mse: prediction " + prediction.value().shape() + " and target " +
                                    target.value().shape() + " differ in shape");
    return mean(square(prediction - target));
}

// ---- the derivative table: cotangents of the inputs from g, the cotangent of the output y ----
//
// One line per primitive. Inputs that carry no gradient get an empty Var (no work done).
std::vector<Var> vjp(const Var& y, const Var& g) {
    const Node& n = *y.node();
    const Var& a = n.in[0];
    const Var b = n.in.size() > 1 ? n.in[1] : Var();
    auto need = [&](int k) { return n.in[k].requires_grad(); };
    auto to_a = [&](const Var& v) { return sum_to(v, a.rows(), a.cols()); };
    auto to_b = [&](const Var& v) { return sum_to(v, b.rows(), b.cols()); };
    const bool ta = n.attr[0], tb = n.attr[1];
    switch (n.op) {
        case Op::Add:        return {need(0) ? to_a(g) : Var(), need(1) ? to_b(g) : Var()};
        case Op::Sub:        return {need(0) ? to_a(g) : Var(), need(1) ? to_b(-g) : Var()};
        case Op::Mul:        return {need(0) ? to_a(g * b) : Var(), need(1) ? to_b(g * a) : Var()};
        case Op::Div:        return {need(0) ? to_a(g / b) : Var(), need(1) ? to_b(-(g * y) / b) : Var()};
        case Op::Neg:        return {-g};
        case Op::MatMul:     return {need(0) ? (ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb)) : Var(),
                                     need(1) ? (tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false)) : Var()};
        case Op::Exp:        return {g * y};
        case Op::Log:        return {g / a};
        case Op::Tanh:       return {g * (1.0 - square(y))};
        case Op::Sigmoid:    return {g * (y - square(y))};
        case Op::Relu:       return {g * step(a)};
        case Op::Step:       return {Var()};  // zero almost everywhere, exactly
        case Op::Softplus:   return {g * sigmoid(a)};
        case Op::Square:     return {2.0 * g * a};
        case Op::Sum:        return {broadcast_to(g, a.rows(), a.cols())};
        case Op::Broadcast:  return {to_a(g)};
        case Op::Transpose:  return {transpose(g)};
        case Op::Reshape:    return {reshape(g, a.rows(), a.cols())};
        case Op::Slice:      return {pad(g, a.rows(), a.cols(), n.attr[0], n.attr[1])};
        case Op::Pad:        return {slice(g, n.attr[0], n.attr[1], a.rows(), a.cols())};
        case Op::LogSoftmax: return {g - exp(y) * sum(g, 1)};
        case Op::Leaf:       break;
    }
    throw std::logic_error("vjp: leaf has no inputs");
}

}  // namespace awd
