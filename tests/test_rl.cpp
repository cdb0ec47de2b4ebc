// test_rl.cpp: continual reinforcement learning (issue 25): Catcher's and Flappy Bird's physics
// against hand computation, determinism of the games and of training, the DQN target and loss
// gradient against a hand-computed Bellman backup, DQN-MER with one batch against the Reptile
// step it reduces to, resume, and the command's flags.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "autodiff/autodiff.h"
#include "experiments/mer/dqn.h"
#include "nn/files.h"
#include "tests/run_command.h"

using namespace awd;

TEST_CASE(
    "rl: a Catcher pellet lands in the computed frame and column; one under the paddle is caught in the computed "
    "frame") {
    CatcherRules rules;
    rules.fall_speed = 2;  // pixels a frame, so that the frame counts are whole numbers
    for (const bool under_paddle : {false, true}) {
        CAPTURE(under_paddle);
        Catcher game(rules, 3);
        game.paddle_x = under_paddle ? 50 : 0, game.pellet_x = 52, game.pellet_y = -10;
        // missed: its top reaches y = 64 when -10 + 2n >= 64, n = 37; caught: its bottom passes the
        // paddle's top y = 64 - 3 - 3 = 58 when -10 + 2n + 4 > 58, n = 33 (paddle [50, 63], pellet [52, 56])
        const int expected = under_paddle ? 33 : 37;
        for (int frame = 1; frame <= expected; ++frame) {
            CAPTURE(frame);
            REQUIRE(game.pellet_x == 52);       // it falls straight down
            const StepResult r = game.step(2);  // stay
            CHECK(game.paddle_x == (under_paddle ? 50 : 0));
            if (frame < expected) CHECK(r.reward == 0);
            else CHECK(r.reward == (under_paddle ? 1 : -1));
        }
        CHECK(game.lives == (under_paddle ? 3 : 2));
        CHECK(game.score() == (under_paddle ? 1 : -1));
        CHECK(game.pellet_y < 0);  // a new pellet above the screen
    }
}

TEST_CASE("rl: the Catcher paddle's velocity: v = (v + impulse) 0.9, stopped at the wall") {
    Catcher game(CatcherRules{}, 1);
    const double x0 = game.paddle_x, impulse = 0.021 * 64;
    game.step(1);
    CHECK(game.paddle_v == doctest::Approx(impulse * 0.9).epsilon(1e-15));
    game.step(1);
    CHECK(game.paddle_v == doctest::Approx((impulse * 0.9 + impulse) * 0.9).epsilon(1e-15));
    CHECK(game.paddle_x == doctest::Approx(x0 + impulse * 0.9 + (impulse * 0.9 + impulse) * 0.9).epsilon(1e-15));
    for (int f = 0; f < 30; ++f) game.step(1);
    CHECK(game.paddle_x == 64 - 13);
    CHECK(game.paddle_v == 0);
}

TEST_CASE("rl: a bird that never flaps hits the ground in the computed frame") {
    Flappy game(FlappyRules{}, 2);
    game.bird_y = 256, game.bird_v = 0;
    // v_n = min(n, 10), y_n = 256 + sum v: 256 + 135 = 391 after 18 frames (391 + 12 < 404.48),
    // 256 + 145 = 401 after 19 (401 + 12 >= 404.48): the ground in frame 19; the first pipe is still
    // at x = 340 - 4 x 19 = 264, far from the bird at x = 57.
    for (int frame = 1; frame <= 19; ++frame) {
        CAPTURE(frame);
        const StepResult r = game.step(1);
        CHECK(r.over == (frame == 19));
        CHECK(game.bird_v == std::min(frame, 10));
    }
    CHECK(game.bird_y == 401);
    CHECK(game.score() == 0);
}

