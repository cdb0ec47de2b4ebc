// test_plan.cpp: recorded plans (autodiff/plan.h) against the eager autodiff they record.
//
// The reference is always the eager call on the same values, compared byte for byte (a replay
// must do the same operations in the same order): the landscape models' per-run derivatives
// and Hessians, an MLP's gradient through views of flat theta, maximum's recomputed comparison,
// fused against unfused. Then what a plan refuses: freed inputs, other shapes, non-finite
// results (with the eager op's message); and Captured's re-recording for new shapes.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "autodiff/finite_differences.h"
#include "autodiff/plan.h"
#include "experiments/sgd/two_valley.h"
#include "experiments/sgd/valley.h"
#include "tests/fixtures.h"

using namespace awd;

namespace {

bool same_bytes(const Tensor& a, const Tensor& b) {
    return a.same_shape(b) && std::memcmp(a.data.data(), b.data.data(), sizeof(double) * a.size()) == 0;
}

// fn on fresh leaves holding `values` (variables where `variable[k]`), eagerly.
std::vector<Tensor> eager(const Plan::Function& fn, const std::vector<Tensor>& values,
                          const std::vector<bool>& variable) {
    std::vector<Var> in;
    for (size_t k = 0; k < values.size(); ++k)
        in.push_back(variable[k] ? awd::variable(values[k]) : constant(values[k]));
    std::vector<Tensor> out;
    for (const Var& v : fn(in)) out.push_back(v.value());
    return out;
}

// Records fn on the first values, replays on each set (fused and not) and compares every output
// with the eager call on the same values.
void check_replays(const Plan::Function& fn, const std::vector<std::vector<Tensor>>& value_sets,
                   const std::vector<bool>& variable) {
    for (bool fuse : {true, false}) {
        CAPTURE(fuse);
        std::vector<Var> in;
        for (size_t k = 0; k < variable.size(); ++k)
            in.push_back(variable[k] ? awd::variable(value_sets[0][k]) : constant(value_sets[0][k]));
        Plan plan = Plan::record(fn, in, {fuse});
        if (!fuse) CHECK(plan.fused_steps() == 0);
        for (size_t set = 0; set < value_sets.size(); ++set) {
            CAPTURE(set);
            std::vector<const Tensor*> values;
            for (const Tensor& t : value_sets[set]) values.push_back(&t);
            plan.run(values);
            const std::vector<Tensor> expected = eager(fn, value_sets[set], variable);
            REQUIRE(plan.outputs() == expected.size());
            for (size_t k = 0; k < expected.size(); ++k) {
                CAPTURE(k);
                CHECK(same_bytes(plan.output(k), expected[k]));
            }
        }
    }
}

Tensor two_valley_points(int runs, uint64_t seed) {
    std::mt19937_64 rng(seed);
    Tensor t = random_tensor(runs, 2, rng, -0.9, 0.9);
    for (int r = 0; r < runs; ++r) t(r, 1) = 1 + 20 * std::abs(t(r, 1));  // y > 0, x on both sides
    return t;
}

}  // namespace

TEST_CASE("plan: two-valley losses, gradients and per-run Hessians replay byte for byte, fused or not") {
    const TwoValleyParams p;
    const int R = 700;  // not a multiple of the fused block size
    const Plan::Function fn = [&](const std::vector<Var>& in) {
        const Var t = in[0];
        const Var L = two_valley_loss(reshape(t, R, 2), p);
        const Var g = grad(sum(L), {t}, true)[0];
        const Var g_rows = reshape(g, R, 2);
        std::vector<Var> out{L, g};
        for (int j = 0; j < 2; ++j) out.push_back(grad(sum(slice(g_rows, 0, j, R, 1)), {t})[0]);
        return out;
    };
    std::vector<std::vector<Tensor>> sets;
    for (uint64_t seed = 1; seed <= 3; ++seed)
        sets.push_back({reshape(constant(two_valley_points(R, seed)), 2 * R, 1).value()});
    check_replays(fn, sets, {true});
}

TEST_CASE(
    "plan: RunDerivativesPlan gives run_derivatives' bytes for the two-valley model and the valley with per-run data") {
    const TwoValleyParams p;
    const int R = 300;
    Model eager_model =
        landscape_model("TwoValley", R, 2, [&](const Var& th, const Var&) { return two_valley_loss(th, p); });
    Model replayed = eager_model;
    RunDerivativesPlan derivatives(replayed, true);
    for (uint64_t seed = 1; seed <= 3; ++seed) {
        const Tensor points = two_valley_points(R, seed);
        std::copy(points.data.begin(), points.data.end(), eager_model.theta().data.begin());
        std::copy(points.data.begin(), points.data.end(), replayed.theta().data.begin());
        const RunDerivatives expected = run_derivatives(eager_model, Var(), true);
        const RunDerivatives& got = derivatives(nullptr);
        CHECK(same_bytes(got.loss, expected.loss));
        CHECK(same_bytes(got.hessian, expected.hessian));
        CHECK(same_bytes(replayed.gradient(), eager_model.gradient()));
    }
    // the valley: per-run targets as data, no Hessian
    const auto loss = [](const Var& th, const Var& targets) { return valley_batch_loss(th, targets, 1.3, 0.7); };
    Model valley_eager = landscape_model("Valley", R, 2, loss), valley_replayed = valley_eager;
    RunDerivativesPlan valley_derivatives(valley_replayed, false);
    std::mt19937_64 rng(5);
    for (int trial = 0; trial < 3; ++trial) {
        const Tensor points = random_tensor(R, 2, rng), targets = random_tensor(R, 3, rng);
        std::copy(points.data.begin(), points.data.end(), valley_eager.theta().data.begin());
        std::copy(points.data.begin(), points.data.end(), valley_replayed.theta().data.begin());
        const RunDerivatives expected = run_derivatives(valley_eager, constant(targets), false);
        CHECK(same_bytes(valley_derivatives(&targets).loss, expected.loss));
        CHECK(same_bytes(valley_replayed.gradient(), valley_eager.gradient()));
    }
}

