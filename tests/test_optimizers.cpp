// test_optimizers.cpp: optimizer steps against updates computed by hand, weight decay, schedules;
// the enum name tables and the op names.
//
// The problem: f(theta) = (2 theta_1^2 + 0.5 theta_2^2) / 2, gradient (2 theta_1, 0.5 theta_2),
// from theta = (1, -2), learning rate 0.1. The expected numbers are worked out in the comments.
// The problem is a model defined only here (two parameters, the loss is its output), so every
// gradient comes from the autodiff through Model::backward, as in training.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "analysis/pairing.h"
#include "analysis/verify.h"
#include "experiments/mer/continual.h"
#include "experiments/sgd/two_valley.h"
#include "experiments/sgd/valley.h"
#include "nn/mlp.h"
#include "optim/optimizer.h"

using namespace awd;

namespace {

// f(t) = t_1^2 + 0.25 t_2^2 as a model whose output is the loss; the input is ignored.
struct Quadratic : Module {
    int t = -1;
    void declare(ParameterDeclarations& d, const std::string& prefix) override { t = d.add(prefix + "t", 1, 2); }
    Var forward(const Var&, const ForwardContext& ctx) const override {
        return sum(constant(Tensor(1, 2, {1.0, 0.25})) * square(ctx.parameter(t)));
    }
    std::string describe() const override { return "Quadratic"; }
};

Model quadratic_at(double t1, double t2) {
    Model m(std::make_unique<Quadratic>());
    m.theta()[0] = t1, m.theta()[1] = t2;
    return m;
}

std::vector<double> run_steps(const OptimizerConfig& c, int steps) {
    Model m = quadratic_at(1.0, -2.0);
    Optimizer opt(c, m);
    for (int s = 0; s < steps; ++s) {
        m.backward(m.forward(constant(Tensor::scalar(0.0))));
        opt.step(0.1);
    }
    return m.theta().data.to_vector();
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
    const std::vector<double> textbook = {t1 - 0.1 * (mm1 / b1) / (std::sqrt(vv1 / b2) + 1e-8),
                                          t2 - 0.1 * (mm2 / b1) / (std::sqrt(vv2 / b2) + 1e-8)};
    const std::vector<double> got = run_steps(c, 2);
    check_close(got, textbook, 1e-14);  // PyTorch's operation order vs the textbook formula: rounding only
    check_close(got, {0.9 - 0.1 * m1 / s1, -1.9 - 0.1 * m2 / s2}, 1e-7);  // the hand-rounded numbers above
}

TEST_CASE("AdamW: decoupled decay shrinks theta by (1 - lr beta) before the Adam step") {
    Model m = quadratic_at(1.0, -2.0);
    apply_weight_decay(m, WeightDecay::Decoupled, 0.5, 0.1);
    check_close(m.theta().data.to_vector(), {0.95, -1.9}, 1e-15);
    CHECK(m.gradient()[0] == 0.0);
}

TEST_CASE("weight decay gradients: l2 adds beta theta, norm adds beta theta / |theta| over all parameters") {
    Model m =
        make_mlp(MlpSpec::parse("2-1-1", Activation::Identity, true, Loss::MeanSquaredError));  // W0 (1x2), b0, W1, b1
    const std::vector<double> theta = {3.0, 4.0, 2.0, -1.0, 0.0};
    std::copy(theta.begin(), theta.end(), m.theta().data.begin());
    apply_weight_decay(m, WeightDecay::L2, 0.1, 0.5);
    check_close(m.gradient().data.to_vector(), {0.3, 0.4, 0.2, -0.1}, 1e-15);
    CHECK(m.gradient()[4] == 0.0);
    m.gradient() = Tensor(5, 1);
    apply_weight_decay(m, WeightDecay::Norm, 0.1, 0.5);
    // |theta| = sqrt(9 + 16 + 4 + 1 + 0) = sqrt(30): the gradient of 0.1 |theta| is 0.1 theta / sqrt(30),
    // not the per-tensor 0.1 (0.6, 0.8, 1, -1, 0) the reference setup's paper code does not compute
    const double r = 0.1 / std::sqrt(30.0);
    check_close(m.gradient().data.to_vector(), {3 * r, 4 * r, 2 * r, -r}, 1e-15);
    CHECK(m.gradient()[4] == 0.0);
    // and it is the gradient of beta |theta|: compare with the autodiff of that very penalty
    const Tensor g = gradient([](const Var& t) { return 0.1 * sqrt(sum(square(t))); }, m.theta());
    for (int k = 0; k < 4; ++k) CHECK(std::fabs(g[k] - m.gradient()[k]) <= 1e-16);
}

TEST_CASE("gradient clipping rescales the whole gradient to the limit, and only when it is longer") {
    Model m = quadratic_at(3.0, 8.0);  // gradient (6, 4), norm sqrt(52)
    m.backward(m.forward(constant(Tensor::scalar(0.0))));
    CHECK(clip_gradient_norm(m, 100.0) == doctest::Approx(std::sqrt(52.0)).epsilon(1e-15));
    CHECK(m.gradient()[0] == 6.0);
    clip_gradient_norm(m, 1.0);
    CHECK(std::fabs(m.gradient()[0] - 6.0 / std::sqrt(52.0)) <= 2.3e-16);  // 2 ulps
    CHECK(std::fabs(frobenius_norm(m.gradient()) - 1.0) <= 1e-15);
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
    CHECK_THROWS_WITH_AS(parse_optimizer("rmsprop"), doctest::Contains("unknown optimizer 'rmsprop'"),
                         std::invalid_argument);
    Model m = quadratic_at(1.0, 1.0);
    CHECK_THROWS_WITH_AS(Optimizer(OptimizerConfig{OptimizerKind::Adam, 0.0, true}, m), doctest::Contains("Nesterov"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_weight_decay("l1"), doctest::Contains("unknown weight decay 'l1'"),
                         std::invalid_argument);
}

// One table per enum (autodiff/names.h): every value's name parses back to the value, the
// tables list the values in enum order, and an unknown name lists every known one.
template <class E, size_t N>
void check_round_trip(const Named<E> (&table)[N], const char* what) {
    CAPTURE(what);
    for (size_t k = 0; k < N; ++k) {
        CHECK(static_cast<size_t>(table[k].value) == k);
        CHECK(parse_name(table[k].name, table, what) == table[k].value);
        CHECK(std::string(name_of(table, table[k].value)) == table[k].name);
    }
    CHECK_THROWS_AS(name_of(table, static_cast<E>(N)), std::logic_error);  // a value beyond its table
}

TEST_CASE("enum names: one table each, parse and name agree") {
    check_round_trip(kActivationNames, "activation");
    check_round_trip(kLossNames, "loss");
    check_round_trip(kOptimizerNames, "optimizer");
    check_round_trip(kWeightDecayNames, "weight decay");
    check_round_trip(kScheduleNames, "schedule");
    check_round_trip(kInitNames, "init");
    check_round_trip(kPairingNames, "pairing");
    check_round_trip(kDualVariantNames, "dual variant");
    check_round_trip(kMethodNames, "method");
    check_round_trip(kStreamNames, "stream");
    check_round_trip(kNoiseShapeNames, "noise shape");
    check_round_trip(kValleyDriveNames, "valley drive");
    CHECK(std::string(activation_name(Activation::Softplus)) == "softplus");
    CHECK(std::string(schedule_name(Schedule::Cosine)) == "cosine");
    CHECK(std::string(init_name(Init::He)) == "he");
    CHECK_THROWS_WITH_AS(parse_loss("hinge"), "unknown loss 'hinge' (expected ce or mse)", std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_schedule("linear"),
                         "unknown learning-rate schedule 'linear' (expected constant, step or cosine)",
                         std::invalid_argument);
}

TEST_CASE("op names come from the op itself") {
    CHECK(std::string(op_name(Op::Leaf)) == "leaf");
    CHECK(std::string(op_name(Op::Broadcast)) == "broadcast_to");
    CHECK(std::string(op_name(Op::CrossEntropy)) == "cross_entropy");
    CHECK_THROWS_AS(op_name(static_cast<Op>(-1)), std::logic_error);
}
