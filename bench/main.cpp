// main.cpp: `make bench`. Prints timings and ratios against PyTorch peers measured in the same
// run; never fails on speed (speed goals are read off the printed ratios, not asserted).
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "bench/bench.h"

namespace awd::bench {

namespace {
std::string g_peers_dir = "../shared/peers";
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

std::map<std::string, std::string> run_peer(const std::string& script_and_args) {
    return run_peer_script(g_peers_dir + "/" + script_and_args);
}

void print_peak_memory() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("  peak memory (RSS) of the process so far: %.1f MB\n", usage.ru_maxrss / 1024.0);
}

}  // namespace awd::bench

// usage: bench [--peers DIR] [--only SECTION ...]; sections: steps autodiff training hessian duality gan landscape continual
int main(int argc, char** argv) {
    std::set<std::string> only;
    for (int k = 1; k + 1 < argc; ++k) {
        if (!std::strcmp(argv[k], "--peers")) awd::bench::g_peers_dir = argv[++k];
        else if (!std::strcmp(argv[k], "--only")) only.insert(argv[++k]);
    }
    const std::pair<const char*, void (*)()> sections[] = {
        {"steps", awd::bench::bench_steps}, {"autodiff", awd::bench::bench_autodiff}, {"training", awd::bench::bench_training},
        {"hessian", awd::bench::bench_hessian}, {"duality", awd::bench::bench_duality}, {"gan", awd::bench::bench_gan}, {"landscape", awd::bench::bench_landscape},
        {"continual", awd::bench::bench_continual}};
    for (const auto& [name, section] : sections)
        if (only.empty() || only.count(name)) section();
    return 0;
}
