// grad.cpp: the backward pass, and Hessian-vector products and Hessians built on it.
#include <stdexcept>

#include "autodiff/autodiff.h"

namespace awd {

std::vector<Var> vjp(const Var& y, const Var& g);  // the derivative table, ops.cpp

namespace {

thread_local unsigned g_pass = 0;  // numbers the backward passes, to mark visited nodes

// Nodes that carry gradients, ordered so that every node comes after its inputs.
std::vector<Var> topological_order(const Var& output, unsigned pass) {
    std::vector<Var> order;
    std::vector<std::pair<Var, size_t>> stack;  // (node, index of the next input to visit)
    if (output.requires_grad()) stack.push_back({output, 0}), output.node()->visit = pass;
    while (!stack.empty()) {
        auto& [v, next] = stack.back();
        if (next < v.node()->in.size()) {
            const Var& child = v.node()->in[next++];
            if (child.requires_grad() && child.node()->visit != pass) child.node()->visit = pass, stack.push_back({child, 0});
        } else {
            order.push_back(v);
            stack.pop_back();
        }
    }
    return order;
}

// A constant over t, not scanned again: its values were checked by the op that made them.
Var checked_constant(Tensor t) {
    auto n = std::make_shared<Node>();
    n->value = std::move(t);
    return Var(n);
}

// Adds `contribution` to the cotangent of x. Without a graph the sum is formed in place in a
// buffer this pass owns, so no node is made per addition. A view's contribution goes straight
// into the window of its flat input's cotangent: no tensor of the flat size per view.
void accumulate(std::vector<Var>& cotangents, Node* x, const Var& contribution, bool create_graph) {
    if (x->slot < 0) {  // the first contribution; copied unless no one else holds it
        const bool adopt = create_graph || (contribution.shared().use_count() == 1 && !contribution.value().data.is_view());
        x->slot = (int)cotangents.size();
        cotangents.push_back(adopt ? contribution : checked_constant(contribution.value()));
        return;
    }
    Var& sum = cotangents[x->slot];
    if (create_graph) {
        sum = sum + contribution;
        return;
    }
    Tensor& s = sum.node()->value;
    const Tensor& c = contribution.value();
    for (size_t k = 0; k < s.size(); ++k) s[k] += c[k];
}

void accumulate_view(std::vector<Var>& cotangents, Node* flat, const Node& view, const Tensor& g) {
    if (flat->slot < 0) flat->slot = (int)cotangents.size(), cotangents.push_back(checked_constant(Tensor(flat->value.rows, flat->value.cols)));
    double* s = cotangents[flat->slot].node()->value.data.data() + view.attr[0];
    for (size_t k = 0; k < g.size(); ++k) s[k] += g[k];
}

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

    std::unique_ptr<NoGradGuard> no_graph;
    if (!create_graph) no_graph = std::make_unique<NoGradGuard>();

    const unsigned pass = ++g_pass;
    const std::vector<Var> order = topological_order(output, pass);
    std::vector<Var> cotangents;  // indexed by Node::slot
    struct ClearSlots {           // leaves the graph as it was, also when an op throws
        const std::vector<Var>& order;
        ~ClearSlots() {
            for (const Var& v : order) v.node()->slot = -1;
        }
    } clear_slots{order};
    if (!order.empty()) accumulate(cotangents, output.node(), seed ? seed : constant(Tensor::scalar(1.0)), create_graph);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        Node* y = it->node();
        if (y->slot < 0 || y->op == Op::Leaf) continue;
        const Var g = cotangents[y->slot];
        if (!create_graph && y->op == Op::View) {
            accumulate_view(cotangents, y->in[0].node(), *y, g.value());
            continue;
        }
        std::vector<Var> input_cotangents = vjp(*it, g);
        for (size_t k = 0; k < y->in.size(); ++k) {
            Node* x = y->in[k].node();
            if (input_cotangents[k] && x->requires_grad) accumulate(cotangents, x, input_cotangents[k], create_graph);
        }
    }

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

namespace {

struct GradientGraph {
    Var theta, g;  // g = df/dtheta, itself a differentiable graph
};

GradientGraph gradient_graph(const ScalarFunction& f, const Tensor& theta) {
    Var th = variable(theta);
    Var loss = f(th);
    if (!loss || loss.value().size() != 1)
        throw std::invalid_argument("hessian: the function returns " + (loss ? loss.value().shape() : std::string("nothing")) +
                                    ", not a scalar");
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
