// test_gan.cpp: the effective GAN model (experiments/gan/gan.h): the kernel step in its limits and
// against the loop it replaces, the order parameters on assignments with known scores, and the
// discriminator's gradients (objective, double-backward penalty, particle gradient) against
// central finite differences of the values; then `awd gan` end to end: its files and its errors.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "experiments/gan/gan.h"
#include "nn/files.h"

using namespace awd;

namespace {

Tensor normal_tensor(int rows, int cols, Rng& rng) {
    Tensor t(rows, cols);
    for (double& v : t.data) v = rng.normal();
    return t;
}

// Central differences of `value` with respect to every entry of D's theta.
template <class F>
Tensor finite_difference_in_theta(Model& D, F value, double h = 1e-5) {
    Tensor g(D.theta().rows, 1);
    for (size_t k = 0; k < D.size(); ++k) {
        const double t = D.theta()[k];
        D.theta()[k] = t + h;
        const double up = value();
        D.theta()[k] = t - h;
        const double down = value();
        D.theta()[k] = t;
        g[k] = (up - down) / (2 * h);
    }
    return g;
}

Tensor backward_gradient(Model& D, const Var& loss) {
    D.backward(loss);
    return D.gradient();
}

Model random_discriminator(int d, Activation a, uint64_t seed) {
    Rng rng(seed);
    DiscriminatorSpec spec;
    spec.input_dim = d, spec.hidden = {6, 5}, spec.activation = a;
    Model D = make_discriminator(spec, rng);
    for (double& v : D.theta().data) v *= 2;  // sizeable second derivatives
    return D;
}

}  // namespace

TEST_CASE(
    "kernel step: g2 = 0 moves each particle by its own gradient, g2 = g1 moves all rigidly, and equals the loop over "
    "j") {
    Rng rng(1);
    const int N = 7, d = 3;
    const Tensor Q0 = normal_tensor(N, d, rng), G = normal_tensor(N, d, rng);
    const double eta = 0.3;

    Tensor Q = Q0;
    kernel_step(Q, coupling_kernel(N, 1.5, 0.0), G, eta);
    for (size_t k = 0; k < Q.size(); ++k) CHECK(Q[k] == doctest::Approx(Q0[k] + eta * 1.5 * G[k]).epsilon(1e-15));

    Q = Q0;
    kernel_step(Q, coupling_kernel(N, 0.8, 0.8), G, eta);
    for (int j = 0; j < d; ++j) {
        double column = 0;
        for (int i = 0; i < N; ++i) column += G(i, j);
        for (int i = 0; i < N; ++i) CHECK(Q(i, j) - Q0(i, j) == doctest::Approx(eta * 0.8 * column).epsilon(1e-13));
    }

    const Tensor K = normal_tensor(N, N, rng);
    Q = Q0;
    kernel_step(Q, K, G, eta);
    for (int i = 0; i < N; ++i)
        for (int c = 0; c < d; ++c) {
            double loop = Q0(i, c);
            for (int j = 0; j < N; ++j) loop += eta * K(i, j) * G(j, c);
            CHECK(Q(i, c) == doctest::Approx(loop).epsilon(1e-13));
        }
    Tensor wrong(N + 1, N + 1);
    CHECK_THROWS_AS(kernel_step(Q, wrong, G, eta), std::invalid_argument);
}

TEST_CASE("collapse score: exactly 0 for a one-to-one assignment, exactly ln K for all on one target") {
    const int K = 100;
    std::vector<int> one_to_one(K), all_on_one(K, 37);
    for (int k = 0; k < K; ++k) one_to_one[k] = (k * 7) % K;
    CHECK(collapse_score(one_to_one, K) == 0.0);
    CHECK(collapse_score(all_on_one, K) == std::log(100.0));
    CHECK(collapse_score({0, 0, 1, 1}, 2) == doctest::Approx(0.0).epsilon(1e-15));  // two per target: still 0
    CHECK(collapse_score({0, 0, 0, 1}, 2) ==
          doctest::Approx(std::log(2.0) + 0.75 * std::log(0.75) + 0.25 * std::log(0.25)));
}

