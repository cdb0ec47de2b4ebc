// ops.cpp: every primitive of the autodiff, forward value first, then the derivative table.
//
// Each op is a short forward function that computes its value and records a node. The table
// vjp() at the end holds the whole chain rule, one short line per primitive, written with the
// same differentiable ops: that is what makes second and higher derivatives work.
#include <array>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "autodiff/autodiff.h"

namespace awd {

// Off while grad() runs a backward pass without a graph: a NaN or Inf there reaches the
// gradient it returns (IEEE arithmetic propagates it), which grad() scans once at the end.
thread_local bool g_scan_op_results = true;

namespace {

thread_local bool g_recording = true;

std::string shapes_of(const Inputs& in) {
    std::string s;
    for (size_t k = 0; k < in.size(); ++k) s += (k ? ", " : "") + in[k].value().shape();
    return s;
}

[[noreturn]] void fail(Op op, const Inputs& in, const std::string& why) {
    throw std::invalid_argument(std::string(op_name(op)) + "(" + shapes_of(in) + "): " + why);
}

std::string dims(int rows, int cols) { return "(" + std::to_string(rows) + " x " + std::to_string(cols) + ")"; }

// Freed blocks of one size, kept per thread for the next node. Blocks freed after the thread's
// list is gone (at thread exit, by thread-locals or statics destroyed later) go back to the heap.
constexpr size_t kMaxFreeNodeBlocks = 1 << 16;
template <size_t Size>
struct FreeBlocks {
    std::vector<void*> blocks;
    ~FreeBlocks() {
        gone = true;
        for (void* p : blocks) ::operator delete(p);
    }
    static thread_local bool gone;
    // The calling thread's list, made on first use (a function-local thread_local, so its
    // destructor is registered when it is made). Only called while !gone.
    static FreeBlocks& mine() {
        thread_local FreeBlocks list;
        return list;
    }
};
template <size_t Size>
thread_local bool FreeBlocks<Size>::gone = false;

// What allocate_shared uses for a node and its reference counts: one block of one size.
template <class T>
struct NodeAllocator {
    using value_type = T;
    using Blocks = FreeBlocks<sizeof(T)>;
    NodeAllocator() = default;
    template <class U>
    NodeAllocator(const NodeAllocator<U>&) {}
    T* allocate(size_t n) {
        if (n == 1 && !Blocks::gone) {
            std::vector<void*>& blocks = Blocks::mine().blocks;
            if (!blocks.empty()) {
                void* p = blocks.back();
                blocks.pop_back();
                return static_cast<T*>(p);
            }
        }
        return static_cast<T*>(::operator new(n * sizeof(T)));
    }
    void deallocate(T* p, size_t n) {
        if (n == 1 && !Blocks::gone) {
            std::vector<void*>& blocks = Blocks::mine().blocks;
            if (blocks.size() < kMaxFreeNodeBlocks) return blocks.push_back(p);
        }
        ::operator delete(p);
    }
    template <class U>
    bool operator==(const NodeAllocator<U>&) const { return true; }
};

// Records the node when gradients are wanted and at least one input carries them. A view
// always keeps its input: its values live there. Every result is scanned for NaN and Inf,
// except inside a backward pass that grad() scans at its end instead.
Var record(Op op, Inputs in, Tensor value, int a0 = 0, int a1 = 0, int a2 = 0, int a3 = 0) {
    const double* v = value.data.data();
    const bool checked = op == Op::View || !g_scan_op_results || all_finite(v, value.size());  // a view's values were checked where they came from
    for (size_t k = 0, n = checked ? 0 : value.size(); k < n; ++k) {
        if (!std::isfinite(v[k])) {
            std::ostringstream why;
            why << std::string(op_name(op)) << "(" << shapes_of(in) << "): result " << value.shape() << " has non-finite entry " << v[k]
                << " at [" << k / value.cols << "," << k % value.cols << "]";
            throw NonFiniteError(why.str());
        }
    }
    auto n = new_node();
    n->value = std::move(value);
    n->op = op;
    n->attr[0] = a0, n->attr[1] = a1, n->attr[2] = a2, n->attr[3] = a3;
    if (g_recording)
        for (const Var& x : in) n->requires_grad = n->requires_grad || x.requires_grad();
    if (n->requires_grad || op == Op::View) n->in = std::move(in);
    return Var(std::move(n));
}

Var leaf(Tensor t, bool requires_grad, const char* what) {
    if (t.empty()) throw std::invalid_argument(std::string(what) + ": empty tensor " + t.shape());
    require_finite(t, what);
    auto n = new_node();
    n->value = std::move(t);
    n->requires_grad = requires_grad;
    return Var(std::move(n));
}

template <class F>
Tensor map(const Tensor& x, F f) {
    Tensor y = Tensor::uninitialized(x.rows, x.cols);
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
    Tensor y = Tensor::uninitialized(dim(a.rows, b.rows), dim(a.cols, b.cols));
    if (a.same_shape(b)) {
        for (size_t k = 0; k < y.size(); ++k) y[k] = f(a[k], b[k]);
    } else if (b.size() == 1) {
        for (size_t k = 0; k < y.size(); ++k) y[k] = f(a[k], b[0]);
    } else if (a.size() == 1) {
        for (size_t k = 0; k < y.size(); ++k) y[k] = f(a[0], b[k]);
    } else {
        for (int i = 0; i < y.rows; ++i)
            for (int j = 0; j < y.cols; ++j)
                y(i, j) = f(a(a.rows == 1 ? 0 : i, a.cols == 1 ? 0 : j), b(b.rows == 1 ? 0 : i, b.cols == 1 ? 0 : j));
    }
    return y;
}

Var scalar_constant(double c) { return constant(Tensor::scalar(c)); }

Tensor one_hot(const std::vector<int>& labels, int classes) {
    Tensor t((int)labels.size(), classes);
    for (size_t n = 0; n < labels.size(); ++n) t((int)n, labels[n]) = 1.0;
    return t;
}

}  // namespace

// The name of each op, keyed by the op itself (not by position, so the order of the enum cannot
// mislabel an error). -Wswitch is an error here: an op added to the enum without a name does not compile.
#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wswitch"
const char* op_name(Op op) {
    switch (op) {
        case Op::Leaf: return "leaf";
        case Op::Add: return "add";
        case Op::Sub: return "sub";
        case Op::Mul: return "mul";
        case Op::Div: return "div";
        case Op::Neg: return "neg";
        case Op::MatMul: return "matmul";
        case Op::Linear: return "linear";
        case Op::Exp: return "exp";
        case Op::Log: return "log";
        case Op::Sqrt: return "sqrt";
        case Op::Abs: return "abs";
        case Op::Sign: return "sign";
        case Op::Pow: return "pow";
        case Op::Sin: return "sin";
        case Op::Cos: return "cos";
        case Op::Activation: return "activation";
        case Op::ActivationDerivative: return "activation_derivative";
        case Op::Maximum: return "maximum";
        case Op::Minimum: return "minimum";
        case Op::Square: return "square";
        case Op::Sum: return "sum";
        case Op::Broadcast: return "broadcast_to";
        case Op::Transpose: return "transpose";
        case Op::Reshape: return "reshape";
        case Op::Slice: return "slice";
        case Op::Pad: return "pad";
        case Op::Concat: return "concat";
        case Op::GatherRows: return "gather_rows";
        case Op::ScatterRows: return "scatter_rows";
        case Op::View: return "view";
        case Op::Embed: return "embed";
        case Op::LogSoftmax: return "log_softmax";
        case Op::Softmax: return "softmax";
        case Op::CrossEntropy: return "cross_entropy";
    }
    throw std::logic_error("op_name: " + std::to_string((int)op) + " is not an Op");
}
#pragma GCC diagnostic pop

std::shared_ptr<Node> new_node() { return std::allocate_shared<Node>(NodeAllocator<Node>()); }

const Tensor& Var::value() const {
    if (!node_) throw std::logic_error("Var: use of an empty Var");
    return node_->value;
}
bool Var::requires_grad() const { return node_ && node_->requires_grad; }

Var variable(Tensor t) { return leaf(std::move(t), true, "variable"); }
Var constant(Tensor t) { return leaf(std::move(t), false, "constant"); }
namespace {
Var leaf_view(const Tensor& t, bool requires_grad, const char* what) {  // not scanned: the first op that reads a non-finite entry names it
    if (t.empty()) throw std::invalid_argument(std::string(what) + ": empty tensor " + t.shape());
    auto n = new_node();
    n->value = Tensor::read_only_view(t.data.data(), t.rows, t.cols);
    n->requires_grad = requires_grad;
    return Var(std::move(n));
}
}  // namespace
Var constant_view(const Tensor& t) { return leaf_view(t, false, "constant_view"); }
Var variable_view(const Tensor& t) { return leaf_view(t, true, "variable_view"); }

bool is_recording() { return g_recording; }
NoGradGuard::NoGradGuard() : previous_(g_recording) { g_recording = false; }
NoGradGuard::~NoGradGuard() { g_recording = previous_; }

// ---- forward: value of each primitive ---------------------------------------------------

Var operator+(const Var& a, const Var& b) { return record(Op::Add, {a, b}, zip(Op::Add, a, b, [](double p, double q) { return p + q; })); }
Var operator-(const Var& a, const Var& b) { return record(Op::Sub, {a, b}, zip(Op::Sub, a, b, [](double p, double q) { return p - q; })); }
Var operator*(const Var& a, const Var& b) { return record(Op::Mul, {a, b}, zip(Op::Mul, a, b, [](double p, double q) { return p * q; })); }
Var operator/(const Var& a, const Var& b) { return record(Op::Div, {a, b}, zip(Op::Div, a, b, [](double p, double q) { return p / q; })); }
Var maximum(const Var& a, const Var& b) { return record(Op::Maximum, {a, b}, zip(Op::Maximum, a, b, [](double p, double q) { return p >= q ? p : q; })); }
Var minimum(const Var& a, const Var& b) { return record(Op::Minimum, {a, b}, zip(Op::Minimum, a, b, [](double p, double q) { return p <= q ? p : q; })); }
Var operator-(const Var& a) { return record(Op::Neg, {a}, map(a.value(), [](double v) { return -v; })); }
Var exp(const Var& x) { return record(Op::Exp, {x}, map(x.value(), [](double v) { return std::exp(v); })); }
Var log(const Var& x) { return record(Op::Log, {x}, map(x.value(), [](double v) { return std::log(v); })); }
Var sqrt(const Var& x) { return record(Op::Sqrt, {x}, map(x.value(), [](double v) { return std::sqrt(v); })); }
Var abs(const Var& x) { return record(Op::Abs, {x}, map(x.value(), [](double v) { return std::fabs(v); })); }
Var sign(const Var& x) { return record(Op::Sign, {x}, map(x.value(), [](double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; })); }
Var sin(const Var& x) { return record(Op::Sin, {x}, map(x.value(), [](double v) { return std::sin(v); })); }
Var cos(const Var& x) { return record(Op::Cos, {x}, map(x.value(), [](double v) { return std::cos(v); })); }
Var square(const Var& x) { return record(Op::Square, {x}, map(x.value(), [](double v) { return v * v; })); }
Var transpose(const Var& x) { return record(Op::Transpose, {x}, transpose(x.value())); }

Var pow(const Var& x, double c) {
    Var y = record(Op::Pow, {x}, map(x.value(), [c](double v) { return std::pow(v, c); }));
    y.node()->constant = c;
    return y;
}

// map(x, f) with the activation a known at compile time inside f (f takes the kind as a
// std::integral_constant): the table's per-element switch folds away and relu's loop vectorises.
template <class F>
Tensor map_activation(Activation a, const Tensor& x, F f) {
    using enum Activation;
    switch (a) {
        case Identity: return map(x, [&](double v) { return f(std::integral_constant<Activation, Identity>{}, v); });
        case Relu: return map(x, [&](double v) { return f(std::integral_constant<Activation, Relu>{}, v); });
        case Tanh: return map(x, [&](double v) { return f(std::integral_constant<Activation, Tanh>{}, v); });
        case Sigmoid: return map(x, [&](double v) { return f(std::integral_constant<Activation, Sigmoid>{}, v); });
        case Softplus: return map(x, [&](double v) { return f(std::integral_constant<Activation, Softplus>{}, v); });
    }
    throw std::logic_error("map_activation: unknown activation");
}

Var activation(Activation a, const Var& z) {
    return record(Op::Activation, {z}, map_activation(a, z.value(), [](auto kind, double v) { return activation_value(kind.value, v); }), (int)a);
}

Var activation_derivative(Activation a, int order, const Var& z) {
    if (order < 1 || order > 3)
        fail(Op::ActivationDerivative, {z}, std::string("derivative of order ") + std::to_string(order) + " of " + activation_name(a) +
                                                " is not in the table (orders 1 to 3)");
    return record(Op::ActivationDerivative, {z},
                  map_activation(a, z.value(), [order](auto kind, double v) { return activation_derivative(kind.value, order, v); }), (int)a, order);
}

Var tanh(const Var& x) { return activation(Activation::Tanh, x); }
Var sigmoid(const Var& x) { return activation(Activation::Sigmoid, x); }
Var relu(const Var& x) { return activation(Activation::Relu, x); }
Var step(const Var& x) { return activation_derivative(Activation::Relu, 1, x); }
Var softplus(const Var& x) { return activation(Activation::Softplus, x); }

Var matmul(const Var& a, const Var& b, bool ta, bool tb) {
    const Tensor &A = a.value(), &B = b.value();
    if ((ta ? A.rows : A.cols) != (tb ? B.cols : B.rows))
        fail(Op::MatMul, {a, b}, std::string("inner dimensions differ") + (ta ? " (first transposed)" : "") + (tb ? " (second transposed)" : ""));
    return record(Op::MatMul, {a, b}, matmul(A, B, ta, tb), ta, tb);
}

Var linear(const Var& x, const Var& W, const Var& b) {
    const Tensor &X = x.value(), &Wt = W.value();
    Inputs in = b ? Inputs{x, W, b} : Inputs{x, W};
    if (X.cols != Wt.cols) fail(Op::Linear, in, "input has " + std::to_string(X.cols) + " features, the weight expects " + std::to_string(Wt.cols));
    const int n = X.rows, n_out = Wt.rows;
    Tensor y = Tensor::uninitialized(n, n_out);
    if (b) {  // y = b broadcast over the rows, then y += x W^T: one GEMM with beta = 1
        const Tensor& B = b.value();
        if (B.rows != 1 || B.cols != n_out) fail(Op::Linear, in, "bias is not (1 x " + std::to_string(n_out) + ")");
        for (int i = 0; i < n; ++i) std::memcpy(&y.data[(size_t)i * n_out], B.data.data(), sizeof(double) * n_out);
    }
    gemm(X, false, Wt, true, y, 1.0, b ? 1.0 : 0.0);
    return record(Op::Linear, std::move(in), std::move(y));
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
    if ((X.rows != rows && X.rows != 1) || (X.cols != cols && X.cols != 1)) fail(Op::Broadcast, {x}, "cannot broadcast to " + dims(rows, cols));
    Tensor y = Tensor::uninitialized(rows, cols);
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) y(i, j) = X(X.rows == 1 ? 0 : i, X.cols == 1 ? 0 : j);
    return record(Op::Broadcast, {x}, std::move(y));
}

