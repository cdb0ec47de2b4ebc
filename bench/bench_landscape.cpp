// bench_landscape.cpp: the SGD-landscape workloads against PyTorch float64 peers
// (bench/torch_landscape.py), one thread each: the batched two-valley step (2000 runs,
// exact per-run Hessians, clipped-Hessian noise), and the per-sample gradients and noise
// covariance (top-10 eigenpairs, diagonal) of an MLP 784-50-50-10 on 1000 samples.

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

// The machine's bound for one two-valley run-step as awd defines it (same bytes): a hand-written
// loop over the runs with the closed-form gradient and Hessian (the NumPy peer's formulas), the
// same per-run noise (two Box-Muller normals, (H+)^(1/2) by sqrt_clipped: the libm calls awd must
// make) and the update. No graph, no buffers between steps: what a compiled closed form costs.
double two_valley_bound_seconds_per_step(int R, int steps) {
    const TwoValleyParams p;
    std::vector<double> x(R), y(R, 5.0);
    for (int r = 0; r < R; ++r) x[r] = r % 2 == 0 ? 0.01 : -0.01;
    Rng rng(1);
    const double eta = 0.01, scale = std::sqrt(2 * 0.1), c1 = p.f0 * (p.x1 / p.x0) * (p.x1 / p.x0),
                 c2 = p.f0 * (p.x2 / p.x0) * (p.x2 / p.x0);
    return best_cpu_seconds(
               3,
               [&] {
                   for (int s = 0; s < steps; ++s)
                       for (int r = 0; r < R; ++r) {
                           const bool flat = x[r] >= 0;
                           const double a = flat ? p.x1 : -p.x2, c = flat ? c1 : c2, X = x[r], Y = y[r],
                                        den = Y + p.y_b;
                           const double q = Y / den, q1 = p.y_b / (den * den), q2 = -2 * p.y_b / (den * den * den);
                           const double rr = (Y + p.y_f) / den, r1 = (p.y_b - p.y_f) / (den * den),
                                        r2 = -2 * (p.y_b - p.y_f) / (den * den * den);
                           const double w = c * rr * rr, w1 = 2 * c * rr * r1, w2 = 2 * c * (r1 * r1 + rr * r2);
                           const double u = X * X - 2 * a * q * X, uy = -2 * a * X * q1, uyy = -2 * a * X * q2,
                                        e = std::exp(-Y / p.y_d);
                           const double gx = (2 * X - 2 * a * q) / w,
                                        gy = uy / w - u * w1 / (w * w) - p.L_d / p.y_d * e;
                           const Sym2 H{2 / w, (-2 * a * q1 * w - (2 * X - 2 * a * q) * w1) / (w * w),
                                        uyy / w - 2 * uy * w1 / (w * w) - u * w2 / (w * w) +
                                            2 * u * w1 * w1 / (w * w * w) + p.L_d / (p.y_d * p.y_d) * e};
                           const double z1 = rng.normal(), z2 = rng.normal();
                           const Sym2 S = sqrt_clipped(H);
                           x[r] = X - eta * (gx + scale * (S.a * z1 + S.b * z2)),
                           y[r] = Y - eta * (gy + scale * (S.b * z1 + S.c * z2));
                       }
               }) /
        steps;
}

// The same for the Langevin valley: lambda = exp(x / ell), the closed-form gradient, two normals.
double valley_bound_seconds_per_step(int R, int steps) {
    std::vector<double> x(R, 0.0), y(R, 0.0);
    Rng rng(1);
    const double eta = 0.01, sd_along = std::sqrt(2 * 1e-4 / eta), sd_across = std::sqrt(2 * 1e-3 / eta);
    return best_cpu_seconds(
               3,
               [&] {
                   for (int s = 0; s < steps; ++s)
                       for (int r = 0; r < R; ++r) {
                           const double lambda = std::exp(x[r]), gx = 0.5 * lambda * y[r] * y[r], gy = lambda * y[r];
                           x[r] -= eta * (gx + sd_along * rng.normal()), y[r] -= eta * (gy + sd_across * rng.normal());
                       }
               }) /
        steps;
}

// One row: awd's run-steps per CPU second, the NumPy peer's (CPU time too), and the bound's.
void report_runs(const char* label, int R, double ours, const std::map<std::string, std::string>& peer, double bound) {
    std::printf("  %-34s awd %6.2f M/s", label, R / ours / 1e6);
    if (peer.count("cpu_seconds_per_step"))
        std::printf("   numpy %6.2f M/s  %5.2fx (goal >= 10x)", R / std::stod(peer.at("cpu_seconds_per_step")) / 1e6,
                    std::stod(peer.at("cpu_seconds_per_step")) / ours);
    else std::printf("   (no NumPy peer)");
    std::printf("   bound %6.2f M/s: awd at %.2fx of it (goal <= 3x)\n", R / bound / 1e6, ours / bound);
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
    std::printf("  normal pairs, 2000 streams: NormalPairStreams %6.1f M/s, Rng::normal x 2 %6.1f M/s: %5.2fx",
                R / ours / 1e6, R / old / 1e6, old / ours);
    const auto peer = run_peer_script("bench/numpy_landscape.py normals 2000 500");
    if (peer.count("cpu_seconds_per_step")) {
        const double numpy = std::stod(peer.at("cpu_seconds_per_step"));
        std::printf(", numpy %6.1f M/s: %5.2fx", R / numpy / 1e6, numpy / ours);
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
    std::printf(
        "  run-steps per CPU second, one thread (machine dgemm %.1f GFLOP/s, OpenBLAS %s kernels; shared machine: CPU "
        "time, best of 3)\n",
        machine_dgemm_gflops(), openblas_get_corename());
    TwoValleyConfig tv;
    tv.runs = 2000, tv.steps = 200, tv.trace_every = 1000;
    report_runs("two-valley, 2000 runs, H+ noise", tv.runs, best_cpu_seconds(3, [&] { run_two_valley(tv); }) / tv.steps,
                run_peer_script("bench/numpy_landscape.py two-valley 2000 200"),
                two_valley_bound_seconds_per_step(2000, 200));
    ValleyConfig va;
    va.runs = 1000, va.steps = 400, va.trace_every = 1000;
    report_runs("valley (Langevin), 1000 runs", va.runs, best_cpu_seconds(3, [&] { run_valley(va); }) / va.steps,
                run_peer_script("bench/numpy_landscape.py valley 1000 400"), valley_bound_seconds_per_step(1000, 400));
    const auto check = run_peer_script("bench/numpy_landscape.py check build/awd");
    std::printf(
        "  the NumPy peers and awd landscape simulate the same process (P_flat, drift within 4 standard errors): %s\n",
        check.count("numpy_check") ? check.at("numpy_check").c_str() : "not run (no NumPy or no build/awd)");
    {  // the per-run derivatives alone: recorded once and replayed, against the eager graph of every step
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
        std::printf(
            "  two-valley loss, gradients, Hessians of 2000 runs: eager graph %.3f ms, replayed plan %.3f ms: %.2fx\n",
            eager * 1e3, plan * 1e3, eager / plan);
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
