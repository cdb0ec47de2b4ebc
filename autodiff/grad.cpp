// grad.cpp: the backward pass, and Hessian-vector products and Hessians built on it.
#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "autodiff/autodiff.h"
#include "autodiff/tape.h"

namespace awd {

std::array<Var, 3> vjp(const Var& y, const Var& g, unsigned skip);  // the derivative table, ops.cpp
extern thread_local bool g_scan_op_results;                         // ops.cpp

namespace {

thread_local unsigned g_pass = 0;  // numbers the backward passes, to mark visited nodes

// Nodes that carry gradients, ordered so that every node comes after its inputs. The entries
// point at the Vars inside the graph (an op's inputs, and `output`), which the caller's output
// keeps alive: no reference count is touched, as those atomic counts would dominate the
// backward pass of a small model.
std::vector<const Var*> topological_order(const Var& output, unsigned pass) {
    std::vector<const Var*> order;
    std::vector<std::pair<const Var*, size_t>> stack;  // (node, index of the next input to visit)
    order.reserve(64), stack.reserve(64);              // small graphs (a toy model's step) grow no further
    if (output.requires_grad()) stack.push_back({&output, 0}), output.node()->visit = pass;
    while (!stack.empty()) {
        auto& [v, next] = stack.back();
        if (next < v->node()->in.size()) {
            const Var& child = v->node()->in[next++];
            if (child.requires_grad() && child.node()->visit != pass)
                child.node()->visit = pass, stack.push_back({&child, 0});
        } else {
            order.push_back(v);
            stack.pop_back();
        }
    }
    return order;
}

// A constant over t, not scanned again: the op that made its values checked them, or grad()
// checks what it returns.
Var checked_constant(Tensor t) {
    auto n = new_node();
    n->value = std::move(t);
    return Var(std::move(n));
}

// True when no one but v holds its node (and the plan being recorded, which keeps every node made).
bool sole_owner(const Var& v) {
    long kept = 0;
    if (g_tape) kept = std::find(g_tape->nodes.rbegin(), g_tape->nodes.rend(), v.shared()) != g_tape->nodes.rend();
    return v.shared().use_count() == 1 + kept;
}

// Appends the in-place work of a backward pass without a graph to the plan being recorded, if any.
void tape_step(TapeStep::Kind kind, double* dst, const double* src, size_t n) {
    if (!g_tape || n == 0) return;
    TapeStep s;
    s.kind = kind, s.dst = dst, s.src = src, s.n = n;
    g_tape->steps.push_back(s);
}

// One backward pass. Cotangents live in `cotangents`, indexed by Node::slot. A flat input
// reached only through views (a model's theta) gets an uninitialised buffer: each window's first
// contribution is copied in, and what no view wrote is zeroed once at the end, so the buffer is
// never zero-filled and then added to in full. Each window is checked for NaN/Inf as it is
// written (the check rides along the copy); a flat cotangent written only that way needs no
// second scan when grad() checks what it returns.
struct BackwardPass {
    explicit BackwardPass(bool with_graph) : create_graph(with_graph) {}
    const bool create_graph;
    std::vector<Var> cotangents;
    struct Windows {
        Node* flat;
        std::vector<std::pair<size_t, size_t>> written;  // [begin, end), sorted, disjoint
        bool finite = true;                              // every value written so far
    };
    std::vector<Windows> partly_written;
    std::vector<const Node*> checked_results;  // cotangents known finite in full

    // s[k] = c[k], or s[k] += c[k], for k < n; true when every value written is finite.
    template <bool add>
    static bool write_checked(double* __restrict s, const double* __restrict c, size_t n) {
        tape_step(add ? TapeStep::Kind::Accumulate : TapeStep::Kind::Copy, s, c, n);
        uint64_t bad = 0;
        for (size_t k = 0; k < n; ++k) {
            const double v = add ? s[k] + c[k] : c[k];
            s[k] = v, bad |= non_finite_bit(v);
        }
        return bad == 0;
    }

    Windows* windows_of(Node* flat) {
        for (Windows& w : partly_written)
            if (w.flat == flat) return &w;
        return nullptr;
    }

