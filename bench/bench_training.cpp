// bench_training.cpp: SGD training throughput (samples per second) against PyTorch float64
// (../shared/peers/torch_train.py) on the peer's three workloads, same data recipe: inputs
// uniform in [0, 1), random labels, cross-entropy, plain SGD with lr 0.1.
#include <cblas.h>

#include <cstdio>

#include "bench/bench.h"
#include "optim/train.h"

namespace awd::bench {

namespace {

struct Workload {
    const char* arch;
    Activation activation;
    bool bias;
    int n, batch, epochs;
    const char* peer_args;
};

double our_samples_per_second(const Workload& w) {
    Mlp net(MlpSpec::parse(w.arch, w.activation, w.bias));
    Rng rng(0);
    initialize(net, Init::PyTorch, 1.0, rng);
    Dataset data;
    data.classes = net.spec.widths.back();
    data.X = Tensor(w.n, net.spec.widths[0]);
    for (double& v : data.X.data) v = rng.uniform();
    for (int i = 0; i < w.n; ++i) data.y.push_back((int)rng.index(data.classes));
    TrainConfig c;
    c.batch = w.batch;
    Optimizer sgd(c.optimizer, net.theta.size());
    Rng shuffle(1), dropout(2);
    StepScratch scratch;
    const double seconds = best_seconds(1, [&] {
        for (int e = 0; e < w.epochs; ++e) train_epoch(net, data, c, 0.1, false, sgd, shuffle, dropout, scratch);
    });
    return (double)w.n * w.epochs / seconds;
}

}  // namespace

void bench_training() {
    const Workload workloads[] = {
        {"784-30-30-10", Activation::Relu, false, 4000, 25, 3, "784-30-30-10 4000 25 --act relu --no-bias"},
        {"784-100-10", Activation::Tanh, true, 60000, 64, 1, "784-100-10 60000 64 --epochs 1"},
        {"64-32-10", Activation::Tanh, true, 20000, 16, 3, "64-32-10 20000 16"},
    };
    std::printf("\n== training throughput, SGD float64: awd (1 BLAS thread) vs PyTorch (2 threads), samples/s ==\n");
    std::printf("  %-36s %12s %12s %8s\n", "workload", "awd", "pytorch", "ratio");
    openblas_set_num_threads(1);
    for (const Workload& w : workloads) {
        const double ours = our_samples_per_second(w);
        const auto peer = run_peer("torch_train.py " + std::string(w.peer_args));
        char label[64];
        std::snprintf(label, sizeof label, "%s %s%s B=%d", w.arch, activation_name(w.activation), w.bias ? "" : " no-bias", w.batch);
        if (peer.count("samples_per_s")) {
            const double theirs = std::stod(peer.at("samples_per_s"));
            std::printf("  %-36s %12.0f %12.0f %7.1fx\n", label, ours, theirs, ours / theirs);
        } else {
            std::printf("  %-36s %12.0f %12s %8s\n", label, ours, "(no peer)", "-");
        }
    }
    std::printf("  goal: ratio >= 3 on each\n");
}

}  // namespace awd::bench
