// test_engine.cpp: the grid engine without a cluster: the local engine's exit codes and logs, what
// the report says of each missing run, shell quoting, and the two-valley grid gathered from its
// cells (what the Slurm report does) against the grid run in one process. The Slurm side proper
// is `make slurm-test` (.ci/slurm-test.sh), on a one-node cluster.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "experiments/common/engine.h"
#include "nn/files.h"
#include "tests/run_command.h"

using namespace awd;

namespace {

std::string scratch(const std::string& name) {
    const std::string dir =
        (std::filesystem::temp_directory_path() / ("awd-engine-" + name + "-" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(dir);
    make_directories(dir);
    return dir;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("engine: shell_quote survives the shell, quotes and all") {
    const std::string text = "it's \"$HOME\" `date` \\ ; done";
    const Outcome o = run_command("printf %s " + shell_quote(text));
    CHECK(o.status == 0);
    CHECK(o.output == text);
}

TEST_CASE(
    "engine: the local engine runs the runs not done, keeps each exit code, and the report names the missing ones") {
    const std::string grid = scratch("local");
    std::vector<GridRun> runs = {{"ok", grid + "/ok.log", "echo hello", false},
                                 {"fails", grid + "/sub/fails.log", "echo trouble >&2; exit 3", false},
                                 {"done", grid + "/done.log", "exit 9", true}};
    const std::vector<int> codes = run_local(runs, 2);
    CHECK(codes == std::vector<int>{0, 3, 0});
    CHECK(read_file(grid + "/ok.log") == "hello\n");
    CHECK(read_file(grid + "/sub/fails.log") == "trouble\n");
    CHECK(read_file(grid + "/sub/fails.log.exit") == "3 local\n");
    CHECK_FALSE(file_exists(grid + "/done.log"));  // a done run is not run again
    runs[0].done = true;
    // what array tasks leave: one killed by SIGTERM, one that never wrote its exit code, one never started
    runs.push_back({"killed", grid + "/killed.log", "true", false});
    write_file_atomically(grid + "/killed.log.exit", "killed slurm 7_1\n");
    runs.push_back({"vanished", grid + "/vanished.log", "true", false});
    write_file_atomically(grid + "/vanished.log.exit", "running slurm 7_2\n");
    runs.push_back({"pending", grid + "/pending.log", "true", false});
    const std::vector<std::string> missing = missing_runs(grid, runs);
    REQUIRE(missing.size() == 4);
    CHECK(missing[0] == "fails: failed, exit code 3; log " + grid + "/sub/fails.log");
    CHECK(contains(missing[1],
                   "killed: killed (SIGTERM: scancel or the time limit), exit code 143; log " + grid + "/killed.log"));
    CHECK(contains(missing[1], "Slurm task 7_1, its log " + grid + "/engine/logs/7_1.out"));
    CHECK(contains(missing[2], "vanished: killed without an exit code"));
    CHECK(contains(missing[3], "pending: never started"));
    std::filesystem::remove_all(grid);
}

TEST_CASE("engine: an array task marks a run that died of SIGTERM as killed, even before its own trap has run") {
    // scancel signals the task's shell and the run; when the run's exit reaches the shell before the
    // shell's own SIGTERM, only the exit code (143) says the task was being cancelled
    const std::string grid = scratch("array"), engine_dir = grid + "/engine";
    make_directories(engine_dir);
    write_file_atomically(engine_dir + "/tasks.tsv", "dies\t" + grid + "/dies.log\tkill -TERM $$\n"
                                                     "after\t" + grid + "/after.log\ttrue\n");
    write_file_atomically(engine_dir + "/array.sh", array_script("t", engine_dir, grid, 2));
    const Outcome o = run_command("SLURM_ARRAY_JOB_ID=7 SLURM_ARRAY_TASK_ID=0 /bin/sh " + engine_dir + "/array.sh");
    CHECK(o.status == 143);  // the task reports itself killed, so Slurm's accounting shows it
    CHECK(read_file(grid + "/dies.log.exit") == "killed slurm 7_0\n");
    CHECK_FALSE(file_exists(grid + "/after.log.exit"));  // a cancelled task starts no further run
    const std::vector<std::string> missing = missing_runs(grid, {{"dies", grid + "/dies.log", "true", false}});
    REQUIRE(missing.size() == 1);
    CHECK(contains(missing[0], "dies: killed (SIGTERM: scancel or the time limit), exit code 143"));
    std::filesystem::remove_all(grid);
}

TEST_CASE("engine: --slurm-args that cannot be split are refused before anything is submitted") {
    const std::string grid = scratch("args");
    EngineOptions o;
    o.engine = "slurm", o.slurm_args = "--comment 'unbalanced";
    CHECK_THROWS_WITH_AS(run_slurm(grid, {{"a", grid + "/a.log", "true", false}}, "true", o),
                         doctest::Contains("--slurm-args: cannot split"), std::invalid_argument);
    CHECK_FALSE(file_exists(grid + "/engine/tasks.tsv"));
    std::filesystem::remove_all(grid);
}

TEST_CASE(
    "engine: a two-valley cell run alone is that cell of the grid, and the report gathers the cells into the grid's "
    "bytes") {
    const std::string dir = scratch("cells");
    const std::string grid = "build/awd landscape --model two-valley --eta 0.02,0.05 --sigma 0.1 --runs 20 --steps 300";
    Outcome o = run_command(grid + " --out " + dir + "/whole");
    REQUIRE_MESSAGE(o.status == 0, o.output);
    o = run_command(grid + " --report-only --out " + dir +
                    "/gathered");  // no cell yet: both reported missing, nothing written
    CHECK(o.status == 1);
    CHECK(contains(o.output, "2 of 2 cells failed or are missing"));
    CHECK(contains(o.output, "cell1 (eta 0.05, sigma 0.1): never started"));
    CHECK_FALSE(file_exists(dir + "/gathered"));
    for (const char* k : {"1", "0"}) {
        o = run_command(grid + " --threads 1 --cell " + k + " --out " + dir + "/gathered.runs/cell" + k);
        REQUIRE_MESSAGE(o.status == 0, o.output);
    }
    const nlohmann::json whole = nlohmann::json::parse(read_file(dir + "/whole/summary.json"));
    const nlohmann::json cell1 = nlohmann::json::parse(read_file(dir + "/gathered.runs/cell1/summary.json"));
    CHECK(cell1["cells"].size() == 1);
    CHECK(cell1["cells"][0] == whole["cells"][1]);  // its own random stream, as in the whole grid
    o = run_command(grid + " --report-only --out " + dir + "/gathered");
    REQUIRE_MESSAGE(o.status == 0, o.output);
    nlohmann::json gathered = nlohmann::json::parse(read_file(dir + "/gathered/summary.json")), expected = whole;
    gathered.erase("seconds"), expected.erase("seconds");
    gathered.erase("provenance"), expected.erase("provenance");  // its command line says --report-only
    CHECK(gathered == expected);
    for (const char* file : {"/trace.csv", "/trace.png", "/P_flat_vs_noise.png"})
        CHECK_MESSAGE(read_file(dir + "/gathered" + file) == read_file(dir + "/whole" + file), file);
    o = run_command(grid + " --cell 2 --out " + dir + "/nowhere");
    CHECK(o.status == 1);
    CHECK(contains(o.output, "--cell 2: the grid has 2 cells"));
    o = run_command(grid + " --slurm-args --time=1:00 --out " + dir +
                    "/forgot");  // Slurm's flags without --engine slurm
    CHECK(o.status == 1);
    CHECK(contains(o.output, "are for --engine slurm; this command would run the grid here"));
    o = run_command("build/awd landscape --model valley --engine slurm --out " + dir + "/valley");
    CHECK(o.status == 1);
    CHECK(contains(o.output, "are for the two-valley grid"));
    std::filesystem::remove_all(dir);
}

TEST_CASE(
    "engine: continual-table --tasks refuses a line that is not NAME <tab> COMMAND, naming the file and the line") {
    const std::string dir = scratch("tasks");
    write_file_atomically(dir + "/tasks.tsv", "a\tbuild/awd continual --out " + dir + "/a\nno tab here\n");
    const Outcome o =
        run_command("build/awd continual-table --tasks " + dir + "/tasks.tsv --runs " + dir + " --out " + dir);
    CHECK(o.status == 1);
    CHECK(contains(o.output, dir + "/tasks.tsv: line 2 is not NAME <tab> COMMAND"));
    std::filesystem::remove_all(dir);
}
