// main.cpp: `make bench`. Prints timings and ratios against PyTorch peers measured in the same
// run; never fails on speed (speed goals are read off the printed ratios, not asserted).
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "autodiff/product.h"
#include "autodiff/tensor.h"
#include "bench/bench.h"

namespace awd::bench {

namespace {
std::string g_peers_dir = "bench";
}

std::map<std::string, std::string> run_peer_script(const std::string& script_and_args) {
    const std::string command = "/usr/bin/python3 " + script_and_args + " 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
    std::map<std::string, std::string> result;
    if (!pipe) return result;
    char buffer[4096];
    std::string last;
    while (std::fgets(buffer, sizeof buffer, pipe.get())) last = buffer;
    std::istringstream fields(last);
    for (std::string field; fields >> field;) {
        const size_t eq = field.find('=');
        if (eq != std::string::npos) result[field.substr(0, eq)] = field.substr(eq + 1);
    }
    return result;
}

double machine_dgemm_gflops() {
    const int n = 2000;
    Tensor A(n, n, 1.0), B(n, n, 0.5), C;
    const double t = best_seconds(3, [&] { gemm(A, false, B, false, C); });
    return 2.0 * n * n * n / t / 1e9;
}

std::map<std::string, std::string> run_peer(const std::string& script_and_args) {
    return run_peer_script(g_peers_dir + "/" + script_and_args);
}

namespace {

// The kernel's high-water mark of this process's resident memory (VmHWM) is reset by writing
// 5 to /proc/self/clear_refs, so each section can report its own peak. Where that is refused,
// the peak since the process started is printed instead, and said so.
bool reset_peak_memory() {
    std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
    if (!f) return false;
    const bool written = std::fputs("5", f) >= 0;
    return std::fclose(f) == 0 && written;
}

void print_peak_memory(bool since_reset) {
    long kb = -1;
    if (std::FILE* f = std::fopen("/proc/self/status", "r")) {
        char line[256];
        while (std::fgets(line, sizeof line, f))
            if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
        std::fclose(f);
    }
    if (kb < 0) {
        rusage usage{};
        getrusage(RUSAGE_SELF, &usage);
        kb = usage.ru_maxrss, since_reset = false;
    }
    std::printf("  peak memory (RSS) %s: %.1f MB\n", since_reset ? "during this section" : "of the process so far",
                kb / 1024.0);
}

}  // namespace

}  // namespace awd::bench

// usage: bench [--peers DIR] [--only SECTION ...]; sections: steps autodiff training hessian duality gan landscape continual rl
int main(int argc, char** argv) {
    std::set<std::string> only;
    for (int k = 1; k + 1 < argc; ++k) {
        if (!std::strcmp(argv[k], "--peers")) awd::bench::g_peers_dir = argv[++k];
        else if (!std::strcmp(argv[k], "--only")) only.insert(argv[++k]);
    }
    const std::pair<const char*, void (*)()> sections[] = {{"steps", awd::bench::bench_steps},
                                                           {"autodiff", awd::bench::bench_autodiff},
                                                           {"training", awd::bench::bench_training},
                                                           {"hessian", awd::bench::bench_hessian},
                                                           {"duality", awd::bench::bench_duality},
                                                           {"gan", awd::bench::bench_gan},
                                                           {"landscape", awd::bench::bench_landscape},
                                                           {"continual", awd::bench::bench_continual},
                                                           {"rl", awd::bench::bench_rl}};
    for (const std::string& name : only)
        if (std::none_of(std::begin(sections), std::end(sections), [&](const auto& s) { return name == s.first; })) {
            std::fprintf(stderr,
                         "bench: --only %s: no such section (steps autodiff training hessian duality gan landscape "
                         "continual rl)\n",
                         name.c_str());
            return 2;
        }
    try {
        for (const auto& [name, section] : sections) {
            if (!only.empty() && !only.count(name)) continue;
            const bool reset = awd::bench::reset_peak_memory();
            section();
            awd::bench::print_peak_memory(reset);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