    static void mark_written(Windows& w, size_t lo, size_t hi) {
        auto& spans = w.written;
        spans.insert(std::upper_bound(spans.begin(), spans.end(), std::make_pair(lo, hi)), {lo, hi});
        size_t kept = 0;  // merge overlapping or touching neighbours, in place
        for (size_t k = 1; k < spans.size(); ++k)
            if (spans[k].first <= spans[kept].second)
                spans[kept].second = std::max(spans[kept].second, spans[k].second);
            else spans[++kept] = spans[k];
        spans.resize(kept + 1);
    }

    // Zeroes the entries of [lo, hi) that no window covers yet, then marks [lo, hi) written.
    static void zero_unwritten(double* s, Windows& w, size_t lo, size_t hi) {
        size_t next = lo;
        for (const auto& [b, e] : w.written) {
            if (b >= hi) break;
            if (b > next) std::fill(s + next, s + b, 0.0), tape_step(TapeStep::Kind::Zero, s + next, nullptr, b - next);
            next = std::max(next, e);
        }
        if (next < hi) std::fill(s + next, s + hi, 0.0), tape_step(TapeStep::Kind::Zero, s + next, nullptr, hi - next);
        mark_written(w, lo, hi);
    }

    // Zeroes what no window wrote; `final` at the end of the pass, when the whole buffer is known.
    void complete(Node* flat, bool final) {
        Windows* w = windows_of(flat);
        if (!w) return;
        Tensor& s = cotangents[flat->slot].node()->value;
        zero_unwritten(s.data.data(), *w, 0, s.size());
        if (final && w->finite) checked_results.push_back(cotangents[flat->slot].node());
        partly_written.erase(partly_written.begin() + (w - partly_written.data()));
    }

    // Adds `contribution` to the cotangent of x. Without a graph the sum is formed in place in a
    // buffer this pass owns, so no node is made per addition.
    void accumulate(Node* x, Var contribution) {
        if (x->slot < 0) {  // the first contribution; copied unless no one else holds it
            const bool adopt = create_graph || (sole_owner(contribution) && !contribution.value().data.is_view());
            x->slot = (int)cotangents.size();
            if (adopt) {
                cotangents.push_back(std::move(contribution));
            } else {
                cotangents.push_back(checked_constant(contribution.value()));
                tape_step(TapeStep::Kind::Copy, cotangents.back().node()->value.data.data(),
                          contribution.value().data.data(), contribution.value().size());
            }
            return;
        }
        Var& sum = cotangents[x->slot];
        if (create_graph) {
            sum = sum + contribution;
            return;
        }
        complete(x, false);                                    // a whole-buffer add: the result gets scanned at the end
        double* __restrict s = sum.node()->value.data.data();  // a buffer of this pass: no one else's
        const double* __restrict c = contribution.value().data.data();
        for (size_t k = 0, n = contribution.value().size(); k < n; ++k) s[k] += c[k];
        tape_step(TapeStep::Kind::Accumulate, s, c, contribution.value().size());
    }

    // The cotangent buffer of `flat`, made on first use, and whether [begin, end) of it is still
    // unwritten: then the caller stores there; otherwise it adds (what no one wrote in the window
    // is zeroed first). `w` is the flat's window record, or null once the buffer is whole.
    double* window(Node* flat, size_t begin, size_t end, bool& fresh, Windows*& w) {
        if (flat->slot < 0) {
            flat->slot = (int)cotangents.size();
            cotangents.push_back(checked_constant(Tensor::uninitialized(flat->value.rows, flat->value.cols)));
            partly_written.push_back({flat, {}});
        }
        double* s = cotangents[flat->slot].node()->value.data.data();
        w = windows_of(flat), fresh = false;
        if (w) {
            fresh = std::none_of(w->written.begin(), w->written.end(),
                                 [&](const auto& span) { return span.first < end && begin < span.second; });
            if (fresh) mark_written(*w, begin, end);
            else zero_unwritten(s, *w, begin, end);
        }
        return s;
    }

    // A view's cotangent goes straight into its window of the flat input's cotangent: no tensor
    // of the flat size per view.
    void accumulate_view(Node* flat, const Node& view, const Tensor& g) {
        const size_t begin = (size_t)view.attr[0];
        bool fresh;
        Windows* w;
        double* s = window(flat, begin, begin + g.size(), fresh, w) + begin;
        const bool finite =
            fresh ? write_checked<false>(s, g.data.data(), g.size()) : write_checked<true>(s, g.data.data(), g.size());
        if (w) w->finite &= finite;
    }