TEST_CASE("order parameters: nearest target by Euclidean and cosine distance, spread, energy distance") {
    const Tensor targets(3, 2, {0, 0, 4, 0, 0, 4});
    const Tensor Q(3, 2, {0.5, 0, 3, 0.5, 0.1, 3.2});
    CHECK(nearest_target(Q, targets, false) == std::vector<int>{0, 1, 2});
    // cosine ignores length: (10, 1) points along (4, 0), not along (0, 4)
    CHECK(nearest_target(Tensor(1, 2, {10, 1}), Tensor(2, 2, {0.1, 0, 0, 4}), true) == std::vector<int>{0});
    CHECK(energy_distance(Tensor(1, 1, {0.0}), Tensor(1, 1, {1.0})) == doctest::Approx(2.0));
    CHECK(std::fabs(energy_distance(targets, targets)) < 1e-12);
    GanTarget t;
    t.points = targets;
    const OrderParameters o = order_parameters(Q, t);
    CHECK(o.collapse == 0.0);
    CHECK(o.occupied == 3);
    CHECK(o.mean_min_distance == doctest::Approx((0.5 + std::sqrt(1.25) + std::sqrt(0.01 + 0.64)) / 3));
    const Tensor rigid(2, 2, {1, 1, 3, 1});  // centroid (2, 1), each particle at distance 1
    CHECK(order_parameters(rigid, t).spread == doctest::Approx(1.0));
}

TEST_CASE("targets: mnist100 is the first 100 training images, read from the class files through the label list") {
    // the issue's list of the first 100 MNIST training labels
    const std::string issue =
        "5 0 4 1 9 2 1 3 1 4 3 5 3 6 1 7 2 8 6 9 4 0 9 1 1 2 4 3 2 7 3 8 6 9 0 5 6 0 7 6 1 8 7 9 3 9 8 5 9 3 3 0 7 4 9 "
        "8 0 9 4 "
        "1 4 4 6 0 4 5 6 1 0 0 1 7 1 6 3 0 2 1 1 7 9 0 2 6 7 8 3 9 0 4 6 7 4 6 8 0 7 8 3 1";
    for (int i = 0; i < 100; ++i) CHECK(kFirst100MnistLabels[i] == issue[2 * i] - '0');
    // fake class files: pixel 0 of entry k of class c is (10 c + k) / 255, pixel 1 is c / 255
    const std::string dir = std::filesystem::temp_directory_path() / ("awd-gan-digits-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    for (int c = 0; c < 10; ++c) {
        nlohmann::json data = nlohmann::json::array();
        for (int k = 0; k < 15; ++k)
            for (int p = 0; p < 784; ++p) data.push_back(p == 0 ? (10 * c + k) / 255.0 : p == 1 ? c / 255.0 : 0.0);
        write_file_atomically(dir + "/" + std::to_string(c) + ".json", nlohmann::json{{"data", data}}.dump());
    }
    const std::vector<int> labels(std::begin(kFirst100MnistLabels), std::end(kFirst100MnistLabels));
    const Tensor X = first_mnist_training_images(dir, labels);
    REQUIRE(X.rows == 100);
    // by hand: image 0 is the first 5, image 11 the second 5 (labels 5 0 4 1 9 2 1 3 1 4 3 5), image 35 the third
    CHECK(X(0, 0) * 255 == doctest::Approx(50));
    CHECK(X(11, 0) * 255 == doctest::Approx(51));
    CHECK(X(35, 0) * 255 == doctest::Approx(52));
    CHECK(X(3, 0) * 255 == doctest::Approx(10));  // the first 1
    CHECK(X(6, 0) * 255 == doctest::Approx(11));  // the second 1
    std::vector<int> seen(10, 0);
    for (int i = 0; i < 100; ++i) {
        CHECK(X(i, 1) * 255 == doctest::Approx(labels[i]));
        CHECK(X(i, 0) * 255 == doctest::Approx(10 * labels[i] + seen[labels[i]]++));
    }
    // a class file too short for the list is an error naming it
    write_file_atomically(dir + "/1.json", nlohmann::json{{"data", std::vector<double>(784 * 3, 0.0)}}.dump());
    CHECK_THROWS_WITH(first_mnist_training_images(dir, labels), doctest::Contains("1.json"));
    std::filesystem::remove_all(dir);
    // the project's digits: 100 images, their class counts those of the label list, normalised
    const GanTarget m = make_target("mnist100");
    CHECK(m.size() == 100);
    CHECK(m.points.data != make_target("mnist100-balanced").points.data);
}

