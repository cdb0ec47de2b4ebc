// test_optimizers.cpp: optimizer steps against updates computed by hand, weight decay, schedules.
//
// The problem: f(theta) = (2 theta_1^2 + 0.5 theta_2^2) / 2, gradient (2 theta_1, 0.5 theta_2),
// from theta = (1, -2), learning rate 0.1. The expected numbers are worked out in the comments.
#include <doctest/doctest.h>

#include <cmath>

#include "optim/optimizer.h"

using namespace awd;

namespace {

std::vector<double> gradient_at(const std::vector<double>& t) { return {2.0 * t[0], 0.5 * t[1]}; }

std::vector<double> run_steps(const OptimizerConfig& c, int steps) {
    std::vector<double> theta = {1.0, -2.0};
    Optimizer opt(c, 2);
    for (int s = 0; s < steps; ++s) opt.step(theta.data(), gradient_at(theta).data(), 0.1);
    return theta;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tolerance) {
    for (size_t k = 0; k < want.size(); ++k) {
        CAPTURE(k);
        CHECK(std::fabs(got[k] - want[k]) <= tolerance * std::fabs(want[k]));
    }
}

}  // namespace

TEST_CASE("plain SGD: theta - lr g") {
    // g = (2, -1): theta = (1 - 0.2, -2 + 0.1)
    check_close(run_steps({OptimizerKind::Sgd}, 1), {0.8, -1.9}, 1e-15);
}

TEST_CASE("SGD with momentum 0.9, two steps") {
    // step 1: buf = g1 = (2, -1), theta = (0.8, -1.9)
    // step 2: g2 = (1.6, -0.95), buf = 0.9 (2, -1) + g2 = (3.4, -1.85), theta = (0.8 - 0.34, -1.9 + 0.185)
    OptimizerConfig c{OptimizerKind::Sgd, 0.9};
    check_close(run_steps(c, 2), {0.46, -1.715}, 1e-15);
}

TEST_CASE("SGD with Nesterov momentum 0.9, two steps") {
    // step 1: buf = (2, -1), d = g + 0.9 buf = (3.8, -1.9), theta = (0.62, -1.81)
    // step 2: g2 = (1.24, -0.905), buf = 0.9 (2, -1) + g2 = (3.04, -1.805),
    //         d = g2 + 0.9 buf = (3.976, -2.5295), theta = (0.62 - 0.3976, -1.81 + 0.25295)
    OptimizerConfig c{OptimizerKind::Sgd, 0.9, true};
    check_close(run_steps(c, 2), {0.2224, -1.55705}, 1e-14);
}

TEST_CASE("Adam, two steps") {
    // step 1: m_hat = g, v_hat = g^2, so theta moves by lr g / (|g| + eps): (0.9, -1.9) up to eps
    // step 2: g2 = (1.8, -0.95); m = 0.09 g1 + 0.1 g2 = (0.36, -0.185);
    //         v = 0.000999 g1^2 + 0.001 g2^2 = (0.007236, 0.0019015);
    //         m_hat = m / 0.19, v_hat = v / 0.001999; theta -= 0.1 m_hat / (sqrt(v_hat) + eps)
    OptimizerConfig c{OptimizerKind::Adam};
    const double m1 = 0.36 / 0.19, m2 = -0.185 / 0.19;
    const double s1 = std::sqrt(0.007236 / 0.001999), s2 = std::sqrt(0.0019015 / 0.001999);
    const double t1 = 1.0 - 0.1 * 2.0 / (2.0 + 1e-8), t2 = -2.0 + 0.1 * 1.0 / (1.0 + 1e-8);
    // the second gradient uses the exact first iterate, so recompute it from t1, t2
    const double g1 = 2.0 * t1, g2 = 0.5 * t2;
    const double mm1 = 0.9 * 0.1 * 2.0 + 0.1 * g1, mm2 = 0.9 * 0.1 * -1.0 + 0.1 * g2;
    const double vv1 = 0.999 * 0.001 * 4.0 + 0.001 * g1 * g1, vv2 = 0.999 * 0.001 * 1.0 + 0.001 * g2 * g2;
    const double b1 = 1 - 0.9 * 0.9, b2 = 1 - 0.999 * 0.999;
    const std::vector<double> textbook = {t1 - 0.1 * (mm1 / b1) / (std::sqrt(vv1 / b2) + 1e-8), t2 - 0.1 * (mm2 / b1) / (std::sqrt(vv2 / b2) + 1e-8)};
    const std::vector<double> got = run_steps(c, 2);
    check_close(got, textbook, 1e-14);  // PyTorch's operation order vs the textbook formula: rounding only
    check_close(got, {0.9 - 0.1 * m1 / s1, -1.9 - 0.1 * m2 / s2}, 1e-7);  // the hand-rounded numbers above
}

