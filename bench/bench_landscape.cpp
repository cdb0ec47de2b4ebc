// bench_landscape.cpp: the SGD-landscape workloads against PyTorch float64 peers
// (bench/torch_landscape.py), one thread each: the batched two-valley step (2000 runs,
// exact per-run Hessians, clipped-Hessian noise), and the per-sample gradients and noise
// covariance (top-10 eigenpairs, diagonal) of an MLP 784-50-50-10 on 1000 samples.

#include <cstdio>

#include "analysis/sgd_noise.h"
#include "experiments/sgd/two_valley.h"
#include "autodiff/product.h"
#include "bench/bench.h"
#include "nn/mlp.h"
#include "nn/per_sample.h"

namespace awd::bench {

void bench_landscape() {
    set_threads(1);
    std::printf("\n== SGD landscapes (one thread, best of 3; ratios = peer time / our time) ==\n");
    TwoValleyConfig c;
    c.runs = 2000, c.steps = 50, c.trace_every = 1000;
    const double ours = best_seconds(3, [&] { run_two_valley(c); }) / c.steps;
    auto peer = run_peer_script("bench/torch_landscape.py two-valley 2000 50");
    if (peer.count("seconds_per_step")) {
        const double theirs = std::stod(peer["seconds_per_step"]);
        std::printf("  two-valley step, 2000 runs, Hessian noise   %8.3f ms   torch %8.3f ms   %5.2fx (goal >= 2x)\n", ours * 1e3, theirs * 1e3, theirs / ours);
    } else {
        std::printf("  two-valley step, 2000 runs, Hessian noise   %8.3f ms   (no PyTorch peer: make deps-bench)\n", ours * 1e3);
    }
    Mlp net(MlpSpec::parse("784-50-50-10", Activation::Relu, true));
    Rng rng(1);
    initialize(net.model, Init::He, 1.0, rng);
    const int N = 1000;
    Tensor X(N, 784);
    for (double& v : X.data) v = rng.normal();
    std::vector<int> y(N);
    for (int& label : y) label = (int)rng.index(10);
    Tensor G;
    auto gradients = [&] { G = Tensor(), G = per_sample_gradients(net.model, loss_function(Loss::CrossEntropy), X, y); };
    const double first_g = best_seconds(1, gradients);  // the (N, P) result's pages fault in for the first time
    const double ours_g = best_seconds(3, gradients);
    const double ours_c = ours_g + best_seconds(3, [&] { noise_covariance(G, 10); });
    peer = run_peer_script("bench/torch_landscape.py per-sample 1000");
    if (peer.count("per_sample_seconds")) {
        const double tg = std::stod(peer["per_sample_seconds"]), tc = std::stod(peer["covariance_seconds"]);
        std::printf("  per-sample gradients 784-50-50-10, N 1000   %8.3f s    functorch.vmap(grad) %7.3f s   %5.2fx (goal >= 3x)\n", ours_g, tg, tg / ours_g);
        std::printf("    the first call, its 338 MB result fresh   %8.3f s                                 %5.2fx\n", first_g, tg / first_g);
        std::printf("  ... and the noise covariance (top 10, diag) %8.3f s    torch %7.3f s   %5.2fx\n", ours_c, tc, tc / ours_c);
    } else {
        std::printf("  per-sample gradients 784-50-50-10, N 1000   %8.3f s; with the covariance %.3f s   (no PyTorch/functorch peer)\n", ours_g, ours_c);
    }
}

}  // namespace awd::bench