TEST_CASE("targets: the mixtures, mnist100-balanced (10 per class, normalised), unknown names refused") {
    CHECK(make_target("ring8").size() == 8);
    CHECK(make_target("grid25").size() == 25);
    CHECK(make_target("gauss1d").dim() == 1);
    const GanTarget m = make_target("mnist100-balanced");
    CHECK(m.size() == 100);
    CHECK(m.dim() == 784);
    CHECK(m.cosine);
    double lo = 1e300, hi = -1e300;
    for (double v : m.points.data) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo == doctest::Approx(-0.1307 / 0.3081));
    CHECK(hi == doctest::Approx((1 - 0.1307) / 0.3081));
    CHECK(make_target("mnist100-balanced").points.data == m.points.data);  // a fixed draw
    CHECK_THROWS_WITH_AS(make_target("ring9"), doctest::Contains("--target"), std::invalid_argument);
    Rng rng(3);
    Tensor samples;
    CHECK(&sample_target(m, 5, rng, samples) == &m.points);  // a point set is its own data, not copied
    CHECK(sample_target(make_target("ring8"), 5, rng, samples).rows == 5);
    CHECK(samples.rows == 5);
}

TEST_CASE(
    "discriminator: the penalty's gradient (double backward) and the whole critic loss match finite differences") {
    for (Activation a : {Activation::Tanh, Activation::Softplus, Activation::Relu}) {
        CAPTURE(activation_name(a));
        Model D = random_discriminator(3, a, 11);
        Rng rng(5);
        const Tensor X = normal_tensor(8, 3, rng), Q = normal_tensor(6, 3, rng);
        const Tensor analytic = backward_gradient(D, gradient_penalty(D, X));
        const Tensor numeric = finite_difference_in_theta(D, [&] { return gradient_penalty(D, X).value().item(); });
        CHECK(relative_difference(analytic, numeric) < 1e-7);
        CHECK(frobenius_norm(analytic) > 1e-3);

        for (GanObjective o : {GanObjective::Gan, GanObjective::Wasserstein})
            for (PenaltyOn on : {PenaltyOn::Data, PenaltyOn::Particles, PenaltyOn::Both}) {
                const Tensor g = backward_gradient(D, critic_loss(D, X, Q, o, 1.25, on).loss);
                const Tensor fd = finite_difference_in_theta(
                    D, [&] { return critic_loss(D, X, Q, o, 1.25, on).loss.value().item(); });
                CHECK(relative_difference(g, fd) < 1e-7);
            }
    }
}

TEST_CASE(
    "discriminator: the penalty on both sets is the mean over their union, and grad_q matches finite differences") {
    Model D = random_discriminator(2, Activation::Tanh, 4);
    Rng rng(6);
    const Tensor X = normal_tensor(5, 2, rng), Q = normal_tensor(3, 2, rng);
    const double px = gradient_penalty(D, X).value().item(), pq = gradient_penalty(D, Q).value().item();
    CHECK(critic_loss(D, X, Q, GanObjective::Gan, 1.0, PenaltyOn::Both).penalty ==
          doctest::Approx((5 * px + 3 * pq) / 8));
    for (GanObjective o : {GanObjective::Gan, GanObjective::Wasserstein}) {
        const Tensor G = particle_gradient(D, Q, o);
        const double h = 1e-6;
        for (int i = 0; i < Q.rows; ++i)
            for (int j = 0; j < Q.cols; ++j) {
                auto gain = [&](double shift) {
                    Tensor q(1, 2, {Q(i, 0), Q(i, 1)});
                    q(0, j) += shift;
                    const double f = D.forward(constant(q)).value().item();
                    return o == GanObjective::Gan ? -std::log1p(std::exp(-f)) : f;
                };
                CHECK(G(i, j) == doctest::Approx((gain(h) - gain(-h)) / (2 * h)).epsilon(1e-7));
            }
    }
}

