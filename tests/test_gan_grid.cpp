// test_gan_grid.cpp: `awd gan-paper`'s grid (experiments/gan/gan_grid.h, cmd_gan_paper.cpp): a
// GanConfig through gan_flags and `awd gan` runs exactly what run_gan runs in-process (the same
// final particles, bit for bit, and the same settings); the mnist bisection replayed from
// constructed cell scores decides its brackets and rounds as the bisection rule says, one stage
// at a time; the report refuses while a run is missing, naming it, and a rerun runs only that one.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "experiments/gan/gan_grid.h"
#include "nn/files.h"
#include "tests/run_command.h"

using namespace awd;

namespace {

std::string scratch(const std::string& name) {
    const std::string dir =
        (std::filesystem::temp_directory_path() / ("awd-gan-grid-" + name + "-" + std::to_string(getpid()))).string();
    std::filesystem::remove_all(dir);
    return dir;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("gan grid: gan_flags + awd gan run exactly the GanConfig run_gan runs in-process") {
    GanConfig ring;  // every field away from awd gan's defaults, doubles that %g would round
    ring.particles = 12, ring.g1 = 0.9, ring.g2 = 0.9 * 0.31415926535897931, ring.lr_g = 0.0123456789012345678;
    ring.lr_d = 0.003, ring.d_steps = 2, ring.d_steps_first = 3, ring.weight_decay = 1e-4, ring.penalty = 0.3;
    ring.penalty_on = PenaltyOn::Both, ring.penalty_scale = PenaltyScale::BatchMean;
    ring.objective = GanObjective::Wasserstein, ring.hidden = {7, 5}, ring.activation = Activation::Tanh;
    ring.dropout = 0.25, ring.dropout_after = 2, ring.output_bias = false;
    ring.optimizer.kind = OptimizerKind::Adam, ring.optimizer.amsgrad = true, ring.fresh_optimizer = true;
    ring.batch = 9, ring.init_std = 0.37, ring.seed = 5;
    GanConfig sgd;  // SGD with momentum, the log-D objective, penalty on the data
    sgd.particles = 10, sgd.g2 = 0.2, sgd.hidden = {6}, sgd.optimizer.momentum = 0.5, sgd.seed = 3;
    const std::string out = scratch("flags");
    for (const GanConfig& c : {ring, sgd}) {
        const GanTarget target = make_target("ring8");
        GanDynamics dynamics(target, c, coupling_kernel(c.particles, c.g1, c.g2));
        const GanOutcome outcome = run_gan(dynamics, target, 15, 5);
        REQUIRE(outcome.error.empty());
        const Outcome o = run_command("build/awd gan" + gan_flags(c, "ring8", 15, 5) + " --snapshots 0 --out " + out);
        REQUIRE_MESSAGE(o.status == 0, o.output);
        CHECK(read_npy_matrix(out + "/particles.npy").data == dynamics.particles().data);  // bit for bit
        CHECK(read_npy_matrix(out + "/discriminator_theta.npy").data == dynamics.discriminator().theta().data);
        const nlohmann::json s = nlohmann::json::parse(read_file(out + "/summary.json"));
        CHECK(s["g2"].get<double>() == c.g2);
        CHECK(s["lr_g"].get<double>() == c.lr_g);
        CHECK(s["penalty_scale"] == penalty_scale_name(c.penalty_scale));
        CHECK(s["discriminator"] == nlohmann::json(c.hidden));
        CHECK(s["momentum_d"].get<double>() == c.optimizer.momentum);
        CHECK(s["threads"] == 1);
        // the exact energy distance of every record (what gan-paper's damping part averages)
        const nlohmann::json& t = s["trajectory"];
        REQUIRE(t["step"].size() == outcome.trajectory.size());
        for (size_t k = 0; k < outcome.trajectory.size(); ++k) {
            CHECK(t["step"][k] == outcome.trajectory[k].step);
            CHECK(t["energy_distance"][k].get<double>() == outcome.trajectory[k].order.energy);
        }
        CHECK(s["collapse_score"].get<double>() == outcome.trajectory.back().order.collapse);
        std::filesystem::remove_all(out);
    }
    GanConfig nesterov;
    nesterov.optimizer.nesterov = true;
    CHECK_THROWS_WITH_AS(gan_flags(nesterov, "ring8", 1, 1), doctest::Contains("Nesterov"), std::invalid_argument);
}

TEST_CASE("gan grid: the bisection replayed from constructed cells, one stage at a time") {
    // setting 0 turns at g2/g1 = 0.1 (score 0 below, 3 from there), setting 1 is high everywhere
    // (below lo), setting 2 low everywhere (above hi); one lrD each, level 1, 2 rounds
    const double lo = 0.01, hi = 0.977, half = 1;
    std::map<std::pair<size_t, double>, BisectionCell> present;  // (setting, g2/g1) -> its cell
    auto score = [](size_t setting, double ratio) {
        return setting == 0 ? (ratio >= 0.1 ? 3.0 : 0.0) : setting == 1 ? 2.0 : 0.5;
    };
    auto replay = [&] {
        return replay_bisection(3, 1, 2, lo, hi, half, [&](const WantedCell& w) -> std::optional<BisectionCell> {
            const auto c = present.find({w.setting, w.ratio});
            return c == present.end() ? std::nullopt : std::optional<BisectionCell>(c->second);
        });
    };
    auto run = [&](const WantedCell& w) {  // two seeds that agree
        const double y = score(w.setting, w.ratio);
        present[{w.setting, w.ratio}] = {w.ratio, {y, y}, {EndState::Separated, EndState::Separated}};
    };
    BisectionState s = replay();
    CHECK_FALSE(s.complete);
    CHECK(s.stage == 0);
    REQUIRE(s.wanted.size() == 6);  // both ends of every bracket
    CHECK(s.wanted[0].ratio == lo);
    CHECK(s.wanted[1].ratio == hi);
    CHECK(s.wanted[5].setting == 2);
    run(s.wanted[0]);  // one cell of the stage done: the other five are still wanted
    CHECK(replay().wanted.size() == 5);
    for (size_t k = 1; k < s.wanted.size(); ++k) run(s.wanted[k]);
    s = replay();
    CHECK(s.located[1][0].verdict == "below 0.010");
    CHECK(s.located[1][0].point == lo);
    CHECK(s.located[2][0].verdict == "above 0.977");
    CHECK(s.located[2][0].point == hi);
    CHECK(s.located[0][0].verdict == "bracketed");
    CHECK(s.located[0][0].point == -1);
    CHECK(s.stage == 1);
    REQUIRE(s.wanted.size() == 1);           // only the open bracket bisects
    const double mid1 = std::sqrt(lo * hi);  // 0.0988: below the turn, so it becomes the low end
    CHECK(s.wanted[0].ratio == mid1);
    run(s.wanted[0]);
    s = replay();
    CHECK(s.stage == 2);
    REQUIRE(s.wanted.size() == 1);
    const double mid2 = std::sqrt(mid1 * hi);  // 0.311: above the turn, the high end
    CHECK(s.wanted[0].ratio == mid2);
    run(s.wanted[0]);
    s = replay();
    CHECK(s.complete);
    CHECK(s.wanted.empty());
    CHECK(s.located[0][0].cells.size() == 4);
    // interpolated in log g2/g1 between (mid1, score 0) and (mid2, score 3) at level 1: a third of the way
    CHECK(s.located[0][0].point == doctest::Approx(std::pow(mid1, 2.0 / 3) * std::pow(mid2, 1.0 / 3)).epsilon(1e-14));
}

TEST_CASE(
    "gan-paper: the report refuses while a run is missing, naming it; the rerun runs only that run; runs of other "
    "settings are refused") {
    const std::string out = scratch("paper");
    const std::string grid = "build/awd gan-paper --parts transition --seeds 1 --threads 2 --out " + out;
    const std::string command = grid + " --ratios 0,0.98 --ring8-steps 20";
    Outcome o = run_command(command);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    CHECK(contains(o.output, "8 of 8 runs to do"));
    const std::string csv = read_file(out + "/transition.csv"), json = read_file(out + "/gan_paper.json");
    const std::string run = out + "/runs/transition/lrD0.01_ratio0.98/seed0";
    CHECK(file_exists(run + "/summary.json"));
    CHECK(file_exists(run + "/trajectory.csv"));
    CHECK_FALSE(file_exists(run + "/trajectory.png"));  // grid runs draw no figure of their own
    std::filesystem::remove_all(run);
    o = run_command(command + " --report-only");
    CHECK(o.status == 1);
    CHECK(contains(o.output, "1 of 8 runs failed or are missing"));
    CHECK(contains(o.output, "transition/lrD0.01_ratio0.98/seed0: exit code 0, but its results are missing"));
    CHECK(read_file(out + "/gan_paper.json") == json);  // not rewritten
    o = run_command(command);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    CHECK(contains(o.output, "1 of 8 runs to do"));
    CHECK(read_file(out + "/transition.csv") == csv);
    o = run_command(grid + " --ratios 0,0.98 --ring8-steps 30");  // same run names, other settings: refused, not reused
    CHECK(o.status == 1);
    CHECK(contains(o.output, "holds a run with other settings (steps 20, this grid's 30)"));
    o = run_command(grid + " --ratios 0,2");
    CHECK(o.status == 2);
    CHECK(contains(o.output, "--ratios"));
    std::filesystem::remove_all(out);
}

TEST_CASE("gan-paper: while the mnist bisection has stages to go, the other parts' shortest runs wait for them") {
    const std::string out = scratch("paper-stages");
    const Outcome o = run_command("build/awd gan-paper --parts transition,mnist --seeds 1 --ratios 0,0.98 "
                                  "--ring8-steps 20 --mnist-settings earlier --mnist-seeds 1 --mnist-steps 2 "
                                  "--mnist-rounds 1 --threads 2 --out " +
                                  out);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    // stage 0 of 2: the 8 end cells and half the transition part's work (4 of its 8 equal runs)
    CHECK(contains(o.output, "12 of 16 runs to do now (4 later)"));
    CHECK(contains(o.output, "(0 later)"));  // the last pass runs what waited
    CHECK(file_exists(out + "/transition.csv"));
    CHECK(file_exists(out + "/mnist.csv"));
    std::filesystem::remove_all(out);
}

TEST_CASE("gan-paper: a damping part in which no penalty strength converges still writes its figures and says so") {
    const std::string out = scratch("damping");
    const Outcome o = run_command("build/awd gan-paper --parts damping --ring8-steps 2 --threads 2 --out " + out);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    CHECK(file_exists(out + "/convergence_time.png"));
    const nlohmann::json report = nlohmann::json::parse(read_file(out + "/gan_paper.json"));
    for (const auto& t : report["damping"]["time_to_converge_mean"]) CHECK(t == "not within 6 steps");
    std::filesystem::remove_all(out);
}