TEST_CASE("AdamW: decoupled decay shrinks theta by (1 - lr beta) before the Adam step") {
    const MlpSpec spec = MlpSpec::parse("1-2", Activation::Identity, false);  // theta has 2 entries
    std::vector<double> decayed = {1.0, -2.0}, grad = {0.0, 0.0};
    apply_weight_decay(spec, WeightDecay::Decoupled, 0.5, 0.1, decayed.data(), grad.data());
    check_close(decayed, {0.95, -1.9}, 1e-15);
    CHECK(grad[0] == 0.0);
}

TEST_CASE("weight decay gradients: l2 adds beta theta, norm adds beta T / |T| per tensor") {
    const MlpSpec spec = MlpSpec::parse("2-1-1", Activation::Identity, true, Loss::MeanSquaredError);  // W0 (1x2), b0, W1, b1
    std::vector<double> theta = {3.0, 4.0, 2.0, -1.0, 0.0};
    std::vector<double> g(5, 0.0);
    apply_weight_decay(spec, WeightDecay::L2, 0.1, 0.5, theta.data(), g.data());
    check_close(g, {0.3, 0.4, 0.2, -0.1}, 1e-15);
    CHECK(g[4] == 0.0);
    std::fill(g.begin(), g.end(), 0.0);
    apply_weight_decay(spec, WeightDecay::Norm, 0.1, 0.5, theta.data(), g.data());
    // W0 = (3, 4), |W0| = 5: 0.1 (0.6, 0.8); b0 = 2: 0.1; W1 = -1: -0.1; b1 = 0: subgradient 0
    check_close(g, {0.06, 0.08, 0.1, -0.1}, 1e-15);
    CHECK(g[4] == 0.0);
}

TEST_CASE("learning-rate schedules") {
    ScheduleConfig step{Schedule::Step, 10, 0.5, 100};
    CHECK(learning_rate(step, 0.2, 9) == 0.2);
    CHECK(learning_rate(step, 0.2, 10) == 0.1);
    CHECK(learning_rate(step, 0.2, 25) == 0.05);
    ScheduleConfig cosine{Schedule::Cosine, 0, 0, 100};
    CHECK(learning_rate(cosine, 0.2, 0) == 0.2);
    CHECK(std::fabs(learning_rate(cosine, 0.2, 50) - 0.1) <= 1e-16);
    CHECK(std::fabs(learning_rate(cosine, 0.2, 100)) <= 1e-17);
    CHECK(learning_rate(ScheduleConfig{}, 0.3, 500) == 0.3);
}

TEST_CASE("optimizer names and bad combinations") {
    CHECK(parse_optimizer("adamw") == OptimizerKind::AdamW);
    CHECK_THROWS_WITH_AS(parse_optimizer("rmsprop"), doctest::Contains("unknown optimizer 'rmsprop'"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(Optimizer(OptimizerConfig{OptimizerKind::Adam, 0.0, true}, 2), doctest::Contains("Nesterov"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_weight_decay("l1"), doctest::Contains("unknown weight decay 'l1'"), std::invalid_argument);
}
