// test_provenance.cpp: awd --version, the provenance every summary records, rerunning a run from
// its summary (--config), and run folders that are never replaced silently; awd run as a user would.
#include <cblas.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "nn/files.h"
#include "tests/run_command.h"

using namespace awd;
namespace fs = std::filesystem;

namespace {

const std::string kAwd = "build/awd";
const std::string kTiny =
    " train --data synthetic --arch 4-5-3 --train-per-class 20 --test 30 --epochs 4 --lr 0.05 --seed 7";

std::string scratch(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("awd-provenance-" + std::to_string(getpid()));
    fs::create_directories(dir);
    fs::remove_all(dir / name);
    return (dir / name).string();
}

nlohmann::json summary_of(const std::string& dir) { return nlohmann::json::parse(read_file(dir + "/summary.json")); }

// summary.json without what legitimately differs between two runs of the same flags.
nlohmann::json comparable(nlohmann::json s) {
    for (const char* key : {"provenance", "seconds", "run_id"}) s.erase(key);
    s["config"].erase("out");
    return s;
}

// log.csv without its last column (seconds).
std::string without_seconds(const std::string& csv) {
    std::istringstream in(csv);
    std::string out;
    for (std::string line; std::getline(in, line);) out += line.substr(0, line.rfind(',')) + "\n";
    return out;
}

}  // namespace

TEST_CASE("awd --version prints the version and the commit of the checkout it was built from") {
    const Outcome o = run_command(kAwd + " --version");
    REQUIRE(o.status == 0);
    CHECK(o.output.rfind("awd 0.", 0) == 0);
    const Outcome git = run_command("git rev-parse --short=12 HEAD");
    if (git.status == 0) CHECK(o.output.find("(commit " + git.output.substr(0, 12)) != std::string::npos);
}

TEST_CASE("summary.json records version, commit, command line, flags, threads and the BLAS kernel") {
    const std::string dir = scratch("recorded");
    const Outcome o = run_command(kAwd + kTiny + " --threads 2 --out " + dir);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    const nlohmann::json p = summary_of(dir)["provenance"];
    const Outcome version = run_command(kAwd + " --version");
    CHECK(version.output.find("commit " + p["commit"].get<std::string>() + ")") != std::string::npos);
    CHECK(version.output.find("awd " + p["version"].get<std::string>() + " ") == 0);
    CHECK(p["command"] == "train");
    CHECK(p["command_line"].size() == 20);
    CHECK(p["command_line"][1] == "train");
    CHECK(p["command_line"].back() == dir);
    CHECK(p["flags"]["lr"] == "0.05");
    CHECK(p["flags"]["seed"] == "7");
    CHECK(p["flags"]["out"] == dir);
    CHECK(!p["flags"].contains("batch"));  // not given: not recorded
    CHECK(p["threads"] == 2);
    CHECK(p["blas"]["core"] == std::string(openblas_get_corename()));  // this process and awd load the same OpenBLAS
    CHECK(p["blas"]["config"].get<std::string>().find("OpenBLAS") == 0);
}

TEST_CASE("awd train --config SUMMARY reruns a run: same flags, same bytes; flags given override") {
    const std::string first = scratch("first"), again = scratch("again"), other = scratch("other");
    REQUIRE(run_command(kAwd + kTiny + " --no-bias --out " + first).status == 0);
    const Outcome o = run_command(kAwd + " train --config " + first + "/summary.json --out " + again);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    for (const char* f : {"W0.npy", "W1.npy", "X_train.npy", "y_train.npy", "X_test.npy", "y_test.npy",
                          "noisy_train.npy", "checkpoint.bin"})
        CHECK_MESSAGE(read_file(first + "/" + f) == read_file(again + "/" + f), f);
    CHECK(comparable(summary_of(first)) == comparable(summary_of(again)));
    CHECK(without_seconds(read_file(first + "/log.csv")) == without_seconds(read_file(again + "/log.csv")));
    CHECK(summary_of(again)["provenance"]["flags"]["no-bias"] == "true");

    REQUIRE(run_command(kAwd + " train --config " + first + "/summary.json --lr 0.2 --out " + other).status == 0);
    const nlohmann::json s = summary_of(other);
    CHECK(s["config"]["lr"] == 0.2);
    CHECK(s["config"]["seed"] == 7);
    CHECK(s["bias"] == false);
    CHECK(read_file(first + "/W0.npy") != read_file(other + "/W0.npy"));
}

