// test_faults.cpp: faults and misuse from outside the process: `awd train` killed with SIGKILL
// at random moments while it replaces a complete run, two writers racing for one folder, every
// numeric flag out of its range, a divergence in the first epoch, a sweep with a failing run,
// and `awd overview` with nothing to show.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "experiments/common/run_dir.h"
#include "experiments/common/run_folder.h"
#include "nn/files.h"

extern char** environ;

using namespace awd;

namespace {

const std::string kAwd = "build/awd";

std::string scratch_dir(const std::string& name) {
    const std::string dir =
        (std::filesystem::temp_directory_path() / ("awd-faults-" + name + "-" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(dir);
    make_directories(dir);
    return dir;
}

// Starts `build/awd args...` with stdout and stderr into log; returns its PID.
pid_t start_awd(const std::vector<std::string>& args, const std::string& log) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> all = {kAwd};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    REQUIRE(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
}

int wait_exit(pid_t pid) {  // exit status, or 128 + signal
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Outcome {
    int status;
    std::string output;
};

Outcome run_awd(const std::vector<std::string>& args, const std::string& log) {
    const int status = wait_exit(start_awd(args, log));
    return {status, read_file(log)};
}

std::vector<std::string> small_training(const std::string& out, int seed) {
    return {"train",       "--data",   "synthetic",
            "--arch",      "20-64-10", "--train-per-class",
            "300",         "--test",   "200",
            "--epochs",    "15",       "--stop-loss",
            "0",           "--seed",   std::to_string(seed),
            "--overwrite", "--out",    out};  // each seed replaces the last run
}

int count_temporaries(const std::string& parent, const std::string& name) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(parent))
        n += e.path().filename().string().rfind(name + ".partial-", 0) == 0 ||
            e.path().filename().string().rfind(name + ".replaced-", 0) == 0;
    return n;
}

}  // namespace

TEST_CASE(
    "SIGKILL at random moments while awd train replaces a complete run: the folder is always exactly one whole run") {
    const std::string parent = scratch_dir("kill"), run = parent + "/run";
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(run_awd(small_training(run, 0), parent + "/first.log").status == 0);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::mt19937_64 rng(5);
    int kills = 0, attempts = 0, old_kept = 0, new_complete = 0, mixed = 0;
    for (int k = 1; kills < 24 && k <= 48; ++k) {  // a kill after the run finished does not count
        ++attempts;
        const std::string before = read_manifest(run).run_id;
        const pid_t pid = start_awd(small_training(run, k), parent + "/killed.log");
        std::this_thread::sleep_for(
            std::chrono::duration<double>(std::uniform_real_distribution<double>(0, 1.05 * seconds)(rng)));
        kill(pid, SIGKILL);
        kills += wait_exit(pid) == 128 + SIGKILL;
        // exactly the old run, or exactly the new one (seed k), and a reader accepts it
        try {
            const std::string after = verify_run_folder(run).run_id;
            const Run loaded = load_run(run);
            const bool is_new = loaded.summary["config"]["seed"] == k && loaded.summary["run_id"] == after;
            old_kept += after == before, new_complete += is_new;
            mixed += after != before && !is_new;
        } catch (const std::exception& e) {
            ++mixed;
            FAIL_CHECK("after kill " << k << ": " << e.what());
        }
    }
    std::printf(
        "fault test: %d SIGKILLs of awd train in %d attempts (%.2f s per run): %d left the old run, %d the complete "
        "new run, %d mixed\n",
        kills, attempts, seconds, old_kept, new_complete, mixed);
    CHECK(kills >= 20);
    CHECK(mixed == 0);
    CHECK(old_kept + new_complete == attempts);
    // what the killed writers left is listed by awd overview, then removed by the next writer
    const Outcome listed =
        run_awd({"overview", "--root", parent, "--out", parent + "/results"}, parent + "/overview.log");
    CHECK(listed.status == 1);  // no sweeps there
    CHECK(listed.output.find("no sweep results") != std::string::npos);
    if (count_temporaries(parent, "run") > 0) CHECK(listed.output.find(run + ".partial-") != std::string::npos);
    REQUIRE(run_awd(small_training(run, 99), parent + "/last.log").status == 0);
    CHECK(count_temporaries(parent, "run") == 0);
    std::filesystem::remove_all(parent);
}

TEST_CASE("two writers into one run folder: exactly one wins, the other is refused naming the holder's PID") {
    const std::string parent = scratch_dir("race");
    for (int round = 0; round < 3; ++round) {
        const std::string run = parent + "/run" + std::to_string(round);
        const pid_t a = start_awd(small_training(run, 1), parent + "/a.log"),
                    b = start_awd(small_training(run, 2), parent + "/b.log");
        const int status_a = wait_exit(a), status_b = wait_exit(b);
        CHECK(status_a + status_b == 1);  // one 0, one 1
        const bool a_won = status_a == 0;
        const std::string loser_log = read_file(parent + (a_won ? "/b.log" : "/a.log"));
        CHECK(loser_log.find("is being written by process " + std::to_string(a_won ? a : b)) != std::string::npos);
        const Run loaded = load_run(run);
        CHECK(loaded.summary["config"]["seed"] == (a_won ? 1 : 2));
    }
    std::filesystem::remove_all(parent);
}

TEST_CASE("every numeric flag outside its range, NaN or Inf exits 2 naming the flag and the value as typed") {
    const std::string dir = scratch_dir("flags");
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
        {"train",
         {"--train-per-class 0",
          "--test -3",
          "--image-size 0",
          "--data-seed -1",
          "--label-noise 1",
          "--init-scale 0",
          "--lr 0",
          "--lr nan",
          "--lr inf",
          "--lr 1e999",
          "--momentum -1",
          "--beta1 1.5",
          "--beta2 1",
          "--eps 0",
          "--lr-step 0",
          "--lr-gamma -1",
          "--batch 0",
          "--epochs -2",
          "--stop-loss -1",
          "--stop-accuracy 2",
          "--dropout -0.1",
          "--dropout-layer 0",
          "--weight-decay -1",
          "--decay-epochs -5",
          "--seed -1",
          "--seed 99999999999999999999",
          "--threads 0",
          "--batch 2.5",
          "--lr 0x"}},
        {"hessian", {"--layer -2", "--top 0", "--memory-limit -1", "--hutchinson 0", "--threads 0", "--seed -1"}},
        {"duality", {"--layer -1", "--seed nan", "--threads 0"}},
        {"sweep", {"--repeats 0", "--jobs 0", "--values 0.1,inf"}},
        {"check-hessian", {"--samples 0", "--seed -4"}},
    };
    int refused = 0, total = 0;
    for (const auto& [command, flags] : cases)
        for (const std::string& flag : flags) {
            const std::string name = flag.substr(0, flag.find(' ')), value = flag.substr(flag.find(' ') + 1);
            std::vector<std::string> args = {command, name, value};
            if (command == "hessian" || command == "duality") args.insert(args.end(), {"--model", dir});
            if (command == "sweep") args.insert(args.end(), {"--param", "lr"});
            const Outcome o = run_awd(args, dir + "/flag.log");
            ++total;
            refused += o.status == 2 && o.output.find(name + ": '" + value + "'") != std::string::npos;
            CHECK_MESSAGE(o.status == 2, command, " ", flag, ": ", o.output);
            CHECK_MESSAGE(o.output.find(name + ": '" + value + "'") != std::string::npos, command, " ", flag, ": ",
                          o.output);
        }
    std::printf("flags: %d of %d out-of-range values refused with exit 2, naming the flag\n", refused, total);
    const Outcome help = run_awd({"train", "--help"}, dir + "/help.log");
    CHECK(help.status == 0);
    CHECK(help.output.find("--momentum FLOAT:in [0, 1)") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a divergence in the first epoch: exit 1, a summary that says where, no made-up losses, a whole run folder") {
    const std::string dir = scratch_dir("diverge");
    const Outcome o = run_awd({"train", "--data", "synthetic", "--arch", "10-8-3", "--loss", "mse", "--train-per-class",
                               "20", "--lr", "1e12", "--epochs", "5", "--out", dir + "/run"},
                              dir + "/train.log");
    CHECK(o.status == 1);
    verify_run_folder(dir + "/run");
    const nlohmann::json s = nlohmann::json::parse(read_file(dir + "/run/summary.json"));
    CHECK(s["status"] == "diverged");
    CHECK(s["message"].get<std::string>().rfind("diverged at epoch 1, step ", 0) == 0);
    CHECK(s["epochs"] == 0);
    for (const char* key : {"train_loss", "test_loss", "train_accuracy", "test_accuracy"})
        CHECK_MESSAGE(s[key].is_null(), key);
    Model net = make_mlp(MlpSpec::parse("10-8-3", Activation::Relu, true, Loss::MeanSquaredError));
    CHECK(read_checkpoint(dir + "/run/checkpoint.bin", net) == 0);  // the initial parameters, the last good ones
    std::filesystem::remove_all(dir);
}

TEST_CASE(
    "awd sweep exits 1 naming how many runs failed and where their logs are; awd overview exits 1 with nothing to "
    "show") {
    const std::string dir = scratch_dir("sweep-fail");
    Outcome o = run_awd({"sweep", "--param", "lr", "--values", "0.1,0.2", "--repeats", "1", "--jobs", "1", "--out",
                         dir + "/sweep", "--train-args", "--activation swish"},
                        dir + "/sweep.log");
    CHECK(o.status == 1);
    CHECK(o.output.find("2 of 2 runs failed; their logs:") != std::string::npos);
    CHECK(o.output.find(dir + "/sweep/lr=0.1/seed0.{train,duality}.log") != std::string::npos);
    CHECK(read_file(dir + "/sweep/lr=0.1/seed0.train.log").find("unknown activation 'swish'") != std::string::npos);
    o = run_awd({"overview", "--root", dir + "/nonexistent"}, dir + "/overview.log");
    CHECK(o.status == 1);
    CHECK(o.output.find("--root " + dir + "/nonexistent does not exist") != std::string::npos);
    std::filesystem::remove_all(dir);
}
