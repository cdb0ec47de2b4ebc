// bench_rl.cpp: frames per second of the three DQN learners (experiments/mer/dqn.h) against the
// PyTorch float64 peer doing the same per-frame work (bench/torch_rl.py): one greedy forward,
// then the method's update (dqn / dqn-er: one SGD step on a batch of 16; dqn-mer: 2 batches of
// 16 single-transition SGD steps and the Reptile interpolations), Q-network 4-100-100-3, one
// thread, synthetic transitions and a memory of 1000. Also the whole loop on Catcher (game,
// exploration, storing, target refreshes, learning-curve evaluations off).
#include <cblas.h>

#include <cstdio>

#include "autodiff/product.h"
#include "bench/bench.h"
#include "experiments/mer/dqn.h"

namespace awd::bench {

void bench_rl() {
    set_threads(1);
    std::printf(
        "\n== continual RL (DQN, DQN-ER, DQN-MER), Q-network 4-100-100-3, one thread; machine dgemm %.1f GFLOP/s "
        "(OpenBLAS %s) ==\n",
        machine_dgemm_gflops(), openblas_get_corename());
    const int n = 4, A = 3, width = 2 * n + 2, frames = 200;
    for (const RlMethod method : {RlMethod::Dqn, RlMethod::DqnEr, RlMethod::DqnMer}) {
        DqnConfig c;
        c.method = method, c.memories = 1000, c.replay = 15, c.batches = 2, c.lr = 0.01, c.beta = 0.1;
        DqnState state = initial_dqn_state(c, n, A);
        Rng rng(1);
        std::vector<double> t(width);
        auto random_transition = [&] {
            for (int k = 0; k < 2 * n; ++k) t[k] = rng.normal();
            t[2 * n] = (double)rng.index(3) - 1, t[2 * n + 1] = rng.uniform() < 0.05;
        };
        for (int k = 0; k < c.memories; ++k)
            random_transition(), state.memory.store(k, 0, k, (int)rng.index(A), t.data());
        state.memory.age = c.memories;  // full: dqn overwrites its oldest row, the others offer to the reservoir
        const double seconds = best_seconds(3, [&] {
            for (int f = 0; f < frames; ++f) {
                random_transition();
                const int action = greedy_action(state.net, t.data(), n);
                learn(c, state, t.data(), action, 0, f, n, rng);
            }
        });
        const double ours = frames / seconds;
        double theirs = 0;
        for (int run = 0; run < 3; ++run) {
            const auto peer = run_peer_script(std::string("bench/torch_rl.py ") + rl_method_name(method) + " " +
                                              std::to_string(frames) + " 15 2");
            if (peer.count("frames_per_s")) theirs = std::max(theirs, std::stod(peer.at("frames_per_s")));
        }
        std::printf("  %-8s learner frames/s: awd %.0f", rl_method_name(method), ours);
        if (theirs > 0) std::printf(", pytorch %.0f, ratio %.1fx (goal >= 3x)\n", theirs, ours / theirs);
        else std::printf(", pytorch (no peer)\n");

        StreamSettings st;  // the whole loop on Catcher, one version, no curve rows
        st.schedule = default_schedule(GameKind::Catcher), st.schedule.versions = 1, st.frames_per_version = 2000;
        st.curve_every = 1 << 30, st.eval_episodes = 1, st.eval_frames = 1;
        DqnState fresh = initial_dqn_state(c, n, A);
        const double loop =
            best_seconds(1, [&] { run_game_stream(c, st, fresh, [](const DqnState&) { return true; }); });
        std::printf("  %-8s whole loop on Catcher (2000 frames from an empty memory): %.0f frames/s\n",
                    rl_method_name(method), 2000 / loop);
    }
}

}  // namespace awd::bench