Var reshape(const Var& x, int rows, int cols) {
    if (rows < 0 || cols < 0 || (size_t)rows * cols != x.value().size()) fail(Op::Reshape, {x}, "cannot reshape to " + dims(rows, cols));
    Tensor y = Tensor::uninitialized(rows, cols);  // the same values in the same (row-major) order
    std::copy_n(x.value().data.data(), y.size(), y.data.data());
    return record(Op::Reshape, {x}, std::move(y));
}

Var slice(const Var& x, int r0, int c0, int rows, int cols) {
    const Tensor& X = x.value();
    if (r0 < 0 || c0 < 0 || rows <= 0 || cols <= 0 || r0 + rows > X.rows || c0 + cols > X.cols)
        fail(Op::Slice, {x}, "block at (" + std::to_string(r0) + "," + std::to_string(c0) + ") of shape " + dims(rows, cols) + " is out of range");
    Tensor y = Tensor::uninitialized(rows, cols);
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) y(i, j) = X(r0 + i, c0 + j);
    return record(Op::Slice, {x}, std::move(y), r0, c0);
}

Var pad(const Var& x, int rows, int cols, int r0, int c0) {
    const Tensor& X = x.value();
    if (r0 < 0 || c0 < 0 || r0 + X.rows > rows || c0 + X.cols > cols)
        fail(Op::Pad, {x}, "does not fit in " + dims(rows, cols) + " at (" + std::to_string(r0) + "," + std::to_string(c0) + ")");
    Tensor y(rows, cols);
    for (int i = 0; i < X.rows; ++i)
        for (int j = 0; j < X.cols; ++j) y(r0 + i, c0 + j) = X(i, j);
    return record(Op::Pad, {x}, std::move(y), r0, c0);
}

