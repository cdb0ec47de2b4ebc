// own_model.cpp: the README's "Write your own model" example, built and run by `make test`.
#include <cmath>
#include <cstdio>

#include "analysis/spectrum.h"
#include "autodiff/plan.h"
#include "optim/train.h"

using namespace awd;

// y = a sin(b x): two parameters, declared once; forward reads them as views of theta.
struct Wave : Module {
    int ab = -1;
    void declare(ParameterDeclarations& d, const std::string& prefix) override { ab = d.add(prefix + "ab", 1, 2); }
    Var forward(const Var& x, const ForwardContext& ctx) const override {  // x is (N, 1)
        const Var p = ctx.parameter(ab);
        return slice(p, 0, 0, 1, 1) * sin(slice(p, 0, 1, 1, 1) * x);
    }
    std::string describe() const override { return "Wave"; }
};

int main() {
    Model model(std::make_unique<Wave>());
    model.theta()[0] = 1.0, model.theta()[1] = 1.3;  // start at a = 1, b = 1.3
    Dataset data;  // 64 samples of 2 sin(1.5 x); a regression's "labels" are sample numbers
    data.X = Tensor(64, 1);
    Tensor target(64, 1);
    for (int n = 0; n < 64; ++n) data.X[n] = n / 32.0, target[n] = 2 * std::sin(1.5 * data.X[n]), data.y.push_back(n);
    const LossFunction loss = [&](const Var& out, const std::vector<int>& n) {
        return mse(out, gather_rows(constant(target), n));
    };
    TrainConfig c;
    c.lr = 0.1, c.batch = 16, c.max_epochs = 500, c.stop_loss = 0;
    train(model, loss, data, data, c);
    const Tensor H =
        hessian([&](const Var& t) { return loss(model.forward_at(t, constant(data.X)), data.y); }, model.theta());
    const EigenPairs e = symmetric_eigen(H, false);
    std::printf("a = %.6f, b = %.6f; Hessian eigenvalues %.6f %.6f\n", model.theta()[0], model.theta()[1], e.values[0],
                e.values[1]);
    // The full-batch loss and gradient recorded once, then replayed at new parameters with no graph
    // built (autodiff/plan.h, autodiff/CAPTURE.md): the same bytes as the eager gradient.
    Tensor theta(2, 1, std::vector<double>{1.0, 1.45});
    Captured step = capture(
        [&](const std::vector<Var>& in) {
            const Var L = mse(model.forward_at(in[0], in[1]), constant(target));
            return std::vector<Var>{L, grad(L, {in[0]})[0]};
        },
        {variable(theta), constant(data.X)});
    for (int k = 0; k < 300; ++k) {  // full-batch gradient descent
        const Tensor& g = step.run({&theta, &data.X}).output(1);
        for (int i = 0; i < 2; ++i) theta[i] -= 0.1 * g[i];
    }
    const Tensor eager =
        gradient([&](const Var& t) { return mse(model.forward_at(t, constant(data.X)), constant(target)); }, theta);
    const bool same = step.run({&theta, &data.X}).output(1).data == eager.data;
    std::printf("replayed descent from (1, 1.45): a = %.4f, b = %.4f; replayed gradient == eager: %s\n", theta[0],
                theta[1], same ? "yes" : "no");
}
