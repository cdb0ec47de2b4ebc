// ops.cpp: every primitive of the autodiff, forward value first, then the derivative table.
//
// Each op is a short forward function that computes its value and records a node. The table
// vjp() at the end holds the whole chain rule, one short line per primitive, written with the
// same differentiable ops: that is what makes second and higher derivatives work.
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "autodiff/autodiff.h"
#include "autodiff/product.h"
#include "autodiff/tape.h"

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
    bool operator==(const NodeAllocator<U>&) const {
        return true;
    }
};

// Computes n's value; false when `scan` finds a non-finite entry in it (defined with the forward kernels).
bool evaluate_and_scan(Node& n, bool scan);

// Makes the node of one op: its value (rows, cols) computed by evaluate() from `in`. The node keeps
// its inputs when gradients are wanted and at least one input carries them, or while a plan is
// being recorded (the replay recomputes it from them). Every result is scanned for NaN and Inf,
// except inside a backward pass that grad() scans at its end instead.
Var make(Op op, Inputs in, int rows, int cols, int a0 = 0, int a1 = 0, double c = 0.0,
         const std::vector<int>* index = nullptr) {
    auto n = new_node();
    n->op = op;
    n->attr[0] = a0, n->attr[1] = a1, n->constant = c;
    if (index) n->index = *index;
    n->in = std::move(in);
    n->value = Tensor::uninitialized(rows, cols);
    if (!evaluate_and_scan(*n, g_scan_op_results)) {
        const double* v = n->value.data.data();
        for (size_t k = 0; k < n->value.size(); ++k)
            if (!std::isfinite(v[k])) throw_non_finite(*n, k, v[k]);
    }
    // an op whose derivative is exactly zero (the table's empty line) carries none: its constant
    // value is all a backward pass would see, so no cotangent is ever formed for it
    const bool zero_derivative = op == Op::Sign || (op == Op::ActivationDerivative && hessian_is_zero((Activation)a0));
    if (g_recording && !zero_derivative)
        for (const Var& x : n->in) n->requires_grad = n->requires_grad || x.requires_grad();
    if (g_tape) {
        TapeStep s;
        s.kind = TapeStep::Kind::Evaluate, s.node = n.get(), s.scan = g_scan_op_results;
        g_tape->steps.push_back(s);
    } else if (!n->requires_grad) {
        n->in = Inputs();
    }
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

// The shape of an elementwise binary op's result: operands broadcast (1, C), (N, 1) and (1, 1).
std::pair<int, int> broadcast_shape(Op op, const Var& va, const Var& vb) {
    const Tensor &a = va.value(), &b = vb.value();
    auto dim = [&](int p, int q) {
        if (p != q && p != 1 && q != 1) fail(op, {va, vb}, "shapes do not broadcast");
        return std::max(p, q);
    };
    return {dim(a.rows, b.rows), dim(a.cols, b.cols)};
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

thread_local Tape* g_tape = nullptr;

std::shared_ptr<Node> new_node() {
    auto n = std::allocate_shared<Node>(NodeAllocator<Node>());
    if (g_tape) g_tape->nodes.push_back(n);
    return n;
}

const Tensor& Var::value() const {
    if (!node_) throw std::logic_error("Var: use of an empty Var");
    return node_->value;
}
bool Var::requires_grad() const { return node_ && node_->requires_grad; }

Var variable(Tensor t) { return leaf(std::move(t), true, "variable"); }
Var constant(Tensor t) { return leaf(std::move(t), false, "constant"); }
namespace {
Var leaf_view(const Tensor& t, bool requires_grad,
              const char* what) {  // not scanned: the first op that reads a non-finite entry names it
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

// ---- forward kernels: the value of each primitive, computed into its node ------------------
//
// The eager ops below and a plan's replay (plan.h) both compute through evaluate(), so a replay
// does the same operations in the same order as the eager op: the same bytes.

namespace {

// The arithmetic of the elementwise ops, one entry at a time; c is Pow's exponent.
template <Op op>
double unary_value(double v, double c) {
    if constexpr (op == Op::Neg) return -v;
    else if constexpr (op == Op::Exp) return std::exp(v);
    else if constexpr (op == Op::Log) return std::log(v);
    else if constexpr (op == Op::Sqrt) return std::sqrt(v);
    else if constexpr (op == Op::Abs) return std::fabs(v);
    else if constexpr (op == Op::Sign) return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0;
    else if constexpr (op == Op::Pow) return std::pow(v, c);
    else if constexpr (op == Op::Sin) return std::sin(v);
    else if constexpr (op == Op::Cos) return std::cos(v);
    else return v * v;  // Square
}

template <Op op>
double binary_value(double p, double q) {
    if constexpr (op == Op::Add) return p + q;
    else if constexpr (op == Op::Sub) return p - q;
    else if constexpr (op == Op::Mul) return p * q;
    else if constexpr (op == Op::Div) return p / q;
    else if constexpr (op == Op::Maximum) return p >= q ? p : q;
    else return p <= q ? p : q;  // Minimum
}

// y[i] = f(a[i], b[i]) for i < count; an operand marked `one` has one entry, read for every i.
template <class F>
void entries(F f, const double* a, bool a_one, const double* b, bool b_one, double* y, size_t count) {
    if (b_one) {
        for (size_t i = 0; i < count; ++i) y[i] = f(a[i], b[0]);
    } else if (a_one) {
        for (size_t i = 0; i < count; ++i) y[i] = f(a[0], b[i]);
    } else {
        for (size_t i = 0; i < count; ++i) y[i] = f(a[i], b[i]);
    }
}

// Calls visit(f) with f(p, q) the entry function of n's elementwise op (a unary op ignores q),
// known at compile time inside visit, so every loop over entries vectorises where it can.
template <class V>
void with_entry_function(const Node& n, V&& visit) {
    const double c = n.constant;
    const int order = n.attr[1];
    auto activation_visit = [&](auto kind) {
        if (n.op == Op::Activation)
            return visit([](double p, double) { return activation_value(decltype(kind)::value, p); });
        return visit([order](double p, double) { return activation_derivative(decltype(kind)::value, order, p); });
    };
    using enum Activation;
    switch (n.op) {
        case Op::Add: return visit([](double p, double q) { return binary_value<Op::Add>(p, q); });
        case Op::Sub: return visit([](double p, double q) { return binary_value<Op::Sub>(p, q); });
        case Op::Mul: return visit([](double p, double q) { return binary_value<Op::Mul>(p, q); });
        case Op::Div: return visit([](double p, double q) { return binary_value<Op::Div>(p, q); });
        case Op::Maximum: return visit([](double p, double q) { return binary_value<Op::Maximum>(p, q); });
        case Op::Minimum: return visit([](double p, double q) { return binary_value<Op::Minimum>(p, q); });
        case Op::Neg: return visit([c](double p, double) { return unary_value<Op::Neg>(p, c); });
        case Op::Exp: return visit([c](double p, double) { return unary_value<Op::Exp>(p, c); });
        case Op::Log: return visit([c](double p, double) { return unary_value<Op::Log>(p, c); });
        case Op::Sqrt: return visit([c](double p, double) { return unary_value<Op::Sqrt>(p, c); });
        case Op::Abs: return visit([c](double p, double) { return unary_value<Op::Abs>(p, c); });
        case Op::Sign: return visit([c](double p, double) { return unary_value<Op::Sign>(p, c); });
        case Op::Pow: return visit([c](double p, double) { return unary_value<Op::Pow>(p, c); });
        case Op::Sin: return visit([c](double p, double) { return unary_value<Op::Sin>(p, c); });
        case Op::Cos: return visit([c](double p, double) { return unary_value<Op::Cos>(p, c); });
        case Op::Square: return visit([c](double p, double) { return unary_value<Op::Square>(p, c); });
        case Op::Activation:
        case Op::ActivationDerivative:
            switch ((Activation)n.attr[0]) {
                case Identity: return activation_visit(std::integral_constant<Activation, Identity>{});
                case Relu: return activation_visit(std::integral_constant<Activation, Relu>{});
                case Tanh: return activation_visit(std::integral_constant<Activation, Tanh>{});
                case Sigmoid: return activation_visit(std::integral_constant<Activation, Sigmoid>{});
                case Softplus: return activation_visit(std::integral_constant<Activation, Softplus>{});
            }
            break;
        default: break;
    }
    throw std::logic_error(std::string("with_entry_function: ") + op_name(n.op) + " is not elementwise");
}

// How an elementwise node reads its operands: a of its shape, b of its shape or of one entry (or
// a of one entry). False for the general broadcast of a (1, C) with an (N, 1), read in full.
bool entrywise(const Node& n, bool& a_one, bool& b_one) {
    a_one = b_one = false;
    if (n.in.size() < 2) return true;
    const Tensor &a = n.in[0].value(), &b = n.in[1].value();
    if (a.same_shape(b)) return true;
    b_one = b.size() == 1, a_one = !b_one && a.size() == 1;
    return a_one || b_one;
}

// Every entry of an elementwise node, whatever its operands' broadcast.
template <class F>
void all_entries(const Node& n, Tensor& y, F f) {
    bool a_one, b_one;
    const Tensor& a = n.in[0].value();
    const Tensor& b = n.in.size() > 1 ? n.in[1].value() : a;
    if (entrywise(n, a_one, b_one))
        return entries(f, a.data.data(), a_one, b.data.data(), b_one, y.data.data(), y.size());
    for (int i = 0; i < y.rows; ++i)
        for (int j = 0; j < y.cols; ++j)
            y(i, j) = f(a(a.rows == 1 ? 0 : i, a.cols == 1 ? 0 : j), b(b.rows == 1 ? 0 : i, b.cols == 1 ? 0 : j));
}

auto wins_function(bool larger) {
    return [larger](double p, double q) { return (larger ? p >= q : p <= q) ? 1.0 : 0.0; };
}

}  // namespace

bool is_elementwise(Op op) {
    switch (op) {
        case Op::Add:
        case Op::Sub:
        case Op::Mul:
        case Op::Div:
        case Op::Maximum:
        case Op::Minimum:
        case Op::Neg:
        case Op::Exp:
        case Op::Log:
        case Op::Sqrt:
        case Op::Abs:
        case Op::Sign:
        case Op::Pow:
        case Op::Sin:
        case Op::Cos:
        case Op::Square:
        case Op::Activation:
        case Op::ActivationDerivative: return true;
        default: return false;
    }
}

bool reads_entrywise(const Node& n) {
    bool a_one, b_one;
    return is_elementwise(n.op) && entrywise(n, a_one, b_one);
}

void evaluate_block(const Node& n, const double* a, bool a_one, const double* b, bool b_one, double* y, size_t count) {
    with_entry_function(n, [&](auto f) { entries(f, a, a_one, b ? b : a, b_one, y, count); });
}

namespace {

constexpr size_t kEntriesPerThread = 1 << 15;  // an elementwise op is cut over threads from twice this

// A large elementwise op that reads its operands entry by entry is computed and scanned in blocks
// on the product threads (for_entry_blocks): each entry is computed on its own, so the cut changes
// no bit.
bool evaluate_and_scan(Node& n, bool scan) {
    bool a_one, b_one;
    const size_t count = n.value.size();
    if (count < 2 * kEntriesPerThread || !is_elementwise(n.op) || !entrywise(n, a_one, b_one)) {
        evaluate(n);
        return !scan || all_finite(n.value.data.data(), count);
    }
    const double* a = n.in[0].value().data.data();
    const double* b = n.in.size() > 1 ? n.in[1].value().data.data() : nullptr;
    double* y = n.value.data.data();
    std::atomic<bool> finite{true};
    for_entry_blocks(count, kEntriesPerThread, [&](size_t begin, size_t end) {
        evaluate_block(n, a_one ? a : a + begin, a_one, b && !b_one ? b + begin : b, b_one, y + begin, end - begin);
        if (scan && !all_finite(y + begin, end - begin)) finite = false;
    });
    return finite;
}

}  // namespace

void evaluate_wins_block(bool larger, const double* a, bool a_one, const double* b, bool b_one, double* y,
                         size_t count) {
    entries(wins_function(larger), a, a_one, b, b_one, y, count);
}

void evaluate_wins(Node& n) { all_entries(n, n.value, wins_function(n.attr[0])); }

void evaluate(Node& n) {
    Tensor& y = n.value;
    if (n.op == Op::Leaf || n.op == Op::View) return;  // a view's values live in its input
    if (is_elementwise(n.op)) return with_entry_function(n, [&](auto f) { all_entries(n, y, f); });
    const Tensor& X = n.in[0].value();
    const int r0 = n.attr[0], c0 = n.attr[1];
    switch (n.op) {
        case Op::MatMul: gemm(X, n.attr[0], n.in[1].value(), n.attr[1], y); return;
        case Op::Linear: {  // y = b broadcast over the rows, then y += x W^T: one GEMM with beta = 1
            const bool bias = n.in.size() == 3;
            for (int i = 0; bias && i < y.rows; ++i)
                std::memcpy(&y.data[(size_t)i * y.cols], n.in[2].value().data.data(), sizeof(double) * y.cols);
            gemm(X, false, n.in[1].value(), true, y, 1.0, bias ? 1.0 : 0.0);
            return;
        }
        case Op::Sum: {
            const int axis = n.attr[0];
            y.data.assign(y.size(), 0.0);
            for (int i = 0; i < X.rows; ++i)
                for (int j = 0; j < X.cols; ++j) y(axis == 1 ? i : 0, axis == 0 ? j : 0) += X(i, j);
            return;
        }
        case Op::Broadcast:
            for (int i = 0; i < y.rows; ++i)
                for (int j = 0; j < y.cols; ++j) y(i, j) = X(X.rows == 1 ? 0 : i, X.cols == 1 ? 0 : j);
            return;
        case Op::Transpose:
            for (int i = 0; i < X.rows; ++i)
                for (int j = 0; j < X.cols; ++j) y(j, i) = X(i, j);
            return;
        case Op::Reshape:
            std::copy_n(X.data.data(), y.size(), y.data.data());
            return;  // the same values in the same (row-major) order
        case Op::Slice:
            for (int i = 0; i < y.rows; ++i)
                for (int j = 0; j < y.cols; ++j) y(i, j) = X(r0 + i, c0 + j);
            return;
        case Op::Pad:
            y.data.assign(y.size(), 0.0);
            for (int i = 0; i < X.rows; ++i)
                for (int j = 0; j < X.cols; ++j) y(r0 + i, c0 + j) = X(i, j);
            return;
        case Op::Concat: {
            const Tensor& B = n.in[1].value();
            const bool rows = n.attr[0] == 0;
            for (int i = 0; i < X.rows; ++i)
                for (int j = 0; j < X.cols; ++j) y(i, j) = X(i, j);
            for (int i = 0; i < B.rows; ++i)
                for (int j = 0; j < B.cols; ++j) y(rows ? X.rows + i : i, rows ? j : X.cols + j) = B(i, j);
            return;
        }
        case Op::GatherRows:
            for (size_t r = 0; r < n.index.size(); ++r)
                std::memcpy(&y.data[r * X.cols], &X.data[(size_t)n.index[r] * X.cols], sizeof(double) * X.cols);
            return;
        case Op::ScatterRows:  // the adjoint of gather_rows: rows of X added into zeros at `index`
            y.data.assign(y.size(), 0.0);
            for (size_t r = 0; r < n.index.size(); ++r)
                for (int j = 0; j < X.cols; ++j) y(n.index[r], j) += X((int)r, j);
            return;
        case Op::Embed:  // the adjoint of view: X placed at `offset` of zeros
            y.data.assign(y.size(), 0.0);
            std::memcpy(&y.data[n.attr[0]], X.data.data(), sizeof(double) * X.size());
            return;
        case Op::LogSoftmax:
            for (int i = 0; i < X.rows; ++i) {
                const double* z = &X.data[(size_t)i * X.cols];
                const double normaliser = log_sum_exp(z, X.cols);
                for (int j = 0; j < X.cols; ++j) y(i, j) = z[j] - normaliser;
            }
            return;
        case Op::Softmax:
            for (int i = 0; i < X.rows; ++i) {
                double m = X(i, 0), s = 0.0;
                for (int j = 1; j < X.cols; ++j) m = std::max(m, X(i, j));
                for (int j = 0; j < X.cols; ++j) s += (y(i, j) = std::exp(X(i, j) - m));
                for (int j = 0; j < X.cols; ++j) y(i, j) /= s;
            }
            return;
        case Op::CrossEntropy: {
            double total = 0.0;
            for (int i = 0; i < X.rows; ++i)
                total += log_sum_exp(&X.data[(size_t)i * X.cols], X.cols) - X(i, n.index[i]);
            y[0] = total / X.rows;
            return;
        }
        default: throw std::logic_error(std::string("evaluate: no forward kernel for ") + op_name(n.op));
    }
}

void throw_non_finite(const Node& n, size_t k, double v) {
    std::ostringstream why;
    why << std::string(op_name(n.op)) << "(" << shapes_of(n.in) << "): result " << n.value.shape()
        << " has non-finite entry " << v << " at [" << k / n.value.cols << "," << k % n.value.cols << "]";
    throw NonFiniteError(why.str());
}

// ---- forward: each primitive's checks and the shape of its value -----------------------------

Var operator+(const Var& a, const Var& b) {
    auto [r, c] = broadcast_shape(Op::Add, a, b);
    return make(Op::Add, {a, b}, r, c);
}
Var operator-(const Var& a, const Var& b) {
    auto [r, c] = broadcast_shape(Op::Sub, a, b);
    return make(Op::Sub, {a, b}, r, c);
}
Var operator*(const Var& a, const Var& b) {
    auto [r, c] = broadcast_shape(Op::Mul, a, b);
    return make(Op::Mul, {a, b}, r, c);
}
Var operator/(const Var& a, const Var& b) {
    auto [r, c] = broadcast_shape(Op::Div, a, b);
    return make(Op::Div, {a, b}, r, c);
}
Var maximum(const Var& a, const Var& b) {
    auto [r, c] = broadcast_shape(Op::Maximum, a, b);
    return make(Op::Maximum, {a, b}, r, c);
}
Var minimum(const Var& a, const Var& b) {
    auto [r, c] = broadcast_shape(Op::Minimum, a, b);
    return make(Op::Minimum, {a, b}, r, c);
}
Var operator-(const Var& a) { return make(Op::Neg, {a}, a.rows(), a.cols()); }
Var exp(const Var& x) { return make(Op::Exp, {x}, x.rows(), x.cols()); }
Var log(const Var& x) { return make(Op::Log, {x}, x.rows(), x.cols()); }
Var sqrt(const Var& x) { return make(Op::Sqrt, {x}, x.rows(), x.cols()); }
Var abs(const Var& x) { return make(Op::Abs, {x}, x.rows(), x.cols()); }
Var sign(const Var& x) { return make(Op::Sign, {x}, x.rows(), x.cols()); }
Var sin(const Var& x) { return make(Op::Sin, {x}, x.rows(), x.cols()); }
Var cos(const Var& x) { return make(Op::Cos, {x}, x.rows(), x.cols()); }
Var square(const Var& x) { return make(Op::Square, {x}, x.rows(), x.cols()); }
Var pow(const Var& x, double c) { return make(Op::Pow, {x}, x.rows(), x.cols(), 0, 0, c); }
Var transpose(const Var& x) { return make(Op::Transpose, {x}, x.cols(), x.rows()); }

Var activation(Activation a, const Var& z) { return make(Op::Activation, {z}, z.rows(), z.cols(), (int)a); }

Var activation_derivative(Activation a, int order, const Var& z) {
    if (order < 1 || order > 3)
        fail(Op::ActivationDerivative, {z},
             std::string("derivative of order ") + std::to_string(order) + " of " + activation_name(a) +
                 " is not in the table (orders 1 to 3)");
    return make(Op::ActivationDerivative, {z}, z.rows(), z.cols(), (int)a, order);
}

Var tanh(const Var& x) { return activation(Activation::Tanh, x); }
Var sigmoid(const Var& x) { return activation(Activation::Sigmoid, x); }
Var relu(const Var& x) { return activation(Activation::Relu, x); }
Var step(const Var& x) { return activation_derivative(Activation::Relu, 1, x); }
Var softplus(const Var& x) { return activation(Activation::Softplus, x); }

Var matmul(const Var& a, const Var& b, bool ta, bool tb) {
    const Tensor &A = a.value(), &B = b.value();
    if ((ta ? A.rows : A.cols) != (tb ? B.cols : B.rows))
        fail(Op::MatMul, {a, b},
             std::string("inner dimensions differ") + (ta ? " (first transposed)" : "") +
                 (tb ? " (second transposed)" : ""));
    return make(Op::MatMul, {a, b}, ta ? A.cols : A.rows, tb ? B.rows : B.cols, ta, tb);
}

Var linear(const Var& x, const Var& W, const Var& b) {
    const Tensor &X = x.value(), &Wt = W.value();
    Inputs in = b ? Inputs{x, W, b} : Inputs{x, W};
    if (X.cols != Wt.cols)
        fail(Op::Linear, in,
             "input has " + std::to_string(X.cols) + " features, the weight expects " + std::to_string(Wt.cols));
    if (b && (b.rows() != 1 || b.cols() != Wt.rows))
        fail(Op::Linear, in, "bias is not (1 x " + std::to_string(Wt.rows) + ")");
    return make(Op::Linear, std::move(in), X.rows, Wt.rows);
}

Var sum(const Var& x, int axis) {
    if (axis < -1 || axis > 1) fail(Op::Sum, {x}, "axis " + std::to_string(axis) + " is not -1, 0 or 1");
    return make(Op::Sum, {x}, axis == 1 ? x.rows() : 1, axis == 0 ? x.cols() : 1, axis);
}

Var broadcast_to(const Var& x, int rows, int cols) {
    if ((x.rows() != rows && x.rows() != 1) || (x.cols() != cols && x.cols() != 1))
        fail(Op::Broadcast, {x}, "cannot broadcast to " + dims(rows, cols));
    return make(Op::Broadcast, {x}, rows, cols);
}

Var reshape(const Var& x, int rows, int cols) {
    if (rows < 0 || cols < 0 || (size_t)rows * cols != x.value().size())
        fail(Op::Reshape, {x}, "cannot reshape to " + dims(rows, cols));
    return make(Op::Reshape, {x}, rows, cols);
}

Var slice(const Var& x, int r0, int c0, int rows, int cols) {
    if (r0 < 0 || c0 < 0 || rows <= 0 || cols <= 0 || r0 + rows > x.rows() || c0 + cols > x.cols())
        fail(Op::Slice, {x},
             "block at (" + std::to_string(r0) + "," + std::to_string(c0) + ") of shape " + dims(rows, cols) +
                 " is out of range");
    return make(Op::Slice, {x}, rows, cols, r0, c0);
}

Var pad(const Var& x, int rows, int cols, int r0, int c0) {
    if (r0 < 0 || c0 < 0 || r0 + x.rows() > rows || c0 + x.cols() > cols)
        fail(Op::Pad, {x},
             "does not fit in " + dims(rows, cols) + " at (" + std::to_string(r0) + "," + std::to_string(c0) + ")");
    return make(Op::Pad, {x}, rows, cols, r0, c0);
}

Var concat(const Var& a, const Var& b, int axis) {
    const Tensor &A = a.value(), &B = b.value();
    if (axis != 0 && axis != 1) fail(Op::Concat, {a, b}, "axis " + std::to_string(axis) + " is not 0 or 1");
    if (axis == 0 ? A.cols != B.cols : A.rows != B.rows)
        fail(Op::Concat, {a, b}, axis == 0 ? "column counts differ" : "row counts differ");
    return make(Op::Concat, {a, b}, axis == 0 ? A.rows + B.rows : A.rows, axis == 0 ? A.cols : A.cols + B.cols, axis);
}

Var gather_rows(const Var& x, const std::vector<int>& rows) {
    for (size_t r = 0; r < rows.size(); ++r)
        if (rows[r] < 0 || rows[r] >= x.rows())
            fail(Op::GatherRows, {x},
                 "row " + std::to_string(rows[r]) + " (entry " + std::to_string(r) + ") is out of range");
    return make(Op::GatherRows, {x}, (int)rows.size(), x.cols(), 0, 0, 0.0, &rows);
}

namespace {

// The adjoint of gather_rows: rows of g added into a (rows, C) tensor of zeros at `index`.
Var scatter_rows(const Var& g, const std::vector<int>& index, int rows) {
    return make(Op::ScatterRows, {g}, rows, g.cols(), 0, 0, 0.0, &index);
}

// The adjoint of view: g placed at `offset` of a flat (rows, cols) tensor of zeros.
Var embed(const Var& g, int rows, int cols, int offset) { return make(Op::Embed, {g}, rows, cols, offset); }

}  // namespace

Var view(const Var& flat, int offset, int rows, int cols) {
    Tensor& F = flat.node()->value;
    if (offset < 0 || rows <= 0 || cols <= 0 || (size_t)offset + (size_t)rows * cols > F.size())
        fail(Op::View, {flat},
             "window of " + dims(rows, cols) + " at offset " + std::to_string(offset) + " is out of range");
    auto n = new_node();  // not scanned: its values were checked where they came from
    n->op = Op::View, n->attr[0] = offset;
    n->value = Tensor::view(F.data.data() + offset, rows, cols);
    n->requires_grad = g_recording && flat.requires_grad();
    n->in = {flat};  // always kept: its values live there
    return Var(std::move(n));
}

Var log_softmax(const Var& logits) { return make(Op::LogSoftmax, {logits}, logits.rows(), logits.cols()); }
Var softmax(const Var& logits) { return make(Op::Softmax, {logits}, logits.rows(), logits.cols()); }

Var cross_entropy(const Var& logits, const std::vector<int>& labels) {
    const Tensor& Z = logits.value();
    if ((int)labels.size() != Z.rows)
        throw std::invalid_argument("cross_entropy: " + std::to_string(labels.size()) + " labels for logits " +
                                    Z.shape());
    for (int i = 0; i < Z.rows; ++i)
        if (labels[i] < 0 || labels[i] >= Z.cols)
            throw std::invalid_argument("cross_entropy: label " + std::to_string(labels[i]) + " of row " +
                                        std::to_string(i) + " is outside [0, " + std::to_string(Z.cols) +
                                        ") for logits " + Z.shape());
    return make(Op::CrossEntropy, {logits}, 1, 1, 0, 0, 0.0, &labels);
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
        throw std::invalid_argument("mse: prediction " + prediction.value().shape() + " and target " +
                                    target.value().shape() + " differ in shape");
    return mean(square(prediction - target));
}

namespace {

// 1 where the first argument wins the comparison (ties included), else 0: a constant, since
// the derivative of a comparison is zero almost everywhere.
// While a plan is recorded the constant keeps a and b and is recomputed at each replay.
Var wins(const Var& a, const Var& b, bool larger) {
    auto [rows, cols] = broadcast_shape(larger ? Op::Maximum : Op::Minimum, a, b);
    auto n = new_node();
    n->in = {a, b};
    n->attr[0] = larger;
    n->value = Tensor::uninitialized(rows, cols);
    evaluate_wins(*n);
    if (g_tape) {
        TapeStep s;
        s.kind = TapeStep::Kind::Wins, s.node = n.get(), s.flag = larger;
        g_tape->steps.push_back(s);
    } else {
        n->in = Inputs();
    }
    return Var(std::move(n));
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
        case Op::Add: return {need(0) ? to_a(g) : Var(), need(1) ? to_b(g) : Var()};
        case Op::Sub: return {need(0) ? to_a(g) : Var(), need(1) ? to_b(-g) : Var()};
        case Op::Mul: return {need(0) ? to_a(g * b) : Var(), need(1) ? to_b(g * a) : Var()};
        case Op::Div: return {need(0) ? to_a(g / b) : Var(), need(1) ? to_b(-(g * y) / b) : Var()};
        case Op::Maximum:
            return {need(0) ? to_a(g * wins(a, b, true)) : Var(), need(1) ? to_b(g * (1.0 - wins(a, b, true))) : Var()};
        case Op::Minimum:
            return {need(0) ? to_a(g * wins(a, b, false)) : Var(),
                    need(1) ? to_b(g * (1.0 - wins(a, b, false))) : Var()};
        case Op::Neg: return {-g};
        case Op::MatMul:
            return {need(0) ? (ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb)) : Var(),
                    need(1) ? (tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false)) : Var()};
        case Op::Linear:
            return {need(0) ? matmul(g, b) : Var(), need(1) ? matmul(g, a, true, false) : Var(),
                    n.in.size() == 3 && need(2) ? sum(g, 0) : Var()};
        case Op::Exp: return {g * y};
        case Op::Log: return {g / a};
        case Op::Sqrt: return {g / (2.0 * y)};
        case Op::Abs: return {g * sign(a)};
        case Op::Sign: return {Var()};  // zero almost everywhere, exactly
        case Op::Pow: return {g * (n.constant * pow(a, n.constant - 1.0))};
        case Op::Sin: return {g * cos(a)};
        case Op::Cos: return {-(g * sin(a))};
        case Op::Square: return {2.0 * g * a};
        case Op::Activation: return {g * activation_derivative(act, 1, a)};
        case Op::ActivationDerivative:
            return {hessian_is_zero(act) ? Var() : g * activation_derivative(act, n.attr[1] + 1, a)};
        case Op::Sum: return {broadcast_to(g, a.rows(), a.cols())};
        case Op::Broadcast: return {to_a(g)};
        case Op::Transpose: return {transpose(g)};
        case Op::Reshape: return {reshape(g, a.rows(), a.cols())};
        case Op::Slice: return {pad(g, a.rows(), a.cols(), n.attr[0], n.attr[1])};
        case Op::Pad: return {slice(g, n.attr[0], n.attr[1], a.rows(), a.cols())};
        case Op::Concat:
            return {need(0) ? slice(g, 0, 0, a.rows(), a.cols()) : Var(),
                    need(1) ? slice(g, n.attr[0] == 0 ? a.rows() : 0, n.attr[0] == 1 ? a.cols() : 0, b.rows(), b.cols())
                            : Var()};
        case Op::GatherRows: return {scatter_rows(g, n.index, a.rows())};
        case Op::ScatterRows: return {gather_rows(g, n.index)};
        case Op::View: return {embed(g, a.rows(), a.cols(), n.attr[0])};
        case Op::Embed: return {view(g, n.attr[0], a.rows(), a.cols())};
        case Op::LogSoftmax: return {g - exp(y) * sum(g, 1)};
        case Op::Softmax: return {y * (g - sum(g * y, 1))};
        case Op::CrossEntropy: return {(softmax(a) - constant(one_hot(n.index, a.cols()))) * g / (double)a.rows()};
        case Op::Leaf: break;
    }
    throw std::logic_error("vjp: leaf has no inputs");
}

}  // namespace awd