TEST_CASE("penalty: per-sample and batch-mean scalings against finite differences in x and in theta") {
    for (Activation a : {Activation::Tanh, Activation::Relu}) {
        CAPTURE(activation_name(a));
        Model D = random_discriminator(3, a, 17);
        Rng rng(8);
        const Tensor X = normal_tensor(7, 3, rng);
        // per sample: (1/B) sum_m |grad_x f(x_m)|^2 with grad_x f by central differences of f in x
        double by_differences = 0;
        const double h = 1e-6;
        for (int m = 0; m < X.rows; ++m)
            for (int j = 0; j < X.cols; ++j) {
                Tensor up(1, 3, {X(m, 0), X(m, 1), X(m, 2)}), down = up;
                up(0, j) += h, down(0, j) -= h;
                const double g =
                    (D.forward(constant(up)).value().item() - D.forward(constant(down)).value().item()) / (2 * h);
                by_differences += g * g / X.rows;
            }
        const double per_sample = gradient_penalty(D, X, PenaltyScale::PerSample).value().item();
        const double batch_mean = gradient_penalty(D, X, PenaltyScale::BatchMean).value().item();
        CHECK(per_sample == doctest::Approx(by_differences).epsilon(1e-7));
        CHECK(batch_mean == doctest::Approx(by_differences / (X.rows * X.rows)).epsilon(1e-7));
        for (PenaltyScale scale : {PenaltyScale::PerSample, PenaltyScale::BatchMean}) {
            CAPTURE(penalty_scale_name(scale));
            const Tensor analytic = backward_gradient(D, gradient_penalty(D, X, scale));
            const Tensor numeric =
                finite_difference_in_theta(D, [&] { return gradient_penalty(D, X, scale).value().item(); });
            CHECK(relative_difference(analytic, numeric) < 1e-7);
            CHECK(frobenius_norm(analytic) > 1e-6);
            const Tensor Q = normal_tensor(5, 3, rng);
            const Tensor g = backward_gradient(
                D, critic_loss(D, X, Q, GanObjective::Wasserstein, 1.25, PenaltyOn::Particles, scale).loss);
            const Tensor fd = finite_difference_in_theta(D, [&] {
                return critic_loss(D, X, Q, GanObjective::Wasserstein, 1.25, PenaltyOn::Particles, scale)
                    .loss.value()
                    .item();
            });
            CHECK(relative_difference(g, fd) < 1e-7);
        }
    }
    CHECK(parse_penalty_scale("batch-mean") == PenaltyScale::BatchMean);
    CHECK_THROWS_WITH(parse_penalty_scale("mean"), doctest::Contains("per-sample"));
}

TEST_CASE("end states: each rule on a constructed particle set") {
    const GanTarget ring = make_target("ring8");  // R = 2
    Rng rng(12);
    Tensor Q0 = normal_tensor(16, 2, rng);
    for (double& v : Q0.data) v *= 0.1;  // a start of spread about 0.14
    const double spread0 = order_parameters(Q0, ring).spread;
    // two particles on every mode: separated
    Tensor spread_out(16, 2);
    for (int i = 0; i < 16; ++i) spread_out(i, 0) = ring.points(i % 8, 0), spread_out(i, 1) = ring.points(i % 8, 1);
    OrderParameters o = order_parameters(spread_out, ring, &Q0);
    CHECK(o.collapse == doctest::Approx(0).epsilon(1e-12));
    CHECK(o.end_state == EndState::Separated);
    // the start cloud moved rigidly onto mode 0: the score says collapsed, the shape never changed
    Tensor rigid = Q0;
    for (int i = 0; i < 16; ++i) rigid(i, 0) += 2;
    o = order_parameters(rigid, ring, &Q0);
    CHECK(o.collapse > std::log(8.0) / 2);
    CHECK(o.shape_change == doctest::Approx(0).epsilon(1e-12));
    CHECK(o.spread == doctest::Approx(spread0));
    CHECK(o.end_state == EndState::NeverSeparated);
    // every particle on mode 0 within 0.01, from a start of spread 0.14: collapsed
    Tensor onto(16, 2);
    for (int i = 0; i < 16; ++i) onto(i, 0) = 2 + 0.01 * rng.normal(), onto(i, 1) = 0.01 * rng.normal();
    o = order_parameters(onto, ring, &Q0);
    CHECK(o.collapse == doctest::Approx(std::log(8.0)));
    CHECK(o.shape_change > 0.5 * spread0);
    CHECK(o.end_state == EndState::Collapsed);
    // the centroid 30 away (> 10 R = 20), the particles spread: ran away, whatever the score
    Tensor away = spread_out;
    for (int i = 0; i < 16; ++i) away(i, 0) += 30;
    o = order_parameters(away, ring, &Q0);
    CHECK(o.centroid_norm == doctest::Approx(30));
    CHECK(o.end_state == EndState::RanAway);
    // the rule's thresholds themselves
    CHECK(classify_end_state(1.0, 8, 19.9, 2, 1, 1) == EndState::Separated);  // 1.0 < ln(8)/2 = 1.04
    CHECK(classify_end_state(1.1, 8, 19.9, 2, 0.49, 1) == EndState::NeverSeparated);
    CHECK(classify_end_state(1.1, 8, 19.9, 2, 0.51, 1) == EndState::Collapsed);
    CHECK(classify_end_state(0.0, 8, 20.1, 2, 1, 1) == EndState::RanAway);
    CHECK(std::string(end_state_name(EndState::NeverSeparated)) == "never separated");
}

