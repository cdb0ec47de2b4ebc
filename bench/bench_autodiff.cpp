// bench_autodiff.cpp: the plain reverse-over-reverse path on MLP 64-32-10 tanh, cross-entropy,
// N = 1000 random samples (P = 2410): one gradient, one Hessian-vector product, the full Hessian.
#include <cstdio>

#include "autodiff/finite_differences.h"
#include "bench/bench.h"
#include "nn/mlp.h"

namespace awd::bench {

void bench_autodiff() {
    const MlpSpec spec = MlpSpec::parse("64-32-10", Activation::Tanh, true);
    const int n = 1000, p = (int)spec.n_params();
    std::mt19937_64 rng(0);
    const Tensor theta = random_tensor(p, 1, rng, -0.2, 0.2), v = random_tensor(p, 1, rng);
    const Tensor X = random_tensor(n, 64, rng, -2.0, 2.0);
    std::vector<int> y(n);
    for (int& label : y) label = (int)(rng() % 10);
    const Model model = make_mlp(spec);
    ScalarFunction loss = [&](const Var& th) {
        return loss_graph(spec.loss, model.forward_at(th, constant_view(X)), y);
    };

    const double t_grad = best_seconds(5, [&] { gradient(loss, theta); });
    const double t_hvp = best_seconds(5, [&] { hvp(loss, theta, v); });
    const double t_hessian = best_seconds(1, [&] { hessian(loss, theta); });
    std::printf("\n== autodiff, plain reverse-over-reverse: MLP 64-32-10 tanh, cross-entropy, N = %d, P = %d ==\n", n,
                p);
    std::printf("  gradient            %10.5f s\n", t_grad);
    std::printf("  HVP                 %10.5f s   HVP / gradient        = %.2f\n", t_hvp, t_hvp / t_grad);
    std::printf("  full Hessian        %10.3f s   Hessian / (P x HVP)   = %.2f\n", t_hessian, t_hessian / (p * t_hvp));
}

}  // namespace awd::bench