TEST_CASE("rl: a pipe is scored exactly once, in the frame its right edge passes the bird") {
    FlappyRules rules;
    rules.gravity = 0;  // the bird floats at y = 200, inside the gaps [150, 250]
    Flappy game(rules, 4);
    game.bird_y = 200, game.bird_v = 0;
    for (auto& p : game.pipes) p.top = 150;
    // pipes at x = 340 and 484 pass when x - 4n + 26 < 57: n = 78 and n = 114
    double total = 0;
    for (int frame = 1; frame <= 120; ++frame) {
        CAPTURE(frame);
        const StepResult r = game.step(1);
        REQUIRE(!r.over);
        CHECK(r.reward == ((frame == 78 || frame == 114) ? 1 : 0));
        total += r.reward;
    }
    CHECK(total == 2);
    CHECK(game.score() == 2);
}

TEST_CASE("rl: the same seed plays the same game; another seed another") {
    for (const GameKind kind : {GameKind::Catcher, GameKind::Flappy}) {
        const GameSchedule schedule = default_schedule(kind);
        auto a = make_game(schedule, 2, 7), b = make_game(schedule, 2, 7), c = make_game(schedule, 2, 8);
        std::vector<double> oa(a->observations()), ob(oa.size()), oc(oa.size());
        bool differs = false;
        for (int f = 0; f < 400; ++f) {
            const int action = (f * 7 / 3) % a->actions();
            const StepResult ra = a->step(action), rb = b->step(action), rc = c->step(action);
            a->observe(oa.data()), b->observe(ob.data()), c->observe(oc.data());
            REQUIRE(std::memcmp(oa.data(), ob.data(), oa.size() * sizeof(double)) == 0);
            REQUIRE(ra.reward == rb.reward);
            differs = differs || oa != oc || ra.reward != rc.reward;
            if (ra.over) a->reset(), b->reset();
            if (rc.over) c->reset();
        }
        CHECK(differs);
    }
}

namespace {

std::vector<double> values(const Tensor& t) { return std::vector<double>(t.data.begin(), t.data.end()); }

// A Q-"network" without hidden layers: Q(s, a) = W[a] . s + b[a], so targets and gradients are hand-computable.
DqnState linear_q(double discount) {
    DqnConfig c;
    c.depth = 0, c.discount = discount;
    DqnState s = initial_dqn_state(c, 3, 2);
    const double theta[] = {1, 2, 3, 4, -5, 0.5, 0.1, -0.2};  // W (2 x 3) row-major, then b
    std::copy(theta, theta + 8, s.target.theta().data.begin());
    return s;
}

}  // namespace

TEST_CASE("rl: DQN targets are the Bellman backup on a 3-state chain; the loss gradient is (1/N) sum (Q - y) ds") {
    DqnState s = linear_q(0.9);
    REQUIRE(s.target.size() == 8);
    // chain s0 -> s1 -> s2 (one-hot states); rows [s, s', r, done]
    const std::vector<double> rows = {1, 0, 0, 0, 1, 0, 0,  0,   // s0 -> s1, r 0
                                      0, 1, 0, 0, 0, 1, 1,  0,   // s1 -> s2, r 1
                                      0, 0, 1, 0, 0, 1, -1, 1};  // s2, r -1, the end
    const std::vector<double> y = q_targets(s.target, rows.data(), 3, 3, 0.9);
    // Qtarget(s1) = (2 + 0.1, -5 - 0.2): max 2.1; Qtarget(s2) = (3.1, 0.3): max 3.1
    CHECK(y[0] == doctest::Approx(0.9 * 2.1).epsilon(1e-15));
    CHECK(y[1] == doctest::Approx(1 + 0.9 * 3.1).epsilon(1e-15));
    CHECK(y[2] == -1);

    s.net.theta() = s.target.theta();
    Tensor states(3, 3);
    for (int i = 0; i < 3; ++i) states(i, i) = 1;
    const std::vector<int> actions = {1, 0, 0};
    q_loss_gradient(s.net, states, actions, y, s.scratch);
    // Q(s0, 1) = 4.1, Q(s1, 0) = 2.1, Q(s2, 0) = 3.1: residuals e = Q - y; dW[a][j] = e_i / 3 at (a_i, i)
    const double e0 = 4 - 0.2 - y[0], e1 = 2.1 - y[1], e2 = 3.1 - y[2];
    const double expected[] = {0, e1 / 3, e2 / 3, e0 / 3, 0, 0, (e1 + e2) / 3, e0 / 3};
    for (int k = 0; k < 8; ++k) CHECK(s.net.gradient()[k] == doctest::Approx(expected[k]).epsilon(1e-14));
}

