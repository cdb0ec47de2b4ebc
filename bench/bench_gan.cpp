// bench_gan.cpp: one step of the effective GAN model (awd gan) against the PyTorch float64 peer
// bench/torch_gan.py doing the same step: one discriminator step (with the double-backward
// gradient penalty on mnist100) and one kernel generator step.
//   mnist100: d = 784, N = 100, D = 784-64-64-1 ReLU, Adam, alpha 1.25 on data, wd 1e-4
//   ring8:    d = 2,   N = 32,  D = 2-64-64-1 ReLU, SGD, no penalty (overhead-bound)
// Then the authors' mnist100 preset (authors_mnist100_config: 20 critic steps of a
// 784-64-1024-64-1 critic with its penalty on the particles per generator step) against the
// time of its mandatory matrix products alone: the bound no implementation of the step beats.
#include <cblas.h>

#include <cstdio>
#include <vector>

#include "autodiff/product.h"
#include "bench/bench.h"
#include "experiments/gan/gan.h"

namespace awd::bench {

namespace {

double our_seconds_per_step(const GanTarget& target, const GanConfig& config) {
    GanDynamics run(target, config, coupling_kernel(config.particles, config.g1, config.g2));
    for (int k = 0; k < 5; ++k) run.step();
    return best_seconds(5,
                        [&] {
                            for (int k = 0; k < 20; ++k) run.step();
                        }) /
        20;
}

struct Product {
    bool ta, tb;
    int m, n, k, count;
};

// Seconds for the products alone, through product() on the same shapes (operands of constant
// value; the time of a product does not depend on its values).
double products_alone_seconds(const std::vector<Product>& products) {
    struct Operands {
        Product p;
        std::vector<double> a, b, c;
    };
    std::vector<Operands> all;
    for (const Product& p : products)
        for (int c = 0; c < p.count; ++c)
            all.push_back({p, std::vector<double>((size_t)p.m * p.k, 0.3), std::vector<double>((size_t)p.k * p.n, 0.2),
                           std::vector<double>((size_t)p.m * p.n)});
    auto run_all = [&] {
        for (Operands& o : all)
            product(o.p.ta, o.p.tb, o.p.m, o.p.n, o.p.k, 1.0, o.a.data(), o.p.ta ? o.p.m : o.p.k, o.b.data(),
                    o.p.tb ? o.p.k : o.p.n, 0.0, o.c.data(), o.p.n);
    };
    run_all();
    const int repeats = all.size() > 100 ? 2 : 20;
    return best_seconds(5,
                        [&] {
                            for (int r = 0; r < repeats; ++r) run_all();
                        }) /
        repeats;
}

int product_count(const std::vector<Product>& products) {
    int n = 0;
    for (const Product& p : products) n += p.count;
    return n;
}

// The 21 products of one step of the project's mnist100 setup that reach dgemm (the last
// layer's, one column wide, are matrix-vector products). X data and Q particles are (n, d), W1
// is (h, d), W2 (h, h); D runs three forward passes (critic on data, critic on particles,
// generator), the penalty's grad_x one backward pass to x, and the critic's loss one backward
// pass through all of them to the weights.
std::vector<Product> project_step_products(int n, int d, int h) {
    return {
        {false, true, n, h, d, 4},   // x W1^T in the 3 forward passes; the backward of grad_x's g W1
        {false, true, n, h, h, 4},   // h1 W2^T in the 3 forward passes; the backward of grad_x's g W2
        {false, false, n, d, h, 2},  // g W1 toward x (penalty) and toward q (generator)
        {false, false, n, h, h, 4},  // g W2 toward h1: grad_x, generator, critic on data and on particles
        {true, false, h, d, n, 3},   // dW1: critic on data, on particles, the penalty's own term
        {true, false, h, h, n, 3},   // dW2: the same three
        {false, false, n, d, n, 1},  // K G, the kernel step
    };
}

// The mandatory products of one generator step of the authors' setup, widths w = (d, h1, h2, h3)
// (the output layer's products are matrix-vector products). Each of the `critic_steps` critic
// steps: 3 forward products on data and 3 on particles; the penalty's grad_q f, 3 products back to
// q; the loss's backward: 3 weight gradients each for data, particles and the penalty, the
// activity gradients below layers 3 and 2 for data and particles (4; none toward the data), and
// the penalty's own chain back up (3: dg1 = dgq W1^T, dg2, dg3). With ReLU f'' = 0, so nothing
// flows from the penalty back into the forward activities. The generator step: 3 forward, 3
// backward to q, and K G.
std::vector<Product> authors_step_products(int n, const std::vector<int>& w, int critic_steps) {
    std::vector<Product> p;
    const int layers = (int)w.size() - 1;
    for (int l = 0; l < layers; ++l) {
        p.push_back({false, true, n, w[l + 1], w[l], 2 * critic_steps + 1});  // forward: data, particles; generator
        p.push_back(
            {false, false, n, w[l], w[l + 1], critic_steps + 1});  // grad toward layer l's input: penalty; generator
        p.push_back({true, false, w[l + 1], w[l], n, 3 * critic_steps});  // dW: data, particles, penalty
        p.push_back({false, true, n, w[l + 1], w[l], critic_steps});      // the penalty's chain back up
        if (l > 0)
            p.push_back({false, false, n, w[l], w[l + 1], 2 * critic_steps});  // activity gradients: data, particles
    }
    p.push_back({false, false, n, w[0], n, 1});  // K G
    return p;
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
    std::printf(
        "\n== awd gan: one discriminator + generator step, ms: awd with 1 and 2 threads (--threads) vs PyTorch float64 "
        "with 2, best of 3 ==\n");
    std::printf("  %-54s %9s %9s %9s %8s\n", "workload", "awd 1", "awd 2", "pytorch", "ratio");
    for (const Workload& w : workloads) {
        const GanTarget target = make_target(w.name);
        double ours[2], products[2] = {0, 0};
        const bool mnist100 = std::string(w.name) == "mnist100";
        for (int threads : {1, 2}) {
            set_threads(threads), ours[threads - 1] = our_seconds_per_step(target, w.config);
            if (mnist100)
                products[threads - 1] = products_alone_seconds(
                    project_step_products(w.config.particles, target.dim(), w.config.hidden.at(0)));
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
            std::printf("  %-54s %9.3f %9.3f %9.3f %7.1fx\n", label, ours[0] * 1e3, ours[1] * 1e3, theirs * 1e3,
                        theirs / std::min(ours[0], ours[1]));
        else std::printf("  %-54s %9.3f %9.3f %9s %8s\n", label, ours[0] * 1e3, ours[1] * 1e3, "(no peer)", "-");
        if (mnist100 && theirs < 1e300)
            std::printf("  %-54s %9.3f %9.3f %9s %7.1fx\n", "  its 21 matrix products alone (same shapes)",
                        products[0] * 1e3, products[1] * 1e3, "", theirs / std::min(products[0], products[1]));
        else if (mnist100)
            std::printf("  %-54s %9.3f %9.3f\n", "  its 21 matrix products alone (same shapes)", products[0] * 1e3,
                        products[1] * 1e3);
    }
    std::printf("  goal: ratio >= 3 on mnist100, >= 5 on ring8\n");

    // the authors' preset: a steady-state generator step (the 200 start-up critic steps aside)
    GanConfig authors = authors_mnist100_config();
    authors.d_steps_first = 0, authors.g2 = 0.5;
    const GanTarget target = make_target("mnist100");
    std::vector<int> widths = {target.dim()};
    for (int h : authors.hidden) widths.push_back(h);
    const std::vector<Product> bound = authors_step_products(authors.particles, widths, authors.d_steps);
    std::printf(
        "\n== awd gan --preset authors (mnist100): one generator step = %d critic steps of a 784-64-1024-64-1 critic, "
        "ms ==\n",
        authors.d_steps);
    std::printf("  %-54s %9s %9s %9s %8s\n", "workload", "1 thread", "2 threads", "", "step/bound");
    double step[2], alone[2];
    for (int threads : {1, 2}) {
        set_threads(threads);
        GanDynamics run(target, authors, coupling_kernel(authors.particles, authors.g1, authors.g2));
        run.step();
        step[threads - 1] = best_seconds(3, [&] { run.step(); });
        alone[threads - 1] = products_alone_seconds(bound);
    }
    char label[96];
    std::snprintf(label, sizeof label, "its %d mandatory matrix products alone", product_count(bound));
    std::printf("  %-54s %9.2f %9.2f\n", "preset step (steady state)", step[0] * 1e3, step[1] * 1e3);
    std::printf("  %-54s %9.2f %9.2f %9s %7.2fx\n", label, alone[0] * 1e3, alone[1] * 1e3, "",
                std::min(step[0], step[1]) / std::min(alone[0], alone[1]));
    std::printf("  machine dgemm (n = 2000, through product(), 2 threads, OpenBLAS's %s kernels): %.1f GFLOP/s\n",
                openblas_get_corename(), machine_dgemm_gflops());
    std::printf("  goal: step / bound <= 1.5 (best of 1 and 2 threads each)\n");
    set_threads(1);
}

}  // namespace awd::bench
