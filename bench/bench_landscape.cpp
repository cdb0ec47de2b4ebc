// bench_landscape.cpp: the SGD-landscape workloads against PyTorch float64 peers
// (bench/torch_landscape.py) and vectorized NumPy peers (bench/numpy_landscape.py), one thread
// each: the batched two-valley step (2000 runs, exact per-run Hessians, clipped-Hessian noise) and
// the Langevin valley (1000 runs) against NumPy and the machine's bound, the per-run derivatives
// alone, and the per-sample gradients and noise covariance (top-10 eigenpairs, diagonal) of an MLP
// 784-50-50-10 on 1000 samples.

#include <cblas.h>
#include <cmath>
#include <cstdio>

#include "analysis/sgd_noise.h"
#include "autodiff/product.h"
#include "bench/bench.h"
#include "experiments/sgd/two_valley.h"
#include "experiments/sgd/valley.h"
#include "nn/mlp.h"
#include "nn/normal_streams.h"
#include "nn/per_sample.h"

namespace awd::bench {

namespace {

// The machine's bound for a run-step: its counted floating-point operations (below; a division, a
// square root, an add or a multiply each count 1, a fused multiply-add 2) at the machine's dgemm rate on
// one thread. dgemm does all its work in fused multiply-adds; here only the polynomials are fused
// (std::fma), so this bound is out of reach by design.
//  - one normal pair (nn/normal_pair.h): two 52-bit uniforms (2), ln (fdlibm's, its polynomial fused: 30),
//    sqrt(-2 ln u) (2), sin and cos of 2 pi v (to the quarter turn 4, Taylor kernels 36), two products (2): 76
//  - two-valley derivatives (two_valley.cpp): exp_vectorisable (38 with -y / y_d), 1/(y + y_b), 1/(y + y_f) (5),
//    q, v and their y-derivatives (17), u and its derivatives (9), loss (4), gradient (6), Hessian (17): 96
//  - (H+)^(1/2) (sqrt_clipped_closed_form): 22;  the noise and the update: 14
//  - valley derivatives: exp (38 with x / ell), lambda (1), loss and gradient (4): 43;  the update: 8
// The rate is dgemm's per CPU second of this thread (n = 1000), like the run-steps it is compared with:
// on the shared machine the wall-clock figure moves with the load and the CPU-time one does not.
double dgemm_gflops_per_cpu_second() {
    const int n = 1000;
    Tensor A(n, n, 1.0), B(n, n, 0.5), C;
    return 2.0 * n * n * n / best_cpu_seconds(3, [&] { gemm(A, false, B, false, C); }) / 1e9;
}
constexpr double kNormalPairFlops = 76, kTwoValleyFlops = kNormalPairFlops + 96 + 22 + 14,
                 kValleyFlops = kNormalPairFlops + 43 + 8;

// One row: awd's run-steps per CPU second, the NumPy peer's (CPU time too), and the bound's.
void report_runs(const char* label, int R, double ours, const std::map<std::string, std::string>& peer,
                 double flops_per_run_step, double gflops) {
    const double bound = R * flops_per_run_step / (gflops * 1e9);
    std::printf("  %-34s awd %6.2f M/s", label, R / ours / 1e6);
    if (peer.count("cpu_seconds_per_step"))
        std::printf("   numpy %6.2f M/s  %5.2fx (goal >= 10x)", R / std::stod(peer.at("cpu_seconds_per_step")) / 1e6,
                    std::stod(peer.at("cpu_seconds_per_step")) / ours);
    else std::printf("   (no NumPy peer)");
    std::printf("   bound %6.1f M/s (%.0f flops each): awd at %.2fx of it (goal <= 3x)\n", R / bound / 1e6,
                flops_per_run_step, ours / bound);
}

// The landscapes' random draw alone: normal pairs per CPU second for 2000 lanes from NormalPairStreams, from the
// old per-run Rng::normal() (two calls a pair), and from NumPy's standard_normal((2, 2000)) per step.
void report_normal_pairs() {
    const size_t R = 2000;
    const int steps = 500;
    std::vector<double> z1(R), z2(R);
    NormalPairStreams streams(1, R);
    const double ours = best_cpu_seconds(3,
                                         [&] {
                                             for (int t = 0; t < steps; ++t) streams.next(z1.data(), z2.data());
                                         }) /
        steps;
    Rng rng(1);
    const double old = best_cpu_seconds(3,
                                        [&] {
                                            for (int t = 0; t < steps; ++t)
                                                for (size_t r = 0; r < R; ++r)
                                                    z1[r] = rng.normal(), z2[r] = rng.normal();
                                        }) /
        steps;
    std::printf("  normal pairs, 2000 streams: NormalPairStreams %6.1f M pairs/s, Rng::normal x 2 %6.1f M: %5.2fx",
                R / ours / 1e6, R / old / 1e6, old / ours);
    const auto peer = run_peer_script("bench/numpy_landscape.py normals 2000 500");
    if (peer.count("cpu_seconds_per_step")) {
        const double numpy = std::stod(peer.at("cpu_seconds_per_step"));
        std::printf(", numpy %6.1f M: %5.2fx", R / numpy / 1e6, numpy / ours);
    } else std::printf(" (no NumPy peer)");
    std::printf(" (dgemm %.1f GFLOP/s, OpenBLAS %s; CPU time, best of 3)\n", machine_dgemm_gflops(),
                openblas_get_corename());
}

}  // namespace

void bench_landscape() {
    set_threads(1);
    std::printf("\n== SGD landscapes (one thread, best of 3; ratios = peer time / our time) ==\n");
    TwoValleyConfig c;
    c.runs = 2000, c.steps = 50, c.trace_every = 1000;
    const double ours = best_seconds(3, [&] { run_two_valley(c); }) / c.steps;
    auto peer = run_peer_script("bench/torch_landscape.py two-valley 2000 50");
    if (peer.count("seconds_per_step")) {
        const double theirs = std::stod(peer["seconds_per_step"]);
        std::printf("  two-valley step, 2000 runs, Hessian noise   %8.3f ms   torch %8.3f ms   %5.2fx (goal >= 2x)\n",
                    ours * 1e3, theirs * 1e3, theirs / ours);
    } else {
        std::printf("  two-valley step, 2000 runs, Hessian noise   %8.3f ms   (no PyTorch peer: make deps-bench)\n",
                    ours * 1e3);
    }
    const PinnedToOneCpu pinned;  // awd and its NumPy peers on the same CPU (bench.h says why)
    const double gflops = dgemm_gflops_per_cpu_second();
    std::printf(
        "  run-steps per CPU second, one thread (machine dgemm %.1f GFLOP/s (wall) and %.1f GFLOP per CPU second "
        "on this thread, OpenBLAS %s kernels; shared machine: CPU time, best of 3; awd and the NumPy peers on "
        "%s)\n",
        machine_dgemm_gflops(), gflops, openblas_get_corename(), pinned.label().c_str());
    TwoValleyConfig tv;
    tv.runs = 2000, tv.steps = 2000, tv.trace_every = 1000;
    const auto tv_peer = run_peer_script("bench/numpy_landscape.py two-valley 2000 200");
    report_runs("two-valley, 2000 runs, H+ noise", tv.runs, best_cpu_seconds(3, [&] { run_two_valley(tv); }) / tv.steps,
                tv_peer, kTwoValleyFlops, gflops);
    tv.derivatives = DerivativeSource::Autodiff, tv.steps = 200;
    report_runs("  the same, --derivatives autodiff", tv.runs,
                best_cpu_seconds(3, [&] { run_two_valley(tv); }) / tv.steps, tv_peer, kTwoValleyFlops, gflops);
    ValleyConfig va;
    va.runs = 1000, va.steps = 4000, va.trace_every = 1000;
    report_runs("valley (Langevin), 1000 runs", va.runs, best_cpu_seconds(3, [&] { run_valley(va); }) / va.steps,
                run_peer_script("bench/numpy_landscape.py valley 1000 400"), kValleyFlops, gflops);
    const auto check = run_peer_script("bench/numpy_landscape.py check build/awd");
    std::printf(
        "  the NumPy peers and awd landscape simulate the same process (P_flat, drift within 4 standard errors): %s\n",
        check.count("numpy_check") ? check.at("numpy_check").c_str() : "not run (no NumPy or no build/awd)");
    {  // the per-run derivatives alone: eager graph, recorded plan, closed form
        Model m = landscape_model("TwoValley", 2000, 2,
                                  [&](const Var& th, const Var&) { return two_valley_loss(th, tv.params); });
        for (int r = 0; r < 2000; ++r) m.theta()[2 * r] = r % 2 == 0 ? 0.01 : -0.01, m.theta()[2 * r + 1] = 5.0;
        RunDerivativesPlan replayed(m, true);
        const double eager = best_cpu_seconds(3,
                                              [&] {
                                                  for (int k = 0; k < 50; ++k) run_derivatives(m, Var(), true);
                                              }) /
            50;
        const double plan = best_cpu_seconds(3,
                                             [&] {
                                                 for (int k = 0; k < 50; ++k) replayed(nullptr);
                                             }) /
            50;
        std::vector<double> x(2000), y(2000, 5.0);
        for (int r = 0; r < 2000; ++r) x[r] = r % 2 == 0 ? 0.01 : -0.01;
        RunDerivatives2 out(2000);
        const double closed =
            best_cpu_seconds(3,
                             [&] {
                                 for (int k = 0; k < 500; ++k)
                                     two_valley_derivatives(tv.params, x.data(), y.data(), 0, 2000, true, out);
                             }) /
            500;
        std::printf(
            "  two-valley loss, gradients, Hessians of 2000 runs: eager graph %.3f ms, replayed plan %.3f ms (%.2fx), "
            "closed form %.4f ms (%.0fx the plan)\n",
            eager * 1e3, plan * 1e3, eager / plan, closed * 1e3, plan / closed);
    }
    report_normal_pairs();
    Mlp net(MlpSpec::parse("784-50-50-10", Activation::Relu, true));
    Rng rng(1);
    initialize(net.model, Init::He, 1.0, rng);
    const int N = 1000;
    Tensor X(N, 784);
    for (double& v : X.data) v = rng.normal();
    std::vector<int> y(N);
    for (int& label : y) label = (int)rng.index(10);
    Tensor G;
    auto gradients = [&] {
        G = Tensor(), G = per_sample_gradients(net.model, loss_function(Loss::CrossEntropy), X, y);
    };
    const double first_g = best_seconds(1, gradients);  // the (N, P) result's pages fault in for the first time
    const double ours_g = best_seconds(3, gradients);
    const double ours_c = ours_g + best_seconds(3, [&] { noise_covariance(G, 10); });
    peer = run_peer_script("bench/torch_landscape.py per-sample 1000");
    if (peer.count("per_sample_seconds")) {
        const double tg = std::stod(peer["per_sample_seconds"]), tc = std::stod(peer["covariance_seconds"]);
        std::printf(
            "  per-sample gradients 784-50-50-10, N 1000   %8.3f s    functorch.vmap(grad) %7.3f s   %5.2fx (goal >= "
            "3x)\n",
            ours_g, tg, tg / ours_g);
        std::printf("    the first call, its 338 MB result fresh   %8.3f s                                 %5.2fx\n",
                    first_g, tg / first_g);
        std::printf("  ... and the noise covariance (top 10, diag) %8.3f s    torch %7.3f s   %5.2fx\n", ours_c, tc,
                    tc / ours_c);
    } else {
        std::printf(
            "  per-sample gradients 784-50-50-10, N 1000   %8.3f s; with the covariance %.3f s   (no PyTorch/functorch "
            "peer)\n",
            ours_g, ours_c);
    }
}

}  // namespace awd::bench
