// grad.cpp: the backward pass, and Hessian-vector products and Hessians built on it.
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "autodiff/autodiff.h"

namespace awd {

std::vector<Var> vjp(const Var& y, const Var& g);  // the derivative table, ops.cpp

namespace {

// Nodes that carry gradients, ordered so that every node comes after its inputs.
std::vector<Var> topological_order(const Var& output) {
    std::vector<Var> order;
    std::unordered_set<Node*> seen;
    std::vector<std::pair<Var, size_t>> stack;  // (node, index of the next input to visit)
    if (output.requires_grad()) stack.push_back({output, 0}), seen.insert(output.node());
    while (!stack.empty()) {
        auto& [v, next] = stack.back();
        if (next < v.node()->in.size()) {
            const Var& child = v.node()->in[next++];
            if (child.requires_grad() && seen.insert(child.node()).second) stack.push_back({child, 0});
        } else {
            order.push_back(v);
            stack.pop_back();
        }
    }
    return order;
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

    std::unordered_map<Node*, Var> cotangent;
    cotangent[output.node()] = seed ? seed : constant(Tensor::scalar(1.0));
    std::vector<Var> order = topological_order(output);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        const Var& y = *it;
        auto found = cotangent.find(y.node());
        if (found == cotangent.end() || y.node()->op == Op::Leaf) continue;
        std::vector<Var> input_cotangents = vjp(y, found->second);
        for (size_t k = 0; k < input_cotangents.size(); ++k) {
            const Var& x = y.node()->in[k];
            if (!input_cotangents[k] || !x.requires_grad()) continue;
            auto [slot, fresh] = cotangent.try_emplace(x.node(), input_cotangents[k]);
            if (!fresh) slot->second = slot->second + input_cotangents[k];
        }
    }

    std::vector<Var> result;
    for (const Var& x : inputs) {
        auto found = cotangent.find(x.node());
        if (found != cotangent.end() && x.requires_grad()) {
            result.push_back(create_graph ? found->second : constant(found->second.value()));
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
