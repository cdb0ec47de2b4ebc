// cmd_check_hessian.cpp: `awd check-hessian`, the exact Hessian of a small random MLP by
// reverse-over-reverse autodiff, checked against central differences of its gradient.
#include <chrono>
#include <cstdio>

#include "autodiff/finite_differences.h"
#include "experiments/common/commands.h"
#include "experiments/common/flags.h"
#include "nn/mlp.h"

namespace awd {

namespace {

struct CheckOptions {
    std::string arch = "4-6-3";
    int samples = 20;
    uint64_t seed = 0;
};

void run(const CheckOptions& o) {
    const MlpSpec spec = MlpSpec::parse(o.arch, Activation::Tanh, true);
    const int p = (int)spec.n_params();
    std::mt19937_64 rng(o.seed);
    const Tensor theta = random_tensor(p, 1, rng, -0.8, 0.8);
    const Tensor X = random_tensor(o.samples, spec.widths[0], rng, -2.0, 2.0);
    std::vector<int> y(o.samples);
    for (int& label : y) label = (int)(rng() % spec.widths.back());
    const Model model = make_mlp(spec);
    ScalarFunction loss = [&](const Var& th) {
        return loss_graph(spec.loss, model.forward_at(th, constant_view(X)), y);
    };

    auto t0 = std::chrono::steady_clock::now();
    const Tensor H = hessian(loss, theta);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const Tensor H_fd = central_difference_hessian(loss, theta);

    std::printf("exact Hessian of a %s tanh MLP, cross-entropy, N = %d random samples, seed %llu\n", o.arch.c_str(),
                o.samples, (unsigned long long)o.seed);
    std::printf("  parameters P                          %d\n", p);
    std::printf("  loss                                  %.12f\n", value_of(loss, theta));
    std::printf("  |H|_F                                 %.6e\n", frobenius_norm(H));
    std::printf("  |H - H_fd|_F / |H|_F  (central diff.) %.2e\n", relative_difference(H, H_fd));
    std::printf("  |H - H^T|_F / |H|_F                   %.2e\n", symmetry_residual(H));
    std::printf("  seconds (reverse-over-reverse)        %.4f\n", seconds);
    std::printf("finite differences agree to O(h^2) = 1e-10 at best; the exact Hessian is symmetric to rounding.\n");
}

}  // namespace

void add_check_hessian_command(CLI::App& app) {
    auto options = std::make_shared<CheckOptions>();
    CLI::App* cmd =
        app.add_subcommand("check-hessian", "exact Hessian of a small random MLP, checked against finite differences");
    cmd->add_option("--arch", options->arch, "layer widths, e.g. 4-6-3")->capture_default_str();
    cmd->add_option("--samples", options->samples, "number of random samples")
        ->check(integer_in(1, 1000000))
        ->capture_default_str();
    cmd->add_option("--seed", options->seed, "random seed")->check(seed_range())->capture_default_str();
    cmd->callback([options] { run(*options); });
}

}  // namespace awd