    // Linear's weight gradient g^T x, written by one product straight into the flat gradient
    // when the weight is a view of it: no (n_out, n_in) temporary and no copy (for one example that
    // copy is a large part of a step). Returns false when the weight is not such a view.
    bool linear_weight_into_flat(const Node& y, const Var& g) {
        const Var& W = y.in[1];
        if (W.node()->op != Op::View || !W.requires_grad() || !W.node()->in[0].requires_grad()) return false;
        const size_t begin = (size_t)W.node()->attr[0], n = W.value().size();
        bool fresh;
        Windows* w;
        double* s = window(W.node()->in[0].node(), begin, begin + n, fresh, w) + begin;
        Tensor target = Tensor::view(s, W.rows(), W.cols());
        gemm(g.value(), true, y.in[0].value(), false, target, 1.0, fresh ? 0.0 : 1.0);
        if (g_tape) {
            TapeStep step;
            step.kind = TapeStep::Kind::GemmWindow, step.dst = s, step.g = g.node(), step.x = y.in[0].node();
            step.rows = W.rows(), step.cols = W.cols(), step.flag = !fresh;
            g_tape->steps.push_back(step);
        }
        if (w) w->finite &= all_finite(s, n);
        return true;
    }

    std::vector<Var> run(const Var& output, const std::vector<Var>& inputs, const Var& seed) {
        const unsigned pass = ++g_pass;
        const std::vector<const Var*> order = topological_order(output, pass);
        struct ClearSlots {  // leaves the graph as it was, also when an op throws
            const std::vector<const Var*>& order;
            ~ClearSlots() {
                for (const Var* v : order) v->node()->slot = -1, v->node()->leads_to_input = false;
            }
        } clear_slots{order};
        // Only what leads to an input is differentiated: grad(f, {x}) computes no weight
        // gradients, and grad(f, {theta}) none with respect to the data. Inputs come first in
        // `order`, so one sweep marks every node above an input.
        for (const Var& x : inputs)
            if (x.node()->visit == pass) x.node()->leads_to_input = true;
        for (const Var* v : order)
            for (const Var& x : v->node()->in)
                if (x.node()->leads_to_input) v->node()->leads_to_input = true;
        cotangents.reserve(order.size());  // at most one per node
        if (!order.empty()) accumulate(output.node(), seed ? seed : constant(Tensor::scalar(1.0)));
        for (auto it = order.rbegin(); it != order.rend(); ++it) {
            Node* y = (*it)->node();
            if (y->slot < 0 || y->op == Op::Leaf || !y->leads_to_input) continue;
            const Var& g = cotangents[y->slot];  // stays put: `cotangents` never outgrows its reserve
            if (!create_graph && y->op == Op::View) {
                accumulate_view(y->in[0].node(), *y, g.value());
                continue;
            }
            unsigned skip = 0;  // bit k: input k is not differentiated here
            for (size_t k = 0; k < y->in.size(); ++k)
                if (!y->in[k].node()->leads_to_input) skip |= 1u << k;
            if (!create_graph && y->op == Op::Linear && !(skip & 2u) && linear_weight_into_flat(*y, g)) skip |= 1u << 1;
            std::array<Var, 3> input_cotangents = vjp(**it, g, skip);
            for (size_t k = 0; k < y->in.size(); ++k) {
                Node* x = y->in[k].node();
                if (input_cotangents[k] && !(skip >> k & 1u)) accumulate(x, std::move(input_cotangents[k]));
            }
        }
        while (!partly_written.empty()) complete(partly_written.back().flat, true);

        std::vector<Var> result;
        for (const Var& x : inputs) {
            Node* node = x.node();
            if (node->visit == pass && node->slot >= 0) {
                result.push_back(cotangents[node->slot]);
            } else {
                result.push_back(constant(Tensor(x.rows(), x.cols())));  // output does not depend on x
            }
        }
        return result;
    }
};

struct OpResultScanning {  // while alive, ops skip (or resume) scanning their results
    explicit OpResultScanning(bool on) : previous(g_scan_op_results) { g_scan_op_results = on; }
    ~OpResultScanning() { g_scan_op_results = previous; }
    bool previous;
};

}  // namespace

std::vector<Var> grad(const Var& output, const std::vector<Var>& inputs, bool create_graph, const Var& seed) {
    if (!output) throw std::invalid_argument("grad: output is an empty Var");
    if (!seed && output.value().size() != 1)
        throw std::invalid_argument("grad: output is " + output.value().shape() +
                                    ", not a scalar; pass a seed (the output's cotangent) of that shape");
    if (seed && !seed.value().same_shape(output.value()))
        throw std::invalid_argument("grad: seed " + seed.value().shape() + " does not match output " +
                                    output.value().shape());
    for (const Var& x : inputs)
        if (!x) throw std::invalid_argument("grad: an input is an empty Var");
    if (create_graph) return BackwardPass(true).run(output, inputs, seed);  // every op scans its own result

    // Without a graph, scan only the results: one pass over the gradient instead of one per op.
    NoGradGuard no_graph;
    BackwardPass pass(false);
    std::vector<Var> result;
    {
        OpResultScanning off(false);
        result = pass.run(output, inputs, seed);
    }
    for (size_t i = 0; i < result.size(); ++i) {
        const Tensor& g = result[i].value();
        if (g_tape) {
            TapeStep step;
            step.kind = TapeStep::Kind::Check, step.src = g.data.data(), step.n = g.size(), step.input = (int)i,
            step.node = result[i].node();
            g_tape->steps.push_back(step);
        }
        const auto& known = pass.checked_results;
        if (std::find(known.begin(), known.end(), result[i].node()) != known.end() ||
            all_finite(g.data.data(), g.size()))
            continue;
        const auto bad = std::find_if(g.data.begin(), g.data.end(), [](double v) { return !std::isfinite(v); });
        BackwardPass(false).run(output, inputs, seed);  // again, each op scanning: throws naming the op that made it
        const size_t k = (size_t)(bad - g.data.begin());
        std::ostringstream why;
        why << "grad: the gradient with respect to input " << i << " " << g.shape() << " has non-finite entry " << *bad
            << " at [" << k / g.cols << "," << k % g.cols << "] (a sum of finite contributions overflowed)";
        throw NonFiniteError(why.str(), (int)i, k);
    }
    return result;
}

namespace {

struct GradientGraph {
    Var theta, g;  // g = df/dtheta, itself a differentiable graph
};

GradientGraph gradient_graph(const ScalarFunction& f, const Tensor& theta) {
    Var th = variable(theta);
    Var loss = f(th);
    if (!loss || loss.value().size() != 1)
        throw std::invalid_argument("hessian: the function returns " +
                                    (loss ? loss.value().shape() : std::string("nothing")) + ", not a scalar");
    return {th, grad(loss, {th}, true)[0]};
}

}  // namespace

Tensor gradient(const ScalarFunction& f, const Tensor& theta) {
    Var th = variable(theta);
    return grad(f(th), {th})[0].value();
}

Tensor hvp(const ScalarFunction& f, const Tensor& theta, const Tensor& v) {
    if (!v.same_shape(theta))
        throw std::invalid_argument("hvp: direction " + v.shape() + " does not match theta " + theta.shape());
    GradientGraph gg = gradient_graph(f, theta);
    return grad(gg.g, {gg.theta}, false, constant(v))[0].value();  // d(g . v)/dtheta = H v
}

Tensor hessian(const ScalarFunction& f, const Tensor& theta) { return hessian(f, theta, 0, (int)theta.size()); }

Tensor hessian(const ScalarFunction& f, const Tensor& theta, int begin, int end) {
    if (begin < 0 || end > (int)theta.size() || begin >= end)
        throw std::invalid_argument("hessian: block [" + std::to_string(begin) + ", " + std::to_string(end) +
                                    ") is not inside theta " + theta.shape());
    GradientGraph gg = gradient_graph(f, theta);
    const int p = end - begin;
    Tensor H(p, p), e(theta.rows, theta.cols);
    for (int i = 0; i < p; ++i) {  // row i of H: the gradient of g_i, one backward pass
        e[begin + i] = 1.0;
        const Tensor row = grad(gg.g, {gg.theta}, false, constant(e))[0].value();
        e[begin + i] = 0.0;
        for (int j = 0; j < p; ++j) H(i, j) = row[begin + j];
    }
    return H;
}

}  // namespace awd