TEST_CASE("awd --config refuses a flag the command lacks, a value out of range, another command's summary") {
    const std::string dir = scratch("source");
    REQUIRE(run_command(kAwd + kTiny + " --out " + dir).status == 0);
    std::string text = read_file(dir + "/summary.json");
    auto with = [&](const std::string& from, const std::string& to) {
        std::string t = text;
        REQUIRE(t.find(from) != std::string::npos);
        t.replace(t.find(from), from.size(), to);
        const std::string path = dir + ".edited.json";
        write_file_atomically(path, t);
        return path;
    };
    Outcome o = run_command(kAwd + " train --config " + with("\"lr\": \"0.05\"", "\"learning-rate\": \"0.05\"") +
                            " --out " + scratch("x"));
    CHECK(o.status == 2);
    CHECK(o.output.find("provenance.flags.learning-rate: awd train has no flag --learning-rate") != std::string::npos);
    o = run_command(kAwd + " train --config " + with("\"lr\": \"0.05\"", "\"lr\": \"-3\"") + " --out " + scratch("x"));
    CHECK(o.status == 2);
    CHECK(o.output.find("--lr: '-3' is outside") != std::string::npos);
    CHECK(!fs::exists(scratch("x")));
    o = run_command(kAwd + " duality --config " + dir + "/summary.json");
    CHECK(o.status == 2);
    CHECK(o.output.find("records a run of `awd train`, not of `awd duality`") != std::string::npos);
    o = run_command(kAwd + " train --config " + dir + "/log.csv");
    CHECK(o.status == 2);
    CHECK(o.output.find("not valid JSON") != std::string::npos);
}

TEST_CASE("a run folder is never replaced silently") {
    const std::string dir = scratch("kept");
    REQUIRE(run_command(kAwd + kTiny + " --out " + dir).status == 0);
    const std::string run_id = summary_of(dir)["run_id"];

    SUBCASE("the same command onto the complete folder: said, exit 0, nothing redone") {
        const Outcome o = run_command(kAwd + kTiny + " --out " + dir);
        CHECK(o.status == 0);
        CHECK(o.output.find("already holds this run") != std::string::npos);
        CHECK(summary_of(dir)["run_id"] == run_id);
        const Outcome rerun = run_command(kAwd + " train --config " + dir + "/summary.json");  // its own folder
        CHECK(rerun.status == 0);
        CHECK(summary_of(dir)["run_id"] == run_id);
    }
    SUBCASE("other flags: refused naming each flag that differs, the folder kept; --overwrite replaces it") {
        std::string other = kTiny;
        other.replace(other.find("--lr 0.05"), 9, "--lr 0.07 --batch 10");
        Outcome o = run_command(kAwd + other + " --out " + dir);
        CHECK(o.status == 1);
        CHECK(o.output.find("other flags: --batch 10 (there: 25), --lr 0.07 (there: 0.05)") != std::string::npos);
        CHECK(summary_of(dir)["run_id"] == run_id);
        o = run_command(kAwd + other + " --overwrite --out " + dir);
        CHECK(o.status == 0);
        CHECK(summary_of(dir)["config"]["lr"] == 0.07);
    }
    SUBCASE("a changed file makes the folder incomplete: the same command runs again") {
        write_file_atomically(dir + "/W0.npy", "tampered");
        const Outcome o = run_command(kAwd + kTiny + " --out " + dir);
        CHECK(o.status == 0);
        CHECK(o.output.find("incomplete") != std::string::npos);
        CHECK(summary_of(dir)["run_id"] != run_id);
    }
    SUBCASE("a folder without a provenance record (an older awd) is refused") {
        nlohmann::json s = summary_of(dir);
        s.erase("provenance");
        write_file_atomically(dir + "/summary.json", s.dump());
        const Outcome o = run_command(kAwd + kTiny + " --out " + dir);
        CHECK(o.status == 1);
        CHECK(o.output.find("without a readable provenance record") != std::string::npos);
    }
}