TEST_CASE("dynamics: with a fresh optimizer each generator step's critic step equals a new optimizer's first step") {
    // a point set (its data are all its points) and no dropout: the critic's gradient is reproducible
    Rng rng(21);
    const std::string file =
        std::filesystem::temp_directory_path() / ("awd-gan-points-" + std::to_string(getpid()) + ".npy");
    write_npy(file, normal_tensor(6, 3, rng));
    const GanTarget t = make_target("points:" + file);
    std::filesystem::remove(file);
    for (bool fresh : {true, false}) {
        CAPTURE(fresh);
        GanConfig c;
        c.particles = 6, c.hidden = {8, 7}, c.lr_d = 1e-2, c.lr_g = 0.05, c.weight_decay = 1e-3,
        c.objective = GanObjective::Wasserstein;
        c.penalty = 0.5, c.penalty_on = PenaltyOn::Particles, c.optimizer.kind = OptimizerKind::Adam,
        c.optimizer.amsgrad = true;
        c.fresh_optimizer = fresh;
        GanDynamics run(t, c, coupling_kernel(6, 1, 0.3));
        for (int k = 0; k < 3; ++k) run.step();
        // by hand: the critic's gradient at the state before step 4, and a brand new optimizer's first step
        Model copy = run.discriminator();
        const CriticTerms terms = critic_loss(copy, t.points, run.particles(), c.objective, c.penalty, c.penalty_on);
        copy.backward(terms.loss);
        apply_weight_decay(copy, WeightDecay::L2, c.weight_decay, c.lr_d);
        Optimizer first(c.optimizer, copy);
        first.step(c.lr_d);
        run.step();
        if (fresh) CHECK(run.discriminator().theta().data == copy.theta().data);
        else CHECK(relative_difference(run.discriminator().theta(), copy.theta()) > 1e-6);  // Adam's moments carry over
    }
}

TEST_CASE("dynamics: d_steps_first critic steps before the first generator step, d_steps after") {
    const GanTarget t = make_target("ring8");
    GanConfig c;
    c.particles = 4, c.hidden = {5}, c.lr_d = 1e-2, c.lr_g = 0.01, c.d_steps = 2, c.d_steps_first = 7, c.seed = 3;
    GanConfig one_by_one = c;
    one_by_one.d_steps = 1, one_by_one.d_steps_first = 0;
    // with SGD and the particles held still (lr_g 0), 7 + 2 critic steps are 9 steps of one critic step each
    c.lr_g = one_by_one.lr_g = 0;
    GanDynamics a(t, c, coupling_kernel(4, 1, 0)), b(t, one_by_one, coupling_kernel(4, 1, 0));
    a.step(), a.step();
    for (int k = 0; k < 9; ++k) b.step();
    CHECK(a.discriminator().theta().data == b.discriminator().theta().data);
    CHECK(a.steps_done() == 2);
}

