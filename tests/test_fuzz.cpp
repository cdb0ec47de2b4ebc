// test_fuzz.cpp: a short deterministic run of the loader fuzzer (tests/fuzzing.h); `make fuzz`
// runs the same mutations 100,000 times per loader under AddressSanitizer and UBSan.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "tests/fuzzing.h"

TEST_CASE("fuzzing the loaders: every mutated file loads as valid or is refused naming file and field") {
    const std::string scratch = awd::fuzz::scratch_root() + "/awd-fuzz-" + std::to_string(getpid());
    for (const std::string& loader : awd::fuzz::loader_names()) {
        const awd::fuzz::Tally t = awd::fuzz::run(loader, 3000, 11, scratch + "/" + loader);
        std::string examples;
        for (const std::string& e : t.examples) examples += "\n  " + e;
        INFO(awd::fuzz::describe(t), examples);
        CHECK(t.mutations == 3000);
        CHECK(t.vague == 0);
        CHECK(t.accepted_invalid == 0);
        CHECK(t.allocation == 0);
        CHECK(t.clear > 0);  // the mutations do reach the checks
    }
    std::filesystem::remove_all(scratch);
}