Var concat(const Var& a, const Var& b, int axis) {
    const Tensor &A = a.value(), &B = b.value();
    if (axis != 0 && axis != 1) fail(Op::Concat, {a, b}, "axis " + std::to_string(axis) + " is not 0 or 1");
    if (axis == 0 ? A.cols != B.cols : A.rows != B.rows) fail(Op::Concat, {a, b}, axis == 0 ? "column counts differ" : "row counts differ");
    Tensor y = Tensor::uninitialized(axis == 0 ? A.rows + B.rows : A.rows, axis == 0 ? A.cols : A.cols + B.cols);
    for (int i = 0; i < A.rows; ++i)
        for (int j = 0; j < A.cols; ++j) y(i, j) = A(i, j);
    for (int i = 0; i < B.rows; ++i)
        for (int j = 0; j < B.cols; ++j) y(axis == 0 ? A.rows + i : i, axis == 0 ? j : A.cols + j) = B(i, j);
    return record(Op::Concat, {a, b}, std::move(y), axis);
}

Var gather_rows(const Var& x, const std::vector<int>& rows) {
    const Tensor& X = x.value();
    Tensor y = Tensor::uninitialized((int)rows.size(), X.cols);
    for (size_t r = 0; r < rows.size(); ++r) {
        if (rows[r] < 0 || rows[r] >= X.rows)
            fail(Op::GatherRows, {x}, "row " + std::to_string(rows[r]) + " (entry " + std::to_string(r) + ") is out of range");
        std::memcpy(&y.data[r * X.cols], &X.data[(size_t)rows[r] * X.cols], sizeof(double) * X.cols);
    }
    Var v = record(Op::GatherRows, {x}, std::move(y));
    v.node()->index = rows;
    return v;
}