TEST_CASE("rl: DQN-MER with one batch and gamma = 1 is the Reptile step theta0 + beta (theta_k - theta0)") {
    DqnConfig c;
    c.method = RlMethod::DqnMer, c.batches = 1, c.gamma = 1, c.beta = 0.3, c.replay = 2, c.lr = 0.05, c.discount = 1;
    c.hidden = 6, c.depth = 1, c.memories = 10;
    DqnState s = initial_dqn_state(c, 4, 3);
    Rng init(9);
    for (double& v : s.target.theta().data) v = 0.5 * init.normal();  // a target network unlike the online one
    const std::vector<double> stored = {0.1, -0.2, 0.3, 0.4, 0.2, -0.1, 0.35, 0.45, 1, 0};
    const std::vector<double> incoming = {0.5, 0.1, -0.3, 0.2, 0.45, 0.15, -0.25, 0.1, -1, 1};
    s.memory.store(s.memory.offer(init), 0, 0, 2, stored.data());  // one memory: both draws are it

    Model reference = s.net;
    const std::vector<double> theta0 = values(reference.theta());
    // k = 3 single-transition SGD steps: the incoming transition (action 0), the memory twice (action 2)
    const std::pair<const std::vector<double>*, int> steps[] = {{&incoming, 0}, {&stored, 2}, {&stored, 2}};
    for (const auto& [t, action] : steps) {
        const std::vector<double>& x = *t;
        Tensor next(1, 4), now(1, 4);
        std::copy(x.begin() + 4, x.begin() + 8, next.data.begin());
        std::copy(x.begin(), x.begin() + 4, now.data.begin());
        const Tensor qn = s.target.forward(constant(next)).value();
        const double y = x[8] + (x[9] != 0 ? 0.0 : std::max({qn[0], qn[1], qn[2]}));  // gamma_RL = 1
        reference.backward(0.5 * square(slice(reference.forward(constant(now)), 0, action, 1, 1) - y));
        for (size_t k = 0; k < theta0.size(); ++k) reference.theta()[k] -= c.lr * reference.gradient()[k];
    }
    Rng rng(3);
    learn(c, s, incoming.data(), 0, 0, 1, 4, rng);
    double worst = 0;
    for (size_t k = 0; k < theta0.size(); ++k)
        worst = std::max(worst, std::abs(s.net.theta()[k] - (theta0[k] + c.beta * (reference.theta()[k] - theta0[k]))));
    CHECK(worst < 1e-15);
    CHECK(s.memory.size() == 2);  // the incoming transition is stored after the update
    CHECK(s.memory.label[1] == 0);
}

