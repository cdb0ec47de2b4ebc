// test_training.cpp: the training fast path against the autodiff graph, dropout, the training
// loop (teacher-student convergence, stop rule, divergence) and byte-identical reproducibility.
#include <cblas.h>
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "autodiff/finite_differences.h"
#include "tests/fixtures.h"
#include "nn/layers.h"
#include "optim/train.h"

using namespace awd;

namespace {

Split synthetic_split(int inputs, int classes, int per_class, uint64_t seed) {
    DataConfig c;
    c.source = "synthetic", c.inputs = inputs, c.classes = classes, c.train_per_class = per_class, c.test = 200, c.seed = seed;
    return load_data(c);
}

Mlp fresh_net(const std::string& arch, Activation act, bool bias, uint64_t seed, Loss loss = Loss::CrossEntropy) {
    Mlp net(MlpSpec::parse(arch, act, bias, loss));
    Rng rng(seed);
    initialize(net, Init::PyTorch, 1.0, rng);
    return net;
}

}  // namespace

TEST_CASE("fast forward/backward equals the autodiff graph for every activation, bias, loss") {
    for (Activation act : {Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Softplus, Activation::Identity}) {
        for (bool bias : {true, false}) {
            for (Loss loss : {Loss::CrossEntropy, Loss::MeanSquaredError}) {
                CAPTURE(activation_name(act));
                CAPTURE(bias);
                CAPTURE(loss_name(loss));
                Problem p = random_problem("6-5-4-3", act, bias, loss, 17, 42);
                MlpWorkspace ws;
                std::vector<double> fast(p.net.theta.size());
                const double fast_loss = mlp_loss_gradient(p.net, p.X, p.y.data(), ws, fast.data());
                const Tensor theta((int)p.net.theta.size(), 1, p.net.theta);
                ScalarFunction f = [&](const Var& t) { return mlp_loss_graph(p.net.spec, t, p.X, p.y); };
                const Tensor reference = gradient(f, theta);
                CHECK(std::fabs(fast_loss - value_of(f, theta)) <= 1e-15 * fast_loss);
                CHECK(relative_difference(Tensor((int)fast.size(), 1, fast), reference) <= 1e-14);
            }
        }
    }
}

TEST_CASE("dropout: kept units are scaled by exactly 1/(1-p), and the expectation is unchanged") {
    const double p = 0.3;
    Rng rng(5);
    Tensor a(1000, 1000, 1.0), mask;
    dropout_forward(a, p, rng, mask);
    double total = 0.0, dropped = 0.0, other = 0.0;
    for (double v : a.data) total += v, dropped += v == 0.0, other += v != 0.0 && v != 1.0 / (1.0 - p);
    CHECK(other == 0.0);
    const double n = (double)a.size(), standard_error = std::sqrt(p / (1.0 - p) / n);
    CHECK(std::fabs(total / n - 1.0) <= 5 * standard_error);             // E[mask] = 1
    CHECK(std::fabs(dropped / n - p) <= 5 * std::sqrt(p * (1 - p) / n));  // P(dropped) = p
}

TEST_CASE("the gradient with dropout matches finite differences under the same mask") {
    Problem p = random_problem("5-7-6-3", Activation::Tanh, true, Loss::CrossEntropy, 9, 8);
    const Dropout dropout{0.4, 2};
    ScalarFunction f = [&](const Var& t) {  // the loss with a fixed mask: a fresh Rng(3) each time
        Mlp net(p.net.spec);
        net.theta = t.value().data;
        MlpWorkspace ws;
        Rng rng(3);
        return constant(Tensor::scalar(loss_forward_backward(net.spec.loss, mlp_forward(net, p.X, ws, &dropout, &rng), p.y.data(), nullptr)));
    };
    MlpWorkspace ws;
    Rng rng(3);
    std::vector<double> g(p.net.theta.size());
    mlp_loss_gradient(p.net, p.X, p.y.data(), ws, g.data(), &dropout, &rng);
    const Tensor fd = central_difference_gradient(f, Tensor((int)g.size(), 1, p.net.theta));
    CHECK(relative_difference(Tensor((int)g.size(), 1, g), fd) <= 1e-8);
    const Dropout on_output{0.5, 3};
    CHECK_THROWS_WITH_AS(mlp_forward(p.net, p.X, ws, &on_output, &rng), doctest::Contains("dropout: layer 3 is not a hidden layer"),
                         std::invalid_argument);
}

