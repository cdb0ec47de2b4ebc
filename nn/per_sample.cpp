// per_sample.cpp: one backward pass per sample, each into its own row.
#include "nn/per_sample.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace awd {

void for_each_sample_gradient(Model& model, const LossFunction& loss, const Tensor& X, const std::vector<int>& labels,
                              const std::function<void(int n, const Tensor& g)>& use) {
    if ((int)labels.size() != X.rows)
        throw std::invalid_argument("per-sample gradients: " + std::to_string(labels.size()) + " labels for " +
                                    std::to_string(X.rows) + " samples");
    std::vector<int> label(1);
    for (int n = 0; n < X.rows; ++n) {
        const Tensor x = Tensor::read_only_view(&X.data[(size_t)n * X.cols], 1, X.cols);  // sample n, in place
        label[0] = labels[n];
        model.backward(loss(model.forward(constant_view(x)), label));
        use(n, model.gradient());
    }
}

Tensor per_sample_gradients(Model& model, const LossFunction& loss, const Tensor& X, const std::vector<int>& labels) {
    const size_t p = model.size();
    Tensor G = Tensor::uninitialized(X.rows, (int)p);  // every row written below
    for_each_sample_gradient(model, loss, X, labels,
                             [&](int n, const Tensor& g) { std::copy_n(g.data.data(), p, &G.data[(size_t)n * p]); });
    return G;
}

}  // namespace awd
