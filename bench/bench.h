// bench.h: small helpers shared by the benchmark sections: timing, and running a PyTorch peer
// script in the same run so that a ratio means something on a noisy shared machine.
// Is not: a test: nothing here fails on speed.
#pragma once

#include <sched.h>

#include <chrono>
#include <ctime>
#include <functional>
#include <map>
#include <string>

namespace awd::bench {

// Best wall-clock seconds of `repeats` runs of f (best-of filters out interruptions).
inline double best_seconds(int repeats, const std::function<void()>& f) {
    double best = 1e300;
    for (int r = 0; r < repeats; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

// Best CPU seconds of this thread over `repeats` runs of f: on a machine shared with other jobs,
// a ratio of CPU times is steadier than one of wall times.
inline double best_cpu_seconds(int repeats, const std::function<void()>& f) {
    auto now = [] {
        timespec t{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        return t.tv_sec + 1e-9 * t.tv_nsec;
    };
    double best = 1e300;
    for (int r = 0; r < repeats; ++r) {
        const double t0 = now();
        f();
        best = std::min(best, now() - t0);
    }
    return best;
}

// While alive, this thread (and every peer process it starts: a child inherits the mask) runs on the one CPU it
// was on; the old affinity comes back at the end. The CPUs of a virtual machine need not be equal: on the
// project's 2-CPU VM the NumPy landscape peer once ran 1.35x slower on one vCPU than on the other (22.2-22.8
// against 30.3-30.4 M valley run-steps per CPU second, pinned, two runs each) while awd's loop moved 1.05-1.2x, so a
// ratio of times taken on different CPUs measures the placement (bench/README.md).
class PinnedToOneCpu {
public:
    PinnedToOneCpu() : cpu_(sched_getcpu()) {
        CPU_ZERO(&old_);
        pinned_ = cpu_ >= 0 && sched_getaffinity(0, sizeof old_, &old_) == 0;
        if (!pinned_) return;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu_, &one);
        pinned_ = sched_setaffinity(0, sizeof one, &one) == 0;
    }
    ~PinnedToOneCpu() {
        if (pinned_) sched_setaffinity(0, sizeof old_, &old_);
    }
    PinnedToOneCpu(const PinnedToOneCpu&) = delete;
    PinnedToOneCpu& operator=(const PinnedToOneCpu&) = delete;
    // "CPU n", or "no CPU pinned" when the system refused
    std::string label() const { return pinned_ ? "CPU " + std::to_string(cpu_) : "no CPU pinned"; }

private:
    int cpu_;
    bool pinned_ = false;
    cpu_set_t old_;
};

// Runs `/usr/bin/python3 <peers dir>/<script> <args>` and parses the key=value pairs of its
// last line. Empty when the peer cannot run (no PyTorch); the caller prints that, not a ratio.
std::map<std::string, std::string> run_peer(const std::string& script_and_args);
// The same for a script of this repository (path relative to the repository root).
std::map<std::string, std::string> run_peer_script(const std::string& script_and_args);

// The machine's dgemm rate (n = 2000, through product(), at the current thread count), GFLOP/s.
double machine_dgemm_gflops();

// Sections of `make bench`, one per workload family.
void bench_steps();
void bench_autodiff();
void bench_training();
void bench_hessian();
void bench_duality();
void bench_gan();
void bench_landscape();
void bench_continual();
void bench_rl();

}  // namespace awd::bench
