// test_analysis.cpp: the duality analysis (experiments/aw/README.md) against independent
// computations: the identity's residual, the exact dual loss, the curvature form from H itself,
// the per-sample Taylor terms from per-sample Hessians, the activity-weighted norm, pairing
// against a brute-force search, dead layers, and the scaling of the dual weights with W.
#include <doctest/doctest.h>

#include <cmath>

#include "analysis/dual_weights.h"
#include "analysis/duality.h"
#include "analysis/hessian.h"
#include "autodiff/finite_differences.h"
#include "optim/train.h"

using namespace awd;

namespace {

struct Trained {
    Mlp net;
    Split split;
};

// A small net trained on a synthetic problem until it fits: a realistic, fast test subject.
Trained trained_net(Activation act, bool bias) {
    DataConfig c;
    c.source = "synthetic", c.inputs = 12, c.classes = 4, c.train_per_class = 40, c.test = 60, c.seed = 3;
    Trained t{Mlp(MlpSpec::parse("12-16-10-4", act, bias)), load_data(c)};
    Rng rng(5);
    initialize(t.net.model, Init::PyTorch, 1.0, rng);
    TrainConfig tc;
    tc.optimizer.kind = OptimizerKind::Adam, tc.lr = 0.01, tc.batch = 16, tc.max_epochs = 300, tc.stop_loss = 1e-3;
    train(t.net.model, loss_function(t.net.spec.loss), t.split.train, t.split.test, tc);
    return t;
}

}  // namespace

TEST_CASE("the decomposition: identity to 1e-12, and every estimate against an independent computation") {
    for (Activation act : {Activation::Relu, Activation::Tanh}) {
        CAPTURE(activation_name(act));
        const Trained t = trained_net(act, true);
        DualityOptions o;
        o.layer = 1;
        const DualityReport r = analyse_duality(t.net, t.split.train, t.split.test, o);
        REQUIRE(r.n_skipped == 0);
        CHECK(r.n_pairs == 60);
        CHECK(r.identity_residual <= 1e-12);
        CHECK(std::fabs(r.exact_dual_loss - r.gap_paired) <= 1e-12 * (1 + std::fabs(r.gap_paired)));
        CHECK(std::fabs(r.gap_paired - (r.L_test - r.L_paired)) <= 1e-12 * (1 + r.L_test));
        CHECK(r.verify_double_u <= 8);
        CHECK(r.verify_long_double_u * 256 <= r.verify_double_u);
        CHECK(std::fabs(r.activity_weighted_norm - r.mean_dW_norm) <=
              1e-13 * r.mean_dW_norm);  // experiments/aw/README.md

        // independent references, pair by pair: H from the plain autodiff path, per-sample
        // gradients and Hessians of the training sample from the autodiff too
        const std::vector<size_t> idx = layer_indices(t.net.spec, 1, false);
        const Tensor H = hessian_plain(t.net, t.split.train.X, t.split.train.y, idx);
        const int n_out = t.net.spec.n_out(1), n_in = t.net.spec.n_in(1);
        const std::vector<double> W(t.net.W(1), t.net.W(1) + n_out * n_in);
        double curvature = 0, taylor = 0;
        for (const PairRecord& p : r.pairs) {
            const double* x = &t.split.train.X.data[(size_t)p.train_index * 12];
            const double* x2 = &t.split.test.X.data[(size_t)p.test_index * 12];
            const std::vector<double> a = activity<double>(t.net, 1, x), a2 = activity<double>(t.net, 1, x2);
            std::vector<double> da(n_in), dW;
            for (int j = 0; j < n_in; ++j) da[j] = a2[j] - a[j];
            REQUIRE(minimal_dual(W.data(), n_out, n_in, a, da, dW));
            const Tensor xs(1, 12, std::vector<double>(x, x + 12));
            const std::vector<int> ys = {t.split.train.y[p.train_index]};
            const Tensor Hn = hessian_plain(t.net, xs, ys, idx);
            ScalarFunction loss = [&](const Var& th) {
                return loss_graph(t.net.spec.loss, t.net.model.forward_at(th, constant(xs)), ys);
            };
            const Tensor g = gradient(loss, t.net.theta());
            double first = 0, second_n = 0, second = 0;
            for (size_t r1 = 0; r1 < idx.size(); ++r1) {
                first += g[idx[r1]] * dW[r1];
                for (size_t c1 = 0; c1 < idx.size(); ++c1)
                    second_n += dW[r1] * Hn(r1, c1) * dW[c1], second += dW[r1] * H(r1, c1) * dW[c1];
            }
            CHECK(std::fabs(p.taylor - (first + 0.5 * second_n)) <= 1e-12 * (1 + std::fabs(p.taylor)));
            taylor += (first + 0.5 * second_n) / r.n_pairs;
            curvature += 0.5 * second / r.n_pairs;
        }
        CHECK(std::fabs(r.curvature_estimate - curvature) <= 1e-12 * std::fabs(curvature));
        CHECK(std::fabs(r.taylor_estimate - taylor) <= 1e-12 * (1 + std::fabs(taylor)));
    }
}