TEST_CASE("optimizer: amsgrad against a hand computation, and unlike Adam when v falls") {
    DiscriminatorSpec spec;
    spec.input_dim = 1, spec.hidden = {}, spec.output_bias = true;  // f = w x + b: two parameters
    Rng rng(1);
    OptimizerConfig config;
    config.kind = OptimizerKind::Adam, config.amsgrad = true;  // b1 0.9, b2 0.999, eps 1e-8
    Model ams = make_discriminator(spec, rng), adam = ams;
    ams.theta()[0] = 0.5, ams.theta()[1] = -0.25, adam.theta() = ams.theta();
    Optimizer o(config, ams);
    OptimizerConfig plain = config;
    plain.amsgrad = false;
    Optimizer p(plain, adam);
    const double lr = 0.1, g1[2] = {1.0, -2.0}, g2[2] = {0.01, 3.0};
    ams.gradient() = Tensor(2, 1, {g1[0], g1[1]}), adam.gradient() = ams.gradient();
    o.step(lr), p.step(lr);
    ams.gradient() = Tensor(2, 1, {g2[0], g2[1]}), adam.gradient() = ams.gradient();
    o.step(lr), p.step(lr);
    // by hand, parameter 0: m1 = 0.1, v1 = 0.001; step 1 moves by lr exactly (m^ = g, v^ = g^2):
    // 0.5 - 0.1 * 1 / (1 + 1e-8). m2 = 0.09 + 0.001 = 0.091, v2 = 0.000999 + 1e-7 = 0.0009991 < v1, so vmax = 0.001;
    // step 2: lr / (1 - 0.81) * m2 / (sqrt(vmax) / sqrt(1 - 0.998001) + 1e-8)
    const double w1 = 0.5 - 0.1 * 1.0 / (1.0 + 1e-8);
    const double w2 = w1 - 0.1 / (1 - 0.81) * 0.091 / (std::sqrt(0.001) / std::sqrt(1 - 0.998001) + 1e-8);
    CHECK(ams.theta()[0] == doctest::Approx(w2).epsilon(1e-13));
    const double w2_adam = w1 - 0.1 / (1 - 0.81) * 0.091 / (std::sqrt(0.0009991) / std::sqrt(1 - 0.998001) + 1e-8);
    CHECK(adam.theta()[0] == doctest::Approx(w2_adam).epsilon(1e-13));
    // parameter 1: v2 = 0.999 * 0.004 + 0.001 * 9 = 0.012996 > v1: amsgrad and Adam agree
    CHECK(ams.theta()[1] == doctest::Approx(adam.theta()[1]).epsilon(1e-15));
    config.kind = OptimizerKind::Sgd;
    CHECK_THROWS_AS(Optimizer(config, ams), std::invalid_argument);
}

TEST_CASE(
    "discriminator: the authors' critic 784-64-1024-64-1 has no output bias and drops out after the 1024 layer in "
    "training only") {
    DiscriminatorSpec spec;
    spec.input_dim = 784, spec.hidden = {64, 1024, 64}, spec.dropout = 0.2, spec.dropout_after = 2,
    spec.output_bias = false;
    Rng rng(2);
    const Model D = make_discriminator(spec, rng);
    CHECK(D.size() == (size_t)(784 * 64 + 64 + 64 * 1024 + 1024 + 1024 * 64 + 64 + 64));
    CHECK(D.parameters().back().name == "7.weight");  // Dense Act Dense Act Dropout Dense Act Dense
    CHECK(D.describe().find("Dropout") != std::string::npos);
    const Tensor X = normal_tensor(3, 784, rng);
    Rng masks(4);
    CHECK(D.forward(constant(X)).value().data == D.forward(constant(X)).value().data);
    CHECK(D.forward(constant(X), masks).value().data != D.forward(constant(X)).value().data);
    spec.dropout_after = 3;
    spec.hidden = {4, 4};
    CHECK_THROWS_WITH(make_discriminator(spec, rng), doctest::Contains("not a hidden layer"));
}

