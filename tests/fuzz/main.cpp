// fuzz/main.cpp: `make fuzz`: the loader fuzzer (tests/fuzzing.h) at full length, built with
// AddressSanitizer and UBSan, so that any memory error or overflow ends the run as a crash.
// Prints one line of counts per loader; exits 1 when any mutation was vague, accepted though
// invalid, or hit an allocation failure.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "tests/fuzzing.h"

int main(int argc, char** argv) {
    const long mutations = argc > 1 ? std::atol(argv[1]) : 100000;
    const std::string scratch = awd::fuzz::scratch_root() + "/awd-fuzz-" + std::to_string(getpid());
    int bad = 0;
    for (const std::string& loader : awd::fuzz::loader_names()) {
        if (argc > 2 && loader != argv[2]) continue;  // `build/fuzz N LOADER`: one loader only
        const auto t0 = std::chrono::steady_clock::now();
        const awd::fuzz::Tally t = awd::fuzz::run(loader, mutations, 20240601, scratch + "/" + loader);
        std::printf("%s (%.0f s)\n", awd::fuzz::describe(t).c_str(),
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        for (const std::string& e : t.examples) std::printf("    %s\n", e.c_str());
        std::fflush(stdout);
        bad += t.vague + t.accepted_invalid + t.allocation > 0;
    }
    std::filesystem::remove_all(scratch);
    std::printf("fuzz: 0 crashes; %d loader(s) with vague, invalid-accepted or allocation outcomes\n", bad);
    return bad ? 1 : 0;
}
