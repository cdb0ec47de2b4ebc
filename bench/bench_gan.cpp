// bench_gan.cpp: one step of the effective GAN model (awd gan) against the PyTorch float64 peer
// bench/torch_gan.py doing the same step: one discriminator step (with the double-backward
// gradient penalty on mnist100) and one kernel generator step.
//   mnist100: d = 784, N = 100, D = 784-64-64-1 ReLU, Adam, alpha 1.25 on data, wd 1e-4
//   ring8:    d = 2,   N = 32,  D = 2-64-64-1 ReLU, SGD, no penalty (overhead-bound)
#include <cstdio>

#include "analysis/gan.h"
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
        double ours[2];
        for (int threads : {1, 2}) set_threads(threads), ours[threads - 1] = our_seconds_per_step(target, w.config);
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
    }
    set_threads(1);
    std::printf("  goal: ratio >= 3 on mnist100, >= 5 on ring8\n");
}

}  // namespace awd::bench