TEST_CASE("dynamics: a non-finite step throws naming the step and keeps the last good state") {
    const GanTarget t = make_target("ring8");
    GanConfig c;
    c.particles = 6, c.hidden = {8}, c.lr_d = 1e-3, c.lr_g = 0.1;
    GanDynamics run(t, c, coupling_kernel(6, 1, 0.5));
    run.step();
    run.step();
    const Tensor good = run.particles();
    CHECK(run.steps_done() == 2);
    c.lr_d = 1e305;  // the discriminator overflows on its first step
    GanDynamics blowup(t, c, coupling_kernel(6, 1, 0.5));
    const Tensor start = blowup.particles(), theta = blowup.discriminator().theta();
    CHECK_THROWS_WITH(blowup.step(), doctest::Contains("step 1"));
    CHECK(blowup.particles().data == start.data);
    CHECK(blowup.discriminator().theta().data == theta.data);
    CHECK(blowup.steps_done() == 0);
    CHECK_THROWS_AS(GanDynamics(t, c, coupling_kernel(5, 1, 0.5)), std::invalid_argument);
}

// ---- awd gan as a user runs it ----

namespace {

struct Outcome {
    int status;
    std::string output;
};

Outcome run_awd(const std::string& args) {
    FILE* pipe = popen(("build/awd " + args + " 2>&1").c_str(), "r");
    std::string text;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe)) text += buffer;
    const int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

std::string scratch(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("awd-gan-" + std::to_string(getpid()) + "-" + name)).string();
}

}  // namespace

TEST_CASE(
    "awd gan: a short ring8 run writes summary.json, trajectory.csv, particles.npy and figures; g2 = g1 keeps the "
    "cloud rigid") {
    const std::string out = scratch("run");
    Outcome o = run_awd(
        "gan --target ring8 --particles 16 --g1 1 --g2 1 --lr-g 0.01 --lr-d 0.01 --steps 40 --snapshots 2 --hidden 16 "
        "--out " +
        out);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    const nlohmann::json s = nlohmann::json::parse(read_file(out + "/summary.json"));
    CHECK(s["steps_done"] == 40);
    CHECK(s["g2_over_g1"] == 1.0);
    for (const char* key : {"collapse_score", "mean_min_distance", "spread", "energy_distance", "lr_g", "lr_d",
                            "d_steps", "penalty", "objective", "seed"})
        CHECK_MESSAGE(s.contains(key), key);
    const Tensor start = read_npy_matrix(out + "/particles_start.npy"), end = read_npy_matrix(out + "/particles.npy");
    REQUIRE(end.rows == 16);
    REQUIRE(end.cols == 2);
    // g2 = g1: every particle moved by the same vector, which is not zero
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 2; ++j)
            CHECK(end(i, j) - start(i, j) == doctest::Approx(end(0, j) - start(0, j)).epsilon(1e-9));
    CHECK(std::fabs(end(0, 0) - start(0, 0)) + std::fabs(end(0, 1) - start(0, 1)) > 1e-4);
    CHECK(read_file(out + "/trajectory.csv").rfind("step,collapse_score,mean_min_distance,spread,energy_distance", 0) ==
          0);
    CHECK(read_file(out + "/trajectory.csv").find(",centroid_norm,shape_change,end_state\n") != std::string::npos);
    CHECK(s["end_state"] == "never separated");  // g2 = g1: the cloud moved rigidly
    CHECK(s["spread"].get<double>() == doctest::Approx(s["start_spread"].get<double>()));
    if (s["snapshots"].size() > 0) CHECK(read_file(out + "/particles_step40.png").rfind("\x89PNG", 0) == 0);
    std::filesystem::remove_all(out);
}

TEST_CASE("awd gan: the defaults show the transition on ring8: g2/g1 = 0.98 collapses, g2 = 0 spreads") {
    const std::string out = scratch("defaults");
    auto score = [&](const std::string& g2) {
        const Outcome o = run_awd("gan --target ring8 --snapshots 0 --overwrite --g2 " + g2 + " --out " + out);
        REQUIRE_MESSAGE(o.status == 0, o.output);
        return nlohmann::json::parse(read_file(out + "/summary.json"))["collapse_score"].get<double>();
    };
    CHECK(score("0.98") > 1.5);
    CHECK(score("0") < 0.5);
    std::filesystem::remove_all(out);
}

