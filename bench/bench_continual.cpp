// bench_continual.cpp: MER's single-example steps per second, through the learner Model's graph,
// against the PyTorch float64 peer (bench/torch_mer.py, the same update), the memory-streaming
// bound of one step, and online / ER training over a 20-task rotations stream (training only,
// evaluation excluded).
//
// The bound: a single-example step must at least stream the weights through memory once
// forward (read W) and twice backward (read W for da, write the updated W), i.e. read the P
// doubles twice and write them once. Measured here as one read pass plus one read-modify-write
// pass over a P-double buffer that, as in MER, stays cache-warm between steps. A step through
// the graph streams more than that: it materialises the flat gradient, scans it for NaN/Inf, and
// then the SGD update reads it again.

#include <cstdio>

#include "autodiff/product.h"
#include "bench/bench.h"
#include "experiments/mer/continual.h"

namespace awd::bench {

namespace {

double streaming_seconds(size_t P) {
    std::vector<double> w(P, 1.0);
    volatile double sink = 0;
    const int reps = 200;
    const double seconds = best_seconds(5, [&] {
        for (int r = 0; r < reps; ++r) {
            double s = 0;
            for (size_t k = 0; k < P; ++k) s += w[k];                      // forward: read W
            for (size_t k = 0; k < P; ++k) w[k] = w[k] * 0.999999 + 1e-9;  // backward: read W, write W
            sink = sink + s;
        }
    });
    return seconds / reps;
}

}  // namespace

void bench_continual() {
    set_threads(1);  // as `awd continual` runs by default (and as the peer does)
    StreamConfig sc;
    sc.kind = StreamKind::Rotations, sc.tasks = 20, sc.per_task = 1000, sc.seed = 1;
    const TaskStream stream(sc);
    std::printf("\n== continual learning (MER), 784-100-100-10, rotated MNIST digits, one thread ==\n");

    // MER, memory 500 full, k-1 = 100, s = 10: the 5120-memory setting's update
    ContinualConfig mer;
    mer.method = Method::Mer, mer.memories = 500, mer.replay = 100, mer.batches = 10, mer.lr = 0.03, mer.beta = 0.03,
    mer.gamma = 1.0;
    ContinualState state = initial_state(mer, stream);
    std::vector<double> x(stream.inputs());
    Rng rng(1);
    for (int i = 0; i < 500; ++i) {
        const int y = stream.example(0, i, x.data());
        state.memory.store(state.memory.offer(rng), 0, i, y, x.data());
    }
    const int incoming = 20;
    const double seconds = best_seconds(3, [&] {
        for (int i = 0; i < incoming; ++i) {
            const int y = stream.example(1, i, x.data());
            observe(mer, stream, state, 1, x.data(), y, i, rng);
        }
    });
    const double steps = (double)incoming * mer.batches * (mer.replay + 1), ours = steps / seconds;
    double theirs = 0;
    for (int run = 0; run < 3; ++run) {  // the peer's best of three
        const auto peer = run_peer_script("bench/torch_mer.py 3 100 10 1");
        if (peer.count("steps_per_s")) theirs = std::max(theirs, std::stod(peer.at("steps_per_s")));
    }
    std::printf("  MER single-example steps/s: awd %.0f (%.1f us/step)", ours, 1e6 / ours);
    if (theirs > 0)
        std::printf(", pytorch %.0f (%.1f us/step), ratio %.1fx (goal >= 3x)\n", theirs, 1e6 / theirs, ours / theirs);
    else std::printf(", pytorch (no peer)\n");

    const size_t P = state.nets[0].size();
    const double bound = streaming_seconds(P);
    std::printf(
        "  streaming bound: read %zu doubles (%.0f KB) twice and write them once: %.1f us; a MER step takes %.1f us = "
        "%.2fx the bound (goal <= 2x)\n",
        P, P * 8 / 1024.0, 1e6 * bound, 1e6 / ours, (1.0 / ours) / bound);

    for (const char* name : {"online", "er"}) {  // the whole 20-task stream, training only
        ContinualConfig c;
        c.method = parse_method(name), c.lr = 0.1, c.memories = 5120, c.replay = 25;
        ContinualState s = initial_state(c, stream);
        const double t = best_seconds(1, [&] {
            for (int task = 0; task < stream.tasks(); ++task) {
                Rng r(stream_seed(c.seed, 1000 + task));
                for (int i = 0; i < stream.per_task(); ++i) {
                    const int y = stream.example(task, i, x.data());
                    observe(c, stream, s, task, x.data(), y, i, r);
                }
            }
        });
        std::printf("  %s over the 20-task stream (20,000 examples%s): %.2f s of training\n", name,
                    c.method == Method::Er ? ", 5120 memories, k-1 = 25" : "", t);
    }
}

}  // namespace awd::bench
