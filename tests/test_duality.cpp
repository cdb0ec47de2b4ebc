// test_duality.cpp: the A-W duality (experiments/aw/README.md). The dual weights' defining properties,
// and the identity f(x') = f(x; theta + dtheta) verified to a few units of rounding in double
// and in long double, the latter about 2^11 times smaller: the residual is rounding.
#include <doctest/doctest.h>

#include <cmath>

#include "analysis/dual_weights.h"
#include "analysis/verify.h"
#include "nn/data.h"
#include "nn/files.h"
#include "tests/fixtures.h"

using namespace awd;

namespace {

struct Worst {
    double in_double = 0, in_long_double = 0;
    int pairs = 0;
    void add(const PairCheck& c) {
        REQUIRE(c.defined);
        in_double = std::max(in_double, c.in_double.max());
        in_long_double = std::max(in_long_double, c.in_long_double.max());
        ++pairs;
    }
};

std::vector<double> row(const Tensor& X, int n) {
    return std::vector<double>(&X.data[(size_t)n * X.cols], &X.data[(size_t)(n + 1) * X.cols]);
}

}  // namespace

TEST_CASE("minimal dual weights: dW a = W da, |dW|_F = |W da| / |a|, and every other solution is larger") {
    Rng rng(1);
    const int n_out = 5, n_in = 7;
    std::vector<double> W(n_out * n_in), a(n_in), da(n_in), M(n_out * n_in);
    for (double& v : W) v = rng.normal();
    for (double& v : a) v = rng.normal();
    for (double& v : da) v = rng.normal();
    for (double& v : M) v = rng.normal();
    std::vector<double> dW, family, dWb, db;
    REQUIRE(minimal_dual(W.data(), n_out, n_in, a, da, dW));
    REQUIRE(dual_with_M(W.data(), n_out, n_in, a, da, M, family));
    bias_absorbed_dual(W.data(), n_out, n_in, a, da, dWb, db);
    const std::vector<double> Wda = weight_times(W.data(), n_out, n_in, da);
    const std::vector<double> dWa = weight_times(dW.data(), n_out, n_in, a),
                              Fa = weight_times(family.data(), n_out, n_in, a);
    const std::vector<double> dWba = weight_times(dWb.data(), n_out, n_in, a);
    for (int i = 0; i < n_out; ++i) {
        CHECK(std::fabs(dWa[i] - Wda[i]) <= 1e-14 * (1 + std::fabs(Wda[i])));
        CHECK(std::fabs(Fa[i] - Wda[i]) <= 1e-13 * (1 + std::fabs(Wda[i])));
        CHECK(std::fabs(dWba[i] + db[i] - Wda[i]) <= 1e-14 * (1 + std::fabs(Wda[i])));  // [dW db] [a; 1] = W da
    }
    CHECK(std::sqrt(squared_norm(dW)) ==
          doctest::Approx(std::sqrt(squared_norm(Wda) / squared_norm(a))).epsilon(1e-14));
    CHECK(squared_norm(family) > squared_norm(dW));
    const std::vector<double> zero(n_in, 0.0);
    CHECK_FALSE(minimal_dual(W.data(), n_out, n_in, zero, da, dW));  // a = 0: undefined, reported
}

TEST_CASE(
    "duality verified in double and long double: depths 1-4, every layer, four activations, bias or not, three "
    "variants") {
    const char* archs[] = {"6-4", "6-5-4", "6-7-5-4", "6-5-6-5-4"};
    Worst worst;
    for (const char* arch : archs)
        for (Activation act : {Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::Softplus})
            for (bool bias : {false, true}) {
                const Problem p = random_problem(arch, act, bias, Loss::CrossEntropy, 12, 17, 2.0);
                Rng rng(3);
                for (int layer = 0; layer < p.net.spec.layers(); ++layer) {
                    std::vector<double> M((size_t)p.net.spec.n_out(layer) * p.net.spec.n_in(layer));
                    for (double& v : M) v = rng.normal();
                    for (int n = 0; n + 1 < p.X.rows; n += 2) {
                        CAPTURE(arch);
                        CAPTURE(activation_name(act));
                        CAPTURE(layer);
                        const std::vector<double> x = row(p.X, n), x2 = row(p.X, n + 1);
                        const std::vector<double> a = activity<double>(p.net, layer, x.data()),
                                                  a2 = activity<double>(p.net, layer, x2.data());
                        worst.add(verify_pair(p.net, layer, a, a2, p.y[n + 1], DualVariant::Minimal));
                        worst.add(verify_pair(p.net, layer, a, a2, p.y[n + 1], DualVariant::BiasAbsorbed));
                        worst.add(verify_pair(p.net, layer, a, a2, p.y[n + 1], DualVariant::Family, &M));
                    }
                }
            }
    MESSAGE("random pairs: " << worst.pairs << ", worst double " << worst.in_double << " u, worst long double "
                             << worst.in_long_double << " u");
    CHECK(worst.in_double <= 8);
    CHECK(worst.in_long_double <= 8);
    CHECK(worst.in_double > 0);                            // rounding is there to see in double ...
    CHECK(worst.in_long_double * 256 <= worst.in_double);  // ... and shrinks with the precision (2^11 expected)
}

TEST_CASE("duality verified on pairs of real MNIST digits, with MSE too") {
    DataConfig c;
    c.train_per_class = 5, c.test = 20;
    REQUIRE_MESSAGE(file_exists(c.mnist_dir + "/0.json"), "run `make data` first (make test does)");
    const Split s = load_data(c);
    Worst worst;
    for (Loss loss : {Loss::CrossEntropy, Loss::MeanSquaredError})
        for (Activation act : {Activation::Relu, Activation::Tanh}) {
            Problem p = random_problem("784-30-30-10", act, false, loss, 1, 5, 1.0);
            for (int layer = 0; layer < 3; ++layer)
                for (int k = 0; k < 20; ++k) {
                    const PairCheck check =
                        verify_pair(p.net, layer, activity<double>(p.net, layer, &s.train.X.data[(size_t)k * 784]),
                                    activity<double>(p.net, layer, &s.test.X.data[(size_t)k * 784]), s.test.y[k],
                                    DualVariant::Minimal);
                    if (check.defined) worst.add(check);
                }
        }
    MESSAGE("MNIST pairs: " << worst.pairs << ", worst double " << worst.in_double << " u, worst long double "
                            << worst.in_long_double << " u");
    CHECK(worst.pairs > 200);
    CHECK(worst.in_double <= 8);
    CHECK(worst.in_long_double * 256 <= worst.in_double);
}

TEST_CASE("relu's kink: a dead test activity (a' = 0) is verified without an infinite ratio") {
    // a' = 0 gives z' = 0 exactly; on the other side (W + dW) a = W a - W a leaves rounding
    // residues of either sign, and relu passes the positive ones: the bound must carry them
    const Problem p = random_problem("6-8-7-4", Activation::Relu, false, Loss::CrossEntropy, 40, 23, 2.0);
    Worst worst;
    for (int n = 0; n < p.X.rows; ++n) {
        const std::vector<double> a = activity<double>(p.net, 1, &p.X.data[(size_t)n * 6]);
        if (squared_norm(a) == 0) continue;
        worst.add(verify_pair(p.net, 1, a, std::vector<double>(a.size(), 0.0), p.y[n], DualVariant::Minimal));
    }
    CHECK(worst.pairs > 20);
    CHECK(worst.in_double <= 8);
    CHECK(worst.in_long_double <= 8);
}