TEST_CASE("a teacher-student problem trains to near-zero loss, and the stop rule ends it") {
    const Split split = synthetic_split(8, 3, 100, 1);
    Mlp net = fresh_net("8-64-3", Activation::Tanh, true, 2);
    TrainConfig c;
    c.optimizer.kind = OptimizerKind::Adam;
    c.lr = 0.01, c.batch = 20, c.max_epochs = 2000, c.stop_loss = 1e-3, c.stop_accuracy = 0.99;
    const TrainResult r = train(net, split.train, split.test, c);
    REQUIRE(r.status == "converged");
    CHECK(r.log.back().train_loss < 1e-3);
    CHECK(r.log.back().train_accuracy == 1.0);
    for (size_t e = 0; e + 1 < r.log.size(); ++e)  // the rule did not hold before the last epoch
        CHECK(!(r.log[e].train_loss < 1e-3 && r.log[e].train_accuracy > 0.99));
    CHECK(r.log.back().test_accuracy > 0.8);  // the student generalizes: the labels are learnable
}

TEST_CASE("--stop-loss 0 disables the stop rule") {
    const Split split = synthetic_split(4, 2, 20, 1);
    Mlp net = fresh_net("4-8-2", Activation::Relu, true, 1);
    TrainConfig c;
    c.max_epochs = 7, c.stop_loss = 0.0, c.batch = 8;
    const TrainResult r = train(net, split.train, split.test, c);
    CHECK(r.status == "max_epochs");
    CHECK(r.log.size() == 7);
}

TEST_CASE("same seed and thread count give byte-identical weights; another seed does not") {
    const Split split = synthetic_split(20, 4, 50, 3);
    auto trained = [&](uint64_t seed, int threads) {
        openblas_set_num_threads(threads);
        Mlp net(MlpSpec::parse("20-32-16-4", Activation::Relu, false));
        Rng rng(stream_seed(seed, 0));
        initialize(net, Init::PyTorch, 1.0, rng);
        TrainConfig c;
        c.max_epochs = 5, c.stop_loss = 0, c.batch = 16, c.seed = seed, c.dropout = {0.1, 1};
        train(net, split.train, split.test, c);
        return net.theta;
    };
    for (int threads : {1, 2}) {
        CAPTURE(threads);
        const std::vector<double> a = trained(7, threads), b = trained(7, threads);
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
        CHECK(std::memcmp(a.data(), trained(8, threads).data(), a.size() * sizeof(double)) != 0);
    }
    openblas_set_num_threads(1);
}

TEST_CASE("divergence stops training, says so, and restores the last good parameters") {
    const Split split = synthetic_split(10, 3, 30, 4);
    Mlp net = fresh_net("10-16-3", Activation::Relu, true, 4, Loss::MeanSquaredError);
    TrainConfig c;
    c.lr = 1e3, c.max_epochs = 50, c.batch = 10;
    std::vector<double> seen;
    const TrainResult r = train(net, split.train, split.test, c, [&](const EpochRecord&, const Mlp& m) { seen = m.theta; });
    REQUIRE(r.status == "diverged");
    CHECK(r.message.find("training diverged in epoch") != std::string::npos);
    for (double v : net.theta) CHECK(std::isfinite(v));
    if (!r.log.empty()) CHECK(net.theta == seen);  // the last epoch reported good is what is kept
}

TEST_CASE("training refuses data that does not fit the architecture") {
    const Split split = synthetic_split(10, 3, 5, 4);
    Mlp net(MlpSpec::parse("12-4-3", Activation::Relu, true));
    CHECK_THROWS_WITH_AS(train(net, split.train, split.test, TrainConfig{}), doctest::Contains("10 inputs per sample, architecture 12-4-3 expects 12"),
                         std::invalid_argument);
}