TEST_CASE(
    "plan: an MLP's cross-entropy gradient through views of flat theta (weight gradients written into it) replays byte "
    "for byte") {
    Problem prob = random_problem("5-7-3", Activation::Tanh, true, Loss::CrossEntropy, 6, 3);
    const Model& model = prob.net.model;
    const std::vector<int> labels = prob.y;
    const Plan::Function fn = [&](const std::vector<Var>& in) {
        const Var loss = cross_entropy(model.forward_at(in[0], in[1]), labels);
        return std::vector<Var>{loss, grad(loss, {in[0]})[0]};
    };
    std::mt19937_64 rng(9);
    std::vector<std::vector<Tensor>> sets;
    for (int k = 0; k < 3; ++k) sets.push_back({random_tensor((int)model.size(), 1, rng), random_tensor(6, 5, rng)});
    check_replays(fn, sets, {true, false});
}

TEST_CASE("plan: maximum's derivative recomputes its comparison at each replay") {
    const Plan::Function fn = [](const std::vector<Var>& in) {
        const Var m = maximum(in[0], in[1]) + minimum(in[0], 0.5 * in[1]);
        const std::vector<Var> g = grad(sum(m * m), {in[0], in[1]}, true);
        return std::vector<Var>{m, g[0], g[1], grad(sum(g[0]), {in[1]})[0]};
    };
    const Tensor a(1, 600, 0.0), b(1, 600, 1.0);
    std::mt19937_64 rng(2);
    check_replays(fn, {{a, b}, {b, a}, {random_tensor(1, 600, rng), random_tensor(1, 600, rng)}}, {true, true});
}

TEST_CASE("plan: refuses freed inputs and other shapes; Captured records again for new shapes") {
    const Plan::Function fn = [](const std::vector<Var>& in) {
        return std::vector<Var>{grad(sum(exp(in[0]) * in[0]), {in[0]})[0]};
    };
    Plan plan;
    {
        const Var x = variable(Tensor(3, 2, 0.5));
        plan = Plan::record(fn, {x});
        plan.run();
        CHECK(plan.output(0)[0] == doctest::Approx(std::exp(0.5) * 1.5));
        const Tensor wrong(2, 3, 1.0);
        CHECK_THROWS_WITH_AS(plan.run({&wrong}), doctest::Contains("recorded for (3 x 2)"), std::invalid_argument);
    }
    CHECK_THROWS_WITH_AS(plan.run(), doctest::Contains("input 0 was freed"), std::invalid_argument);
    const Tensor again(3, 2, 1.0);
    CHECK_THROWS_WITH_AS(plan.run({&again}), doctest::Contains("input 0 was freed"), std::invalid_argument);

    Captured step = capture(fn, {variable(Tensor(3, 2, 0.5))});
    const Tensor small(1, 2, std::vector<double>{0.0, 1.0}), big(4, 1, std::vector<double>{1, 2, 3, -1});
    CHECK(same_bytes(step.run({&small}).output(0), eager(fn, {small}, {true})[0]));
    CHECK(same_bytes(step.run({&big}).output(0), eager(fn, {big}, {true})[0]));
    CHECK(same_bytes(step.run({&big}).output(0), eager(fn, {big}, {true})[0]));
    CHECK(step.recordings() == 3);  // the first shape, then one per new shape, none for a repeat
}

TEST_CASE("plan: a non-finite result is refused at replay with the eager op's message") {
    const Plan::Function fn = [](const std::vector<Var>& in) { return std::vector<Var>{log(in[0]) * 2.0}; };
    for (bool fuse : {true, false}) {
        const Var x = variable(Tensor(1, 1000, 2.0));
        Plan plan = Plan::record([&](const std::vector<Var>& in) { return std::vector<Var>{sqrt(fn(in)[0] + 1.0)}; },
                                 {x}, {fuse});
        Tensor bad(1, 1000, 2.0);
        bad[700] = -1.0;
        std::string eager_message;
        try {
            eager(fn, {bad}, {true});
        } catch (const NonFiniteError& e) {
            eager_message = e.what();
        }
        CHECK(eager_message.find("log((1 x 1000)): result (1 x 1000) has non-finite entry") == 0);
        CHECK_THROWS_WITH_AS(plan.run({&bad}), eager_message.c_str(), NonFiniteError);
    }
}

TEST_CASE("plan: recording inside a recording is refused, and so is an input that is not a leaf") {
    const Var x = variable(Tensor(2, 2, 1.0));
    CHECK_THROWS_WITH_AS(Plan::record([](const std::vector<Var>& in) { return std::vector<Var>{in[0]}; }, {exp(x)}),
                         doctest::Contains("not a leaf"), std::invalid_argument);
    const Plan::Function nested = [](const std::vector<Var>& in) {
        Plan::record([](const std::vector<Var>& inner) { return inner; }, in);
        return in;
    };
    CHECK_THROWS_WITH_AS(Plan::record(nested, {x}), doctest::Contains("already being recorded"), std::logic_error);
}