namespace {

// The adjoint of gather_rows: rows of g added into a (rows, C) tensor of zeros at `index`.
Var scatter_rows(const Var& g, const std::vector<int>& index, int rows) {
    const Tensor& G = g.value();
    Tensor y(rows, G.cols);
    for (size_t r = 0; r < index.size(); ++r)
        for (int j = 0; j < G.cols; ++j) y(index[r], j) += G((int)r, j);
    Var v = record(Op::ScatterRows, {g}, std::move(y));
    v.node()->index = index;
    return v;
}

// The adjoint of view: g placed at `offset` of a flat (rows, cols) tensor of zeros.
Var embed(const Var& g, int rows, int cols, int offset) {
    Tensor y(rows, cols);
    std::memcpy(&y.data[offset], g.value().data.data(), sizeof(double) * g.value().size());
    return record(Op::Embed, {g}, std::move(y), offset);
}

}  // namespace

Var view(const Var& flat, int offset, int rows, int cols) {
    Tensor& F = flat.node()->value;
    if (offset < 0 || rows <= 0 || cols <= 0 || (size_t)offset + (size_t)rows * cols > F.size())
        fail(Op::View, {flat}, "window of " + dims(rows, cols) + " at offset " + std::to_string(offset) + " is out of range");
    return record(Op::View, {flat}, Tensor::view(F.data.data() + offset, rows, cols), offset);
}

