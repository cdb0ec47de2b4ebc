// test_training.cpp: dropout, the training loop (teacher-student convergence, stop rule,
// divergence, NaN gradients) and byte-identical reproducibility.
#include <cblas.h>
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "autodiff/finite_differences.h"
#include "autodiff/product.h"
#include "optim/train.h"
#include "tests/fixtures.h"

using namespace awd;

namespace {

Split synthetic_split(int inputs, int classes, int per_class, uint64_t seed) {
    DataConfig c;
    c.source = "synthetic", c.inputs = inputs, c.classes = classes, c.train_per_class = per_class, c.test = 200,
    c.seed = seed;
    return load_data(c);
}

Model fresh_net(const std::string& arch, Activation act, bool bias, uint64_t seed, Loss loss = Loss::CrossEntropy) {
    Model net = make_mlp(MlpSpec::parse(arch, act, bias, loss));
    Rng rng(seed);
    initialize(net, Init::PyTorch, 1.0, rng);
    return net;
}

const LossFunction ce = loss_function(Loss::CrossEntropy);

}  // namespace

TEST_CASE("dropout: kept units are scaled by exactly 1/(1-p), and the expectation is unchanged") {
    const double p = 0.3;
    Rng rng(5);
    Model m(std::make_unique<Sequential>(std::move(Sequential().add<Dense>(1, 1000, false).add<Dropout>(p))));
    for (double& v : m.theta().data) v = 1.0;
    const Tensor a = m.forward(constant(Tensor(1000, 1, 1.0)), rng).value();  // (1000, 1000) of ones, dropped out
    double total = 0.0, dropped = 0.0, other = 0.0;
    for (double v : a.data) total += v, dropped += v == 0.0, other += v != 0.0 && v != 1.0 / (1.0 - p);
    CHECK(other == 0.0);
    const double n = (double)a.size(), standard_error = std::sqrt(p / (1.0 - p) / n);
    CHECK(std::fabs(total / n - 1.0) <= 5 * standard_error);              // E[mask] = 1
    CHECK(std::fabs(dropped / n - p) <= 5 * std::sqrt(p * (1 - p) / n));  // P(dropped) = p
    CHECK(m.forward(constant(Tensor(3, 1, 1.0))).value().data ==
          std::vector<double>(3000, 1.0));  // evaluation: identity
}

TEST_CASE("the gradient with dropout matches finite differences under the same mask") {
    MlpSpec spec = MlpSpec::parse("5-7-6-3", Activation::Tanh, true);
    spec.dropout = 0.4, spec.dropout_layer = 2;
    Problem p = random_problem("5-7-6-3", Activation::Tanh, true, Loss::CrossEntropy, 9, 8);
    Model model = make_mlp(spec);
    model.theta() = p.net.theta();
    ScalarFunction f = [&](const Var& t) {  // the loss with a fixed mask: a fresh Rng(3) each time
        Rng rng(3);
        return cross_entropy(model.forward_at(t, constant(p.X), &rng), p.y);
    };
    Rng rng(3);
    model.backward(cross_entropy(model.forward(constant(p.X), rng), p.y));
    const Tensor fd = central_difference_gradient(f, model.theta());
    CHECK(relative_difference(model.gradient(), fd) <= 1e-8);
    spec.dropout_layer = 3;
    CHECK_THROWS_WITH_AS(make_mlp(spec), doctest::Contains("dropout: layer 3 is not a hidden layer"),
                         std::invalid_argument);
}

TEST_CASE("a teacher-student problem trains to near-zero loss, and the stop rule ends it") {
    const Split split = synthetic_split(8, 3, 100, 1);
    Model net = fresh_net("8-64-3", Activation::Tanh, true, 2);
    TrainConfig c;
    c.optimizer.kind = OptimizerKind::Adam;
    c.lr = 0.01, c.batch = 20, c.max_epochs = 2000, c.stop_loss = 1e-3, c.stop_accuracy = 0.99;
    const TrainResult r = train(net, ce, split.train, split.test, c);
    REQUIRE(r.status == "converged");
    CHECK(r.log.back().train_loss < 1e-3);
    CHECK(r.log.back().train_accuracy == 1.0);
    for (size_t e = 0; e + 1 < r.log.size(); ++e)  // the rule did not hold before the last epoch
        CHECK(!(r.log[e].train_loss < 1e-3 && r.log[e].train_accuracy > 0.99));
    CHECK(r.log.back().test_accuracy > 0.8);  // the student generalizes: the labels are learnable
}

TEST_CASE("--stop-loss 0 disables the stop rule") {
    const Split split = synthetic_split(4, 2, 20, 1);
    Model net = fresh_net("4-8-2", Activation::Relu, true, 1);
    TrainConfig c;
    c.max_epochs = 7, c.stop_loss = 0.0, c.batch = 8;
    const TrainResult r = train(net, ce, split.train, split.test, c);
    CHECK(r.status == "max_epochs");
    CHECK(r.log.size() == 7);
}

