// test_model.cpp: models as modules over one flat parameter buffer.
//
// - The Sequential MLP reproduces, to <= 1e-14 relative, the loss, gradient and Hessian of the
//   hand-written MLP path it replaced (values captured from that code: tests/reference/).
// - Parameters are named views in PyTorch's order; a module fed the wrong shape says which.
// - A model defined only here (a two-parameter valley) is trained by the same train() and its
//   exact Hessian comes from the same autodiff, checked against its closed form.
// - The random engine is std::mt19937_64's numbers, drawn one at a time or in bulk (dropout).
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "analysis/hessian.h"
#include "nn/files.h"
#include "nn/mlp.h"
#include "nn/random.h"
#include "optim/train.h"

using namespace awd;

TEST_CASE("the Sequential MLP reproduces the retired hand-written path: loss, gradient, Hessian") {
    int combinations = 0;
    for (Activation act :
         {Activation::Identity, Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Softplus}) {
        for (Loss loss : {Loss::CrossEntropy, Loss::MeanSquaredError}) {
            for (bool bias : {false, true}) {
                const std::string stem = std::string("tests/reference/") + activation_name(act) + "_" +
                    loss_name(loss) + (bias ? "_bias" : "_nobias");
                CAPTURE(stem);
                Mlp net(MlpSpec::parse("5-4-3-3", act, bias, loss));
                net.theta() = read_npy_matrix(stem + "_theta.npy");
                const Tensor X = read_npy_matrix(stem + "_X.npy");
                const std::vector<int64_t> y64 = read_npy_int64(stem + "_y.npy");
                const std::vector<int> y(y64.begin(), y64.end());
                const Tensor reference =
                    read_npy_matrix(stem + "_loss_gradient.npy");  // (1 + P, 1): loss, then gradient
                const Tensor H_reference = read_npy_matrix(stem + "_hessian.npy");

                const Var l = loss_graph(loss, net.model.forward(constant(X)), y);
                net.model.backward(l);
                CHECK(std::fabs(l.value().item() - reference[0]) <= 1e-14 * std::fabs(reference[0]));
                Tensor g_reference((int)net.model.size(), 1);
                for (size_t k = 0; k < net.model.size(); ++k) g_reference[k] = reference[k + 1];
                CHECK(relative_difference(net.model.gradient(), g_reference) <= 1e-14);
                const Tensor H =
                    hessian([&](const Var& t) { return loss_graph(loss, net.model.forward_at(t, constant(X)), y); },
                            net.theta());
                CHECK(relative_difference(H, H_reference) <= 1e-14);
                CHECK(relative_difference(hessian_fast(net, X, y, all_indices(net.spec)), H) <= 1e-13);
                ++combinations;
            }
        }
    }
    CHECK(combinations == 20);
}

TEST_CASE("parameters are named views of one flat buffer, in PyTorch's order") {
    MlpSpec spec = MlpSpec::parse("4-3-2", Activation::Tanh, true);
    spec.dropout = 0.5;  // a module without parameters shifts the names, as in torch.nn.Sequential
    Model m = make_mlp(spec);
    std::vector<std::string> names;
    for (const ParameterInfo& p : m.parameters()) names.push_back(p.name + p.shape() + "@" + std::to_string(p.offset));
    CHECK(names ==
          std::vector<std::string>{"0.weight(3 x 4)@0", "0.bias(1 x 3)@12", "3.weight(2 x 3)@15", "3.bias(1 x 2)@21"});
    CHECK(m.size() == spec.n_params());
    m.values(m.parameter("3.bias"))[1] = 7.0;  // writing through a name changes theta, and the graph sees it
    CHECK(m.theta()[22] == 7.0);
    const Tensor out = m.forward(constant(Tensor(1, 4))).value();  // zero input: the output is the last bias
    CHECK(out[1] == 7.0);
    CHECK_THROWS_WITH_AS(m.parameter("1.weight"),
                         doctest::Contains("no parameter '1.weight' (it has 0.weight, 0.bias, 3.weight, 3.bias)"),
                         std::invalid_argument);
}