Var log_softmax(const Var& logits) {
    const Tensor& Z = logits.value();
    Tensor y = Tensor::uninitialized(Z.rows, Z.cols);
    for (int i = 0; i < Z.rows; ++i) {
        const double* z = &Z.data[(size_t)i * Z.cols];
        const double normaliser = log_sum_exp(z, Z.cols);
        for (int j = 0; j < Z.cols; ++j) y(i, j) = z[j] - normaliser;
    }
    return record(Op::LogSoftmax, {logits}, std::move(y));
}

Var softmax(const Var& logits) {
    const Tensor& Z = logits.value();
    Tensor y = Tensor::uninitialized(Z.rows, Z.cols);
    for (int i = 0; i < Z.rows; ++i) {
        double m = Z(i, 0), s = 0.0;
        for (int j = 1; j < Z.cols; ++j) m = std::max(m, Z(i, j));
        for (int j = 0; j < Z.cols; ++j) s += (y(i, j) = std::exp(Z(i, j) - m));
        for (int j = 0; j < Z.cols; ++j) y(i, j) /= s;
    }
    return record(Op::Softmax, {logits}, std::move(y));
}

Var cross_entropy(const Var& logits, const std::vector<int>& labels) {
    const Tensor& Z = logits.value();
    if ((int)labels.size() != Z.rows)
        throw std::invalid_argument("cross_entropy: " + std::to_string(labels.size()) + " labels for logits " + Z.shape());
    double total = 0.0;
    for (int i = 0; i < Z.rows; ++i) {
        if (labels[i] < 0 || labels[i] >= Z.cols)
            throw std::invalid_argument("cross_entropy: label " + std::to_string(labels[i]) + " of row " + std::to_string(i) +
                                        " is outside [0, " + std::to_string(Z.cols) + ") for logits " + Z.shape());
        total += log_sum_exp(&Z.data[(size_t)i * Z.cols], Z.cols) - Z(i, labels[i]);
    }
    Var v = record(Op::CrossEntropy, {logits}, Tensor::scalar(total / Z.rows));
    v.node()->index = labels;
    return v;
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
    if (y.rows() != rows || y.cols() != cols) fail(Op::Sum, {x}, "cannot reduce to " + dims(rows, cols));
    return y;
}