TEST_CASE("same seed gives byte-identical weights, on 1 and 2 threads alike; another seed does not") {
    // 200-128-4 with batches of 64: the layer's products (64 x 128 x 200) are large enough to be
    // cut across threads (autodiff/product.h), so the thread count is really exercised.
    const Split split = synthetic_split(200, 4, 50, 3);
    auto trained = [&](uint64_t seed, int threads) {
        set_threads(threads);
        MlpSpec spec = MlpSpec::parse("200-128-4", Activation::Relu, false);
        spec.dropout = 0.1;
        Model net = make_mlp(spec);
        Rng rng(stream_seed(seed, 0));
        initialize(net, Init::PyTorch, 1.0, rng);
        TrainConfig c;
        c.max_epochs = 5, c.stop_loss = 0, c.batch = 64, c.seed = seed;
        train(net, ce, split.train, split.test, c);
        set_threads(1);
        return net.theta().data.to_vector();
    };
    auto same = [](const std::vector<double>& a, const std::vector<double>& b) {
        return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
    };
    const std::vector<double> one = trained(7, 1);
    CHECK(same(one, trained(7, 1)));
    CHECK(!same(one, trained(8, 1)));
    const std::vector<double> two = trained(7, 2);
    CHECK(same(two, trained(7, 2)));
    // every entry of a cut product is the same sum as uncut with the Haswell (and Zen) kernels
    // this machine runs; other kernels agree to rounding only (product.h)
    const std::string kernels = openblas_get_corename();
    if (kernels == "Haswell" || kernels == "Zen") CHECK(same(one, two));
}

TEST_CASE("divergence stops training, says so, and restores the last good parameters") {
    const Split split = synthetic_split(10, 3, 30, 4);
    Model net = fresh_net("10-16-3", Activation::Relu, true, 4, Loss::MeanSquaredError);
    TrainConfig c;
    c.lr = 1e3, c.max_epochs = 50, c.batch = 10;
    std::vector<double> seen;
    const TrainResult r = train(net, loss_function(Loss::MeanSquaredError), split.train, split.test, c,
                                [&](const EpochRecord&, const Model& m) { seen = m.theta().data.to_vector(); });
    REQUIRE(r.status == "diverged");
    CHECK(r.message.find("diverged at epoch " + std::to_string(r.failed_epoch) + ", step " +
                         std::to_string(r.failed_step) + " of 9") == 0);
    CHECK(r.failed_step >= 1);
    for (double v : net.theta().data) CHECK(std::isfinite(v));
    if (!r.log.empty()) CHECK(net.theta().data == seen);  // the last epoch reported good is what is kept
}

TEST_CASE("a non-finite gradient stops training naming the parameter and the step") {
    // Models defined here. Overflow: two finite contributions of 1e308 to the gradient of b sum to
    // infinity. Sqrt at 0: the derivative is infinite, and the backward op that meets it says so.
    struct Overflow : Module {
        int a = -1, b = -1;
        void declare(ParameterDeclarations& d, const std::string& prefix) override {
            a = d.add(prefix + "a", 1, 1), b = d.add(prefix + "b", 1, 1);
        }
        Var forward(const Var& x, const ForwardContext& ctx) const override {
            return matmul(x, ctx.parameter(b)) * 1e308 + matmul(x, ctx.parameter(b)) * 1e308 + ctx.parameter(a);
        }
        std::string describe() const override { return "Overflow"; }
    };
    struct SqrtAtZero : Module {
        int w = -1;
        void declare(ParameterDeclarations& d, const std::string& prefix) override { w = d.add(prefix + "w", 1, 1); }
        Var forward(const Var& x, const ForwardContext& ctx) const override {
            return matmul(x, sqrt(ctx.parameter(w)));
        }
        std::string describe() const override { return "SqrtAtZero"; }
    };
    Dataset d;
    d.X = Tensor(1, 1, 1.0), d.y = {0}, d.classes = 1;
    const LossFunction mean_output = [](const Var& out, const std::vector<int>&) { return mean(out); };
    TrainConfig c;
    c.max_epochs = 3;
    Model overflow(std::make_unique<Overflow>());  // a = b = 0
    TrainResult r = train(overflow, mean_output, d, Dataset{}, c);
    CHECK(r.status == "diverged");
    CHECK(r.failed_epoch == 1);
    CHECK(r.failed_step == 1);
    CAPTURE(r.message);
    CHECK(r.message.find("the gradient of b (entry 0) is not finite") != std::string::npos);
    CHECK(overflow.theta().data == std::vector<double>{0.0, 0.0});
    Model root(std::make_unique<SqrtAtZero>());
    r = train(root, mean_output, d, Dataset{}, c);
    CHECK(r.status == "diverged");
    CHECK(r.failed_step == 1);
    CHECK(r.message.find("non-finite") != std::string::npos);
    CHECK(root.theta()[0] == 0.0);
}

TEST_CASE("training refuses data that does not fit the architecture") {
    const Split split = synthetic_split(10, 3, 5, 4);
    Model net = make_mlp(MlpSpec::parse("12-4-3", Activation::Relu, true));
    CHECK_THROWS_WITH_AS(train(net, ce, split.train, split.test, TrainConfig{}),
                         doctest::Contains("module 0 Dense(12 -> 4): input (15 x 10) has 10 features, expected 12"),
                         std::invalid_argument);
}
