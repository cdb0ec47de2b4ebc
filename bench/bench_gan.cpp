// bench_gan.cpp: one step of the effective GAN model (awd gan) against the PyTorch float64 peer
// bench/torch_gan.py doing the same step: one discriminator step (with the double-backward
// gradient penalty on mnist100) and one kernel generator step.
//   mnist100: d = 784, N = 100, D = 784-64-64-1 ReLU, Adam, alpha 1.25 on data, wd 1e-4
//   ring8:    d = 2,   N = 32,  D = 2-64-64-1 ReLU, SGD, no penalty (overhead-bound)
#include <cstdio>
#include <vector>

#include "experiments/gan/gan.h"
#include "autodiff/product.h"
#include "bench/bench.h"

namespace awd::bench {

namespace {

double our_seconds_per_step(const GanTarget& target, const GanConfig& config) {
    GanDynamics run(target, config, coupling_kernel(config.particles, config.g1, config.g2));
    for (int k = 0; k < 5; ++k) run.step();
    return best_seconds(5, [&] {
               for (int k = 0; k < 20; ++k) run.step();
           }) / 20;
}

// The matrix products of one mnist100 step alone, timed through product() on the same shapes:
// what the step would cost if everything else were free. These are the 21 that reach dgemm
// (the last layer's, one column wide, are matrix-vector products). X data and Q particles are
// (n, d), W1 is (h, d), W2 (h, h); D runs three forward passes (critic on data, critic on
// particles, generator), the penalty's grad_x one backward pass to x, and the critic's loss
// one backward pass through all of them to the weights.
double products_alone_seconds(int n, int d, int h) {
    struct Product {
        bool ta, tb;
        int m, n, k, count;
    };
    const Product products[] = {
        {false, true, n, h, d, 4},   // x W1^T in the 3 forward passes; the backward of grad_x's g W1
        {false, true, n, h, h, 4},   // h1 W2^T in the 3 forward passes; the backward of grad_x's g W2
        {false, false, n, d, h, 2},  // g W1 toward x (penalty) and toward q (generator)
        {false, false, n, h, h, 4},  // g W2 toward h1: grad_x, generator, critic on data and on particles
        {true, false, h, d, n, 3},   // dW1: critic on data, on particles, the penalty's own term
        {true, false, h, h, n, 3},   // dW2: the same three
        {false, false, n, d, n, 1},  // K G, the kernel step
    };
    struct Operands {
        Product p;
        std::vector<double> a, b, c;
    };
    std::vector<Operands> all;
    for (const Product& p : products)
        for (int c = 0; c < p.count; ++c)
            all.push_back({p, std::vector<double>((size_t)p.m * p.k, 0.3), std::vector<double>((size_t)p.k * p.n, 0.2), std::vector<double>((size_t)p.m * p.n)});
    auto run_all = [&] {
        for (Operands& o : all)
            product(o.p.ta, o.p.tb, o.p.m, o.p.n, o.p.k, 1.0, o.a.data(), o.p.ta ? o.p.m : o.p.k, o.b.data(), o.p.tb ? o.p.k : o.p.n, 0.0,
                    o.c.data(), o.p.n);
    };
    run_all();
    return best_seconds(5, [&] {
               for (int r = 0; r < 20; ++r) run_all();
           }) / 20;
}

}  // namespace

void bench_gan() {
    keep_heap_between_steps();
    struct Workload {
        const char* name;
        GanConfig config;
    };
    GanConfig mnist;
    mnist.particles = 100, mnist.lr_g = 1.0, mnist.lr_d = 1e-3, mnist.weight_decay = 1e-4, mnist.penalty = 1.25;
    mnist.optimizer.kind = OptimizerKind::Adam;
    GanConfig ring;
    ring.particles = 32, ring.lr_g = 0.01, ring.lr_d = 0.01;
    const Workload workloads[] = {{"mnist100", mnist}, {"ring8", ring}};
    std::printf("\n== awd gan: one discriminator + generator step, ms: awd with 1 and 2 threads (--threads) vs PyTorch float64 with 2, best of 3 ==\n");
    std::printf("  %-54s %9s %9s %9s %8s\n", "workload", "awd 1", "awd 2", "pytorch", "ratio");
    for (const Workload& w : workloads) {
        const GanTarget target = make_target(w.name);
        double ours[2], products[2] = {0, 0};
        const bool mnist100 = std::string(w.name) == "mnist100";
        for (int threads : {1, 2}) {
            set_threads(threads), ours[threads - 1] = our_seconds_per_step(target, w.config);
            if (mnist100) products[threads - 1] = products_alone_seconds(w.config.particles, target.dim(), w.config.hidden.at(0));  // D is d-h-h-1
        }
        double theirs = 1e300;
        for (int r = 0; r < 3; ++r) {
            const auto peer = run_peer_script(std::string("bench/torch_gan.py ") + w.name + " 2");
            if (peer.count("seconds_per_step")) theirs = std::min(theirs, std::stod(peer.at("seconds_per_step")));
        }
        char label[96];
        std::snprintf(label, sizeof label, "%s (N = %d, d = %d%s)", w.name, w.config.particles, target.dim(),
                      w.config.penalty > 0 ? ", penalty by double backward" : "");
        if (theirs < 1e300)
            std::printf("  %-54s %9.3f %9.3f %9.3f %7.1fx\n", label, ours[0] * 1e3, ours[1] * 1e3, theirs * 1e3, theirs / std::min(ours[0], ours[1]));
        else
            std::printf("  %-54s %9.3f %9.3f %9s %8s\n", label, ours[0] * 1e3, ours[1] * 1e3, "(no peer)", "-");
        if (mnist100)
            std::printf("  %-54s %9.3f %9.3f %9s %7.1fx\n", "  its 21 matrix products alone (same shapes)", products[0] * 1e3, products[1] * 1e3,
                        "", theirs < 1e300 ? theirs / std::min(products[0], products[1]) : 0.0);
    }
    set_threads(1);
    std::printf("  goal: ratio >= 3 on mnist100, >= 5 on ring8\n");
}

}  // namespace awd::bench