TEST_CASE(
    "rl: every method trains on a changing game; the same seed gives the same bytes; a resumed stream ends in them") {
    for (const RlMethod method : {RlMethod::Dqn, RlMethod::DqnEr, RlMethod::DqnMer}) {
        CAPTURE(rl_method_name(method));
        DqnConfig c;
        c.method = method, c.hidden = 12, c.memories = 60, c.replay = 3, c.batches = 2, c.target_every = 40,
        c.epsilon_frames = 300, c.seed = 6;
        StreamSettings st;
        st.schedule = default_schedule(method == RlMethod::DqnEr ? GameKind::Flappy : GameKind::Catcher);
        st.schedule.versions = 3, st.frames_per_version = 150, st.eval_episodes = 1, st.eval_frames = 60,
        st.curve_every = 70, st.curve_episodes = 1;
        const std::string dir =
            (std::filesystem::temp_directory_path() / ("awd-rl-" + std::to_string(getpid()))).string();
        const auto probe = make_game(st.schedule, 0, 0);
        const int n = probe->observations(), A = probe->actions();
        DqnState whole = initial_dqn_state(c, n, A);
        DqnState again = whole, part = whole;
        run_game_stream(c, st, whole, [](const DqnState&) { return true; });
        run_game_stream(c, st, again, [](const DqnState&) { return true; });
        run_game_stream(c, st, part, [&](const DqnState& s) {
            save_dqn_state(dir, s);
            return false;
        });
        DqnState resumed = load_dqn_state(dir, c, n, A);
        run_game_stream(c, st, resumed, [](const DqnState&) { return true; });
        std::filesystem::remove_all(dir);
        REQUIRE(whole.scores.size() == 3);
        CHECK(whole.curve.size() == 6);
        CHECK(whole.frames == 450);
        for (const DqnState* other : {&again, &resumed}) {
            CHECK(values(other->net.theta()) == values(whole.net.theta()));
            CHECK(values(other->target.theta()) == values(whole.target.theta()));
            CHECK(other->memory.x == whole.memory.x);
            CHECK(other->memory.age == whole.memory.age);
            CHECK(other->scores == whole.scores);
            CHECK(other->curve == whole.curve);
        }
        CHECK(whole.memory.size() == 60);
        CHECK(values(whole.net.theta()) != values(part.net.theta()));  // it learned something after version 1
    }
}

TEST_CASE("awd rl: an interrupted run resumes to the same bytes; bad flags exit 2 naming the flag") {
    const std::string base =
        (std::filesystem::temp_directory_path() / ("awd-rl-cmd-" + std::to_string(getpid()))).string();
    const std::string args =
        " rl --game catcher --method dqn-mer --versions 3 --frames-per-version 200 --hidden 16 --memories 80 --replay 3"
        " --batches 2 --target-every 50 --epsilon-frames 300 --eval-episodes 1 --eval-frames 80 --curve-every 100"
        " --curve-episodes 1 --seed 4";
    const Outcome whole = run_command("build/awd" + args + " --out " + base + "-whole");
    REQUIRE_MESSAGE(whole.status == 0, whole.output);
    const Outcome stopped = run_command("build/awd" + args + " --stop-after 1 --out " + base + "-resumed");
    REQUIRE_MESSAGE(stopped.status == 0, stopped.output);
    CHECK(file_exists(base + "-resumed.partial/checkpoint/state.json"));
    CHECK(!file_exists(base + "-resumed"));
    const Outcome resumed = run_command("build/awd" + args + " --out " + base + "-resumed");
    REQUIRE_MESSAGE(resumed.status == 0, resumed.output);
    CHECK(resumed.output.find("resuming") != std::string::npos);
    for (const char* f : {"summary.json", "scores.csv", "curve.csv", "rl.png"}) {
        CAPTURE(f);
        CHECK(read_file(base + "-whole/" + f) == read_file(base + "-resumed/" + f));
    }
    CHECK(!file_exists(base + "-whole/checkpoint"));
    const nlohmann::json s = nlohmann::json::parse(read_file(base + "-whole/summary.json"));
    CHECK(s["scores"].size() == 3);
    CHECK(s["summary"]["BTI"].get<double>() ==
          doctest::Approx(s["summary"]["final_mean_score"].get<double>() -
                          s["summary"]["just_trained_mean_score"].get<double>()));
    CHECK(s["parameters"][1].get<double>() == doctest::Approx(0.00095 * 64 * 1000 / 30 + 0.5));
    for (const std::string d : {"-whole", "-resumed"}) std::filesystem::remove_all(base + d);

    const Outcome game = run_command("build/awd rl --game pong --out " + base + "-bad");
    CHECK(game.status == 2);
    CHECK(game.output.find("--game") != std::string::npos);
    const Outcome gap = run_command("build/awd rl --game flappy --parameter-step -20 --out " + base + "-bad");
    CHECK(gap.status == 1);
    CHECK(gap.output.find("gap") != std::string::npos);
    CHECK(!file_exists(base + "-bad"));
    std::filesystem::remove_all(base + "-bad.partial");
}
