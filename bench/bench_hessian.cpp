// bench_hessian.cpp: exact Hessians against PyTorch float64 (bench/torch_hessian.py)
// in the same run, with the machine's dgemm GFLOP/s measured alongside.
//   W1: full Hessian of MLP 64-32-10 tanh, cross-entropy, N = 1000, P = 2410 (goal >= 10x)
//   W2: 900 x 900 layer-1 block of 784-30-30-10 relu no-bias, N = 4000 (goal >= 30x)
#include <cblas.h>

#include <cstdio>
#include <thread>

#include "analysis/hessian.h"
#include "analysis/spectrum.h"
#include "autodiff/product.h"
#include "bench/bench.h"
#include "experiments/common/run_folder.h"
#include "nn/files.h"

namespace awd::bench {

namespace {

// The peer's recipe: standard normal inputs, uniform labels, W ~ N(0, 1/fan_in), b = 0.
struct Workload {
    Mlp net;
    Tensor X;
    std::vector<int> y;
};

Workload make_workload(const std::string& arch, Activation act, bool bias, int n) {
    Workload w{Mlp(MlpSpec::parse(arch, act, bias)), Tensor(), {}};
    Rng rng(0);
    const MlpSpec& s = w.net.spec;
    for (int l = 0; l < s.layers(); ++l)
        for (int k = 0; k < s.n_out(l) * s.n_in(l); ++k) w.net.W(l)[k] = rng.normal() / std::sqrt((double)s.n_in(l));
    w.X = Tensor(n, s.widths[0]);
    for (double& v : w.X.data) v = rng.normal();
    for (int i = 0; i < n; ++i) w.y.push_back((int)rng.index(s.widths.back()));
    return w;
}

double peer_seconds(const std::string& args) {
    const auto r = run_peer("torch_hessian.py " + args);
    return r.count("hessian_s") ? std::stod(r.at("hessian_s")) : -1.0;
}

void report(const char* name, double ours, double gflop, double peer, double goal) {
    std::printf("  %-44s awd %8.4f s (%5.1f GFLOP/s)   ", name, ours, gflop / ours);
    if (peer > 0) {
        std::printf("pytorch %7.3f s   ratio %6.1fx (goal >= %.0fx)\n", peer, peer / ours, goal);
    } else {
        std::printf("pytorch (no peer)\n");
    }
}

}  // namespace

void bench_hessian() {
    const int threads = (int)std::max(1u, std::thread::hardware_concurrency());
    set_threads(threads);
    std::printf("\n== exact Hessians, float64: awd fast path (%d threads) vs PyTorch (2 threads) ==\n", threads);
    std::printf("  machine dgemm (n = 2000, through product(), OpenBLAS's %s kernels): %.1f GFLOP/s\n",
                openblas_get_corename(), machine_dgemm_gflops());

    Workload w1 = make_workload("64-32-10", Activation::Tanh, true, 1000);
    HessianStats s1;
    Tensor H1;
    const double t1 = best_seconds(3, [&] { H1 = hessian_fast(w1.net, w1.X, w1.y, all_indices(w1.net.spec), &s1); });
    const double p1 =
        std::min(peer_seconds("64-32-10 1000 --vectorize 0"), peer_seconds("64-32-10 1000 --vectorize 1"));
    report("W1 full Hessian 64-32-10 tanh, N=1000, P=2410", t1, s1.gemm_flops / 1e9, p1, 10);

    Workload w2 = make_workload("784-30-30-10", Activation::Relu, false, 4000);
    HessianStats s2;
    const double t2 =
        best_seconds(3, [&] { hessian_fast(w2.net, w2.X, w2.y, layer_indices(w2.net.spec, 1, false), &s2); });
    const double p2 = peer_seconds("784-30-30-10 4000 --act relu --no-bias --layer 1");
    report("W2 layer-1 block 784-30-30-10 relu, N=4000", t2, s2.gemm_flops / 1e9, p2, 30);
    const Tensor H2 = hessian_fast(w2.net, w2.X, w2.y, layer_indices(w2.net.spec, 1, false));
    const double te =
        best_seconds(3, [&] { symmetric_eigen(H2, true); });  // timed alone: a difference of two timings went negative
    std::printf("  %-44s awd %8.4f s (dsyevd, with eigenvectors)\n", "W2 eigen-decomposition 900 x 900", te);

    // PyTorch float64 cross-check of W1's full Hessian (cross-layer blocks included)
    const std::string dir = "build/bench-w1";
    make_directories(dir);
    write_weights_npy(dir, w1.net);
    write_npy(dir + "/X.npy", w1.X);
    write_npy(dir + "/y.npy", std::vector<int64_t>(w1.y.begin(), w1.y.end()));
    write_npy(dir + "/H.npy", H1);
    write_file_atomically(dir + "/arch.txt", w1.net.spec.arch());
    const auto check = run_peer_script("bench/torch_check_hessian.py " + dir);
    if (check.count("difference"))
        std::printf("  W1 Hessian vs torch.autograd.functional.hessian (float64): relative difference %s\n",
                    check.at("difference").c_str());
}

}  // namespace awd::bench