TEST_CASE("a module fed the wrong shape names the module and both shapes") {
    Model m = make_mlp(MlpSpec::parse("4-3-2", Activation::Relu, false));
    CHECK_THROWS_WITH_AS(m.forward(constant(Tensor(5, 6))),
                         doctest::Contains("module 0 Dense(4 -> 3, no bias): input (5 x 6) has 6 features, expected 4"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(m.forward_at(variable(Tensor(3, 1)), constant(Tensor(5, 4))),
                         doctest::Contains("flat parameters (3 x 1) do not hold its 18 parameters"),
                         std::invalid_argument);
}

namespace {

// A two-parameter model: the degenerate valley L(x, y) = 1/2 exp(x) mean_mu (y - y_mu)^2, the
// samples y_mu fed as the input rows. Its output is each sample's loss (N, 1).
struct Valley : Module {
    int xy = -1;
    void declare(ParameterDeclarations& d, const std::string& prefix) override { xy = d.add(prefix + "xy", 1, 2); }
    Var forward(const Var& samples, const ForwardContext& ctx) const override {
        const Var p = ctx.parameter(xy);
        const Var x = slice(p, 0, 0, 1, 1), y = slice(p, 0, 1, 1, 1);
        return 0.5 * exp(x) * square(samples - y);
    }
    std::string describe() const override { return "Valley"; }
};

}  // namespace

TEST_CASE("a model defined in a test trains with train() and gets its exact Hessian from the same autodiff") {
    Model m(std::make_unique<Valley>());
    m.theta()[0] = 0.3, m.theta()[1] = 2.0;
    Dataset d;
    d.X = Tensor(4, 1, {-1.0, 0.5, 1.5, 3.0}), d.y = {0, 0, 0, 0}, d.classes = 1;
    const LossFunction mean_loss = [](const Var& out, const std::vector<int>&) { return mean(out); };
    // closed form at (x, y): mean (y - y_mu)^2 = v; H = e^x [[v/2, mean(y - y_mu)], [mean(y - y_mu), 1]]
    const double x = 0.3, y = 2.0, mean_y = 1.0;
    double v = 0;
    for (double s : {-1.0, 0.5, 1.5, 3.0}) v += (y - s) * (y - s) / 4;
    const Tensor H = hessian([&](const Var& t) { return mean(m.forward_at(t, constant(d.X))); }, m.theta());
    CHECK(std::fabs(H(0, 0) - std::exp(x) * v / 2) <= 1e-15 * std::exp(x) * v);
    CHECK(std::fabs(H(0, 1) - std::exp(x) * (y - mean_y)) <= 1e-15 * std::exp(x));
    CHECK(H(1, 0) == H(0, 1));
    CHECK(std::fabs(H(1, 1) - std::exp(x)) <= 1e-15 * std::exp(x));

    TrainConfig c;
    c.lr = 0.2, c.batch = 4, c.max_epochs = 300, c.stop_loss = 0;
    const TrainResult r = train(m, mean_loss, d, Dataset{}, c);
    CHECK(r.status == "max_epochs");
    CHECK(std::fabs(m.theta()[1] - mean_y) <= 0.1 * std::fabs(y - mean_y));  // y moves to the mean of the samples
    CHECK(m.theta()[0] < 0.3);  // and x drifts to where the valley is flatter
}

TEST_CASE("one width parser: architectures and hidden-width lists") {
    CHECK(parse_widths("784-30-10", '-', "architecture") == std::vector<int>{784, 30, 10});
    CHECK(parse_widths("64,64", ',', "--hidden") == std::vector<int>{64, 64});
    CHECK(parse_widths("5", ',', "--hidden") == std::vector<int>{5});
    CHECK_THROWS_WITH_AS(parse_widths("64,x", ',', "--hidden"), "--hidden '64,x': 'x' is not a positive width",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_widths("64,,3", ',', "--hidden"), "--hidden '64,,3': '' is not a positive width",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(parse_widths("4-0-2", '-', "architecture"),
                         "architecture '4-0-2': '0' is not a positive width", std::invalid_argument);
    CHECK_THROWS_WITH_AS(MlpSpec::parse("4-3x-2", Activation::Relu, true),
                         "architecture '4-3x-2': '3x' is not a positive width", std::invalid_argument);
    CHECK(MlpSpec::parse("4-3-2", Activation::Relu, true).widths == parse_widths("4-3-2", '-', "architecture"));
}

TEST_CASE("Mt19937_64 is std::mt19937_64, drawn one at a time or in bulk; dropout masks draw in bulk") {
    Mt19937_64 ours_default(5489);  // the standard's default seed
    for (int k = 1; k < 10000; ++k) ours_default();
    CHECK(ours_default() == 9981545732273789042ull);  // the 10000th number, fixed by the C++ standard
    for (const uint64_t seed : {0ull, 1ull, 42ull, ~0ull}) {
        std::mt19937_64 standard(seed);
        Mt19937_64 ours(seed);
        std::vector<uint64_t> bulk(1000);
        for (const size_t n : {1, 311, 312, 313, 1000, 7}) {  // runs across the 312-word refills
            ours.fill(bulk.data(), n);
            for (size_t k = 0; k < n; ++k) CHECK(bulk[k] == standard());
            CHECK(ours() == standard());
        }
    }
    Rng one(7), many(7);
    std::vector<double> u(1500);
    many.uniforms(u.data(), u.size());
    for (double v : u) CHECK(v == one.uniform());
    CHECK(many.bits() == one.bits());
}
