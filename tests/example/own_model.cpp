// own_model.cpp: the README's "Write your own model" example, built and run by `make test`.
#include <cmath>
#include <cstdio>

#include "analysis/spectrum.h"
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
    const LossFunction loss = [&](const Var& out, const std::vector<int>& n) { return mse(out, gather_rows(constant(target), n)); };
    TrainConfig c;
    c.lr = 0.1, c.batch = 16, c.max_epochs = 500, c.stop_loss = 0;
    train(model, loss, data, data, c);
    const Tensor H = hessian([&](const Var& t) { return loss(model.forward_at(t, constant(data.X)), data.y); }, model.theta());
    const EigenPairs e = symmetric_eigen(H, false);
    std::printf("a = %.6f, b = %.6f; Hessian eigenvalues %.6f %.6f\n", model.theta()[0], model.theta()[1], e.values[0], e.values[1]);
}