Var mse(const Var& prediction, const Var& target) {
    if (!prediction.value().same_shape(target.value()))
        throw std::invalid_argument("mse: prediction " + prediction.value().shape() + " and target " + target.value().shape() +
                                    " differ in shape");
    return mean(square(prediction - target));
}

namespace {

// 1 where the first argument wins the comparison (ties included), else 0: a constant, since
// the derivative of a comparison is zero almost everywhere.
Var wins(const Var& a, const Var& b, bool larger) {
    return constant(zip(larger ? Op::Maximum : Op::Minimum, a, b, [larger](double p, double q) { return (larger ? p >= q : p <= q) ? 1.0 : 0.0; }));
}

}  // namespace

// ---- the derivative table: cotangents of the inputs from g, the cotangent of the output y ----
//
// One line per primitive. Inputs that carry no gradient, or whose bit is set in `skip` (the
// backward pass took care of them), get an empty Var (no work done). The result has one entry
// per input of y (at most three: a fixed array, no allocation).
std::array<Var, 3> vjp(const Var& y, const Var& g, unsigned skip) {
    static const Var none;
    const Node& n = *y.node();
    const Var& a = n.in[0];
    const Var& b = n.in.size() > 1 ? n.in[1] : none;
    auto need = [&](int k) { return n.in[k].requires_grad() && !(skip >> k & 1u); };
    auto to_a = [&](const Var& v) { return sum_to(v, a.rows(), a.cols()); };
    auto to_b = [&](const Var& v) { return sum_to(v, b.rows(), b.cols()); };
    const bool ta = n.attr[0], tb = n.attr[1];
    const Activation act = (Activation)n.attr[0];
    switch (n.op) {
        case Op::Add:        return {need(0) ? to_a(g) : Var(), need(1) ? to_b(g) : Var()};
        case Op::Sub:        return {need(0) ? to_a(g) : Var(), need(1) ? to_b(-g) : Var()};
        case Op::Mul:        return {need(0) ? to_a(g * b) : Var(), need(1) ? to_b(g * a) : Var()};
        case Op::Div:        return {need(0) ? to_a(g / b) : Var(), need(1) ? to_b(-(g * y) / b) : Var()};
        case Op::Maximum:    return {need(0) ? to_a(g * wins(a, b, true)) : Var(), need(1) ? to_b(g * (1.0 - wins(a, b, true))) : Var()};
        case Op::Minimum:    return {need(0) ? to_a(g * wins(a, b, false)) : Var(), need(1) ? to_b(g * (1.0 - wins(a, b, false))) : Var()};
        case Op::Neg:        return {-g};
        case Op::MatMul:     return {need(0) ? (ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb)) : Var(),
                                     need(1) ? (tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false)) : Var()};
        case Op::Linear:     return {need(0) ? matmul(g, b) : Var(), need(1) ? matmul(g, a, true, false) : Var(),
                                     n.in.size() == 3 && need(2) ? sum(g, 0) : Var()};
        case Op::Exp:        return {g * y};
        case Op::Log:        return {g / a};
        case Op::Sqrt:       return {g / (2.0 * y)};
        case Op::Abs:        return {g * sign(a)};
        case Op::Sign:       return {Var()};  // zero almost everywhere, exactly
        case Op::Pow:        return {g * (n.constant * pow(a, n.constant - 1.0))};
        case Op::Sin:        return {g * cos(a)};
        case Op::Cos:        return {-(g * sin(a))};
        case Op::Square:     return {2.0 * g * a};
        case Op::Activation: return {g * activation_derivative(act, 1, a)};
        case Op::ActivationDerivative:
            return {hessian_is_zero(act) ? Var() : g * activation_derivative(act, n.attr[1] + 1, a)};
        case Op::Sum:        return {broadcast_to(g, a.rows(), a.cols())};
        case Op::Broadcast:  return {to_a(g)};
        case Op::Transpose:  return {transpose(g)};
        case Op::Reshape:    return {reshape(g, a.rows(), a.cols())};
        case Op::Slice:      return {pad(g, a.rows(), a.cols(), n.attr[0], n.attr[1])};
        case Op::Pad:        return {slice(g, n.attr[0], n.attr[1], a.rows(), a.cols())};
        case Op::Concat:     return {need(0) ? slice(g, 0, 0, a.rows(), a.cols()) : Var(),
                                     need(1) ? slice(g, n.attr[0] == 0 ? a.rows() : 0, n.attr[0] == 1 ? a.cols() : 0, b.rows(), b.cols()) : Var()};
        case Op::GatherRows: return {scatter_rows(g, n.index, a.rows())};
        case Op::ScatterRows: return {gather_rows(g, n.index)};
        case Op::View:       return {embed(g, a.rows(), a.cols(), n.attr[0])};
        case Op::Embed:      return {view(g, n.attr[0], a.rows(), a.cols())};
        case Op::LogSoftmax: return {g - exp(y) * sum(g, 1)};
        case Op::Softmax:    return {y * (g - sum(g * y, 1))};
        case Op::CrossEntropy: return {(softmax(a) - constant(one_hot(n.index, a.cols()))) * g / (double)a.rows()};
        case Op::Leaf:       break;
    }
    throw std::logic_error("vjp: leaf has no inputs");
}

}  // namespace awd