TEST_CASE("bias-absorbed dual weights: the identity holds with W and b moving together") {
    const Trained t = trained_net(Activation::Tanh, true);
    DualityOptions o;
    o.layer = 2, o.variant = DualVariant::BiasAbsorbed;
    const DualityReport r = analyse_duality(t.net, t.split.train, t.split.test, o);
    CHECK(r.P == 10 * 4 + 4);
    CHECK(r.identity_residual <= 1e-12);
    CHECK(std::fabs(r.exact_dual_loss - r.gap_paired) <= 1e-12 * (1 + std::fabs(r.gap_paired)));
    CHECK(r.verify_double_u <= 8);
    const Trained no_bias = trained_net(Activation::Relu, false);
    CHECK_THROWS_WITH_AS(analyse_duality(no_bias.net, no_bias.split.train, no_bias.split.test, o),
                         doctest::Contains("trained without biases"), std::invalid_argument);
}

TEST_CASE("scaling layer l's weights by s scales the dual weights by s (experiments/aw/README.md)") {
    Trained t = trained_net(Activation::Relu, false);
    DualityOptions o;
    const DualityReport base = analyse_duality(t.net, t.split.train, t.split.test, o);
    for (int k = 0; k < 16 * 10; ++k) t.net.W(1)[k] *= 3.0;
    const DualityReport scaled = analyse_duality(t.net, t.split.train, t.split.test, o);
    CHECK(scaled.mean_dW_norm == doctest::Approx(3.0 * base.mean_dW_norm).epsilon(1e-14));
    CHECK(scaled.weight_norm == doctest::Approx(3.0 * base.weight_norm).epsilon(1e-14));
}

TEST_CASE("a dead layer: training samples with zero activity are skipped and counted, never a NaN") {
    // no biases and relu: an all-zero input has a^1 = 0 exactly
    Trained t = trained_net(Activation::Relu, false);
    Dataset& tr = t.split.train;
    Dataset& te = t.split.test;
    for (int k = 0; k < 2; ++k) {  // two zero images in training and test, labels 0 and 1
        std::fill(&tr.X.data[(size_t)k * 12], &tr.X.data[(size_t)(k + 1) * 12], 0.0);
        std::fill(&te.X.data[(size_t)k * 12], &te.X.data[(size_t)(k + 1) * 12], 0.0);
        tr.y[k] = te.y[k] = k;
    }
    DualityOptions o;
    const DualityReport r = analyse_duality(t.net, tr, te, o);
    int paired_with_zero = 0;  // skipped exactly when the training partner is a zero image
    for (const PairRecord& p : r.pairs) {
        CHECK(p.skipped == (p.train_index < 2));
        paired_with_zero += p.train_index < 2;
    }
    CHECK(r.pairs[0].skipped);  // the zero test images pair with the zero training images
    CHECK(r.pairs[1].skipped);
    CHECK(r.n_skipped == paired_with_zero);
    for (double v :
         {r.gap_paired, r.identity_estimate, r.curvature_estimate, r.taylor_estimate, r.sum_sigma_g, r.verify_double_u})
        CHECK(std::isfinite(v));
    CHECK(r.identity_residual <= 1e-12);
}

TEST_CASE("nearest same-label pairing by GEMM equals a brute-force search; random pairing keeps labels") {
    Rng rng(4);
    Tensor train(200, 9), test(50, 9);
    std::vector<int> ty, qy;
    for (double& v : train.data) v = rng.normal();
    for (double& v : test.data) v = rng.normal();
    for (int n = 0; n < 200; ++n) ty.push_back((int)rng.index(3));
    for (int k = 0; k < 50; ++k) qy.push_back((int)rng.index(3));
    const std::vector<int> nearest = pair_samples(Pairing::Nearest, train, ty, test, qy, 0);
    for (int k = 0; k < 50; ++k) {
        int best = -1;
        double best_d = 0;
        for (int n = 0; n < 200; ++n) {
            if (ty[n] != qy[k]) continue;
            double d = 0;
            for (int j = 0; j < 9; ++j) d += (train(n, j) - test(k, j)) * (train(n, j) - test(k, j));
            if (best < 0 || d < best_d) best = n, best_d = d;
        }
        CHECK(nearest[k] == best);
    }
    const std::vector<int> random = pair_samples(Pairing::Random, train, ty, test, qy, 7);
    for (int k = 0; k < 50; ++k) CHECK(ty[random[k]] == qy[k]);
    CHECK(random == pair_samples(Pairing::Random, train, ty, test, qy, 7));
    qy[3] = 5;
    CHECK_THROWS_WITH_AS(pair_samples(Pairing::Nearest, train, ty, test, qy, 0),
                         doctest::Contains("test label 5 has no training sample"), std::runtime_error);
}