TEST_CASE("awd gan: --preset authors sets the authors' mnist100 setup, explicit flags override it") {
    const std::string out = scratch("preset");
    Outcome o = run_awd(
        "gan --preset authors --steps 1 --d-steps-first 2 --d-steps 1 --hidden 16,32,8 --g2 0.5 --snapshots 0 --out " +
        out);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    const nlohmann::json s = nlohmann::json::parse(read_file(out + "/summary.json"));
    CHECK(s["target"] == "mnist100");
    CHECK(s["particles"] == 100);
    CHECK(s["lr_g"] == 1e-4);
    CHECK(s["init_std"] == 0.5);
    CHECK(s["objective"] == "wasserstein");
    CHECK(s["penalty"] == 1.25);
    CHECK(s["penalty_on"] == "particles");
    CHECK(s["penalty_scale"] == "batch-mean");
    CHECK(s["dropout"] == 0.2);
    CHECK(s["dropout_after"] == 2);
    CHECK(s["output_bias"] == false);
    CHECK(s["optimizer_d"] == "adam");
    CHECK(s["amsgrad"] == true);
    CHECK(s["fresh_optimizer_d"] == true);
    CHECK(s["weight_decay"] == 1e-4);
    CHECK(s["assignment_distance"] == "cosine");
    // given explicitly: kept
    CHECK(s["d_steps_first"] == 2);
    CHECK(s["d_steps"] == 1);
    CHECK(s["discriminator"] == nlohmann::json({16, 32, 8}));
    CHECK(s["g2"] == 0.5);
    CHECK(run_awd("gan --preset friends --steps 1 --out " + out).status == 2);
    std::filesystem::remove_all(out);
    // --assign cosine on a point set
    write_npy(out + "-points.npy", Tensor(2, 2, {1, 0, 0, 1}));
    o = run_awd("gan --target points:" + out +
                "-points.npy --assign cosine --steps 1 --particles 4 --hidden 4 --snapshots 0 --out " + out);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    CHECK(nlohmann::json::parse(read_file(out + "/summary.json"))["assignment_distance"] == "cosine");
    CHECK(run_awd("gan --assign manhattan --steps 1 --out " + out).status == 2);
    std::filesystem::remove_all(out);
    std::filesystem::remove(out + "-points.npy");
}

TEST_CASE(
    "awd gan: bad flags exit 2 naming the flag; a non-finite run stops naming the step and keeps its last good state") {
    const std::string out = scratch("bad");
    const std::string base = "gan --steps 5 --particles 4 --hidden 4 --overwrite --out " + out + " ";
    const std::pair<std::string, std::string> cases[] = {
        {"--lr-g -1", "--lr-g"},
        {"--lr-d -0.1", "--lr-d"},
        {"--lr-d nan", "--lr-d"},
        {"--particles -3", "--particles"},
        {"--g1 1 --g2 1.5", "--g2"},
        {"--target ring9", "--target"},
        {"--objective hinge", "--objective"},
    };
    for (const auto& [flags, name] : cases) {
        const Outcome o = run_awd(base + flags);
        CAPTURE(flags);
        CHECK(o.status == 2);
        CHECK(o.output.find(name) != std::string::npos);
    }
    CHECK(run_awd(base + "--g1 1 --g2 1.5 --allow-g2-above-g1 --snapshots 0").status == 0);
    write_npy(out + "-kernel.npy", Tensor(3, 3, 0.5));
    Outcome o = run_awd(base + "--kernel " + out + "-kernel.npy");
    CHECK(o.status == 2);
    CHECK(o.output.find("--kernel") != std::string::npos);
    write_npy(out + "-kernel.npy", Tensor(4, 4, 0.25));
    CHECK(run_awd(base + "--kernel " + out + "-kernel.npy --snapshots 0").status == 0);

    o = run_awd(base + "--lr-d 1e305 --snapshots 0");
    CHECK(o.status == 1);
    CHECK(o.output.find("step 1 produced a non-finite value") != std::string::npos);
    const nlohmann::json s = nlohmann::json::parse(read_file(out + "/summary.json"));
    CHECK(s["status"] == "stopped");
    CHECK(s["steps_done"] == 0);
    CHECK(read_npy_matrix(out + "/particles.npy").data == read_npy_matrix(out + "/particles_start.npy").data);
    std::filesystem::remove_all(out);
    std::filesystem::remove(out + "-kernel.npy");
}
