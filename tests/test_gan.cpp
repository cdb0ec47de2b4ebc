// test_gan.cpp: the effective GAN model (analysis/gan.h): the kernel step in its limits and
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
    Model D = make_discriminator(d, {6, 5}, a, rng);
    for (double& v : D.theta().data) v *= 2;  // sizeable second derivatives
    return D;
}

}  // namespace

TEST_CASE("kernel step: g2 = 0 moves each particle by its own gradient, g2 = g1 moves all rigidly, and equals the loop over j") {
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
    CHECK(collapse_score({0, 0, 1, 1}, 2) == doctest::Approx(0.0).epsilon(1e-15));        // two per target: still 0
    CHECK(collapse_score({0, 0, 0, 1}, 2) == doctest::Approx(std::log(2.0) + 0.75 * std::log(0.75) + 0.25 * std::log(0.25)));
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

TEST_CASE("targets: the mixtures, mnist100 (10 per class, normalised), unknown names refused") {
    CHECK(make_target("ring8").size() == 8);
    CHECK(make_target("grid25").size() == 25);
    CHECK(make_target("gauss1d").dim() == 1);
    const GanTarget m = make_target("mnist100");
    CHECK(m.size() == 100);
    CHECK(m.dim() == 784);
    CHECK(m.cosine);
    double lo = 1e300, hi = -1e300;
    for (double v : m.points.data) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo == doctest::Approx(-0.1307 / 0.3081));
    CHECK(hi == doctest::Approx((1 - 0.1307) / 0.3081));
    CHECK(make_target("mnist100").points.data == m.points.data);  // a fixed draw
    CHECK_THROWS_WITH_AS(make_target("ring9"), doctest::Contains("--target"), std::invalid_argument);
    Rng rng(3);
    Tensor samples;
    CHECK(&sample_target(m, 5, rng, samples) == &m.points);  // a point set is its own data, not copied
    CHECK(sample_target(make_target("ring8"), 5, rng, samples).rows == 5);
    CHECK(samples.rows == 5);
}

TEST_CASE("discriminator: the penalty's gradient (double backward) and the whole critic loss match finite differences") {
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
                const Tensor fd = finite_difference_in_theta(D, [&] { return critic_loss(D, X, Q, o, 1.25, on).loss.value().item(); });
                CHECK(relative_difference(g, fd) < 1e-7);
            }
    }
}

TEST_CASE("discriminator: the penalty on both sets is the mean over their union, and grad_q matches finite differences") {
    Model D = random_discriminator(2, Activation::Tanh, 4);
    Rng rng(6);
    const Tensor X = normal_tensor(5, 2, rng), Q = normal_tensor(3, 2, rng);
    const double px = gradient_penalty(D, X).value().item(), pq = gradient_penalty(D, Q).value().item();
    CHECK(critic_loss(D, X, Q, GanObjective::Gan, 1.0, PenaltyOn::Both).penalty == doctest::Approx((5 * px + 3 * pq) / 8));
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

TEST_CASE("awd gan: a short ring8 run writes summary.json, trajectory.csv, particles.npy and figures; g2 = g1 keeps the cloud rigid") {
    const std::string out = scratch("run");
    Outcome o = run_awd("gan --target ring8 --particles 16 --g1 1 --g2 1 --lr-g 0.01 --lr-d 0.01 --steps 40 --snapshots 2 --hidden 16 --out " + out);
    REQUIRE_MESSAGE(o.status == 0, o.output);
    const nlohmann::json s = nlohmann::json::parse(read_file(out + "/summary.json"));
    CHECK(s["steps_done"] == 40);
    CHECK(s["g2_over_g1"] == 1.0);
    for (const char* key : {"collapse_score", "mean_min_distance", "spread", "energy_distance", "lr_g", "lr_d", "d_steps", "penalty", "objective", "seed"})
        CHECK_MESSAGE(s.contains(key), key);
    const Tensor start = read_npy_matrix(out + "/particles_start.npy"), end = read_npy_matrix(out + "/particles.npy");
    REQUIRE(end.rows == 16);
    REQUIRE(end.cols == 2);
    // g2 = g1: every particle moved by the same vector, which is not zero
    for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 2; ++j) CHECK(end(i, j) - start(i, j) == doctest::Approx(end(0, j) - start(0, j)).epsilon(1e-9));
    CHECK(std::fabs(end(0, 0) - start(0, 0)) + std::fabs(end(0, 1) - start(0, 1)) > 1e-4);
    CHECK(read_file(out + "/trajectory.csv").rfind("step,collapse_score,mean_min_distance,spread,energy_distance", 0) == 0);
    if (s["snapshots"].size() > 0) CHECK(read_file(out + "/particles_step40.png").rfind("\x89PNG", 0) == 0);
    std::filesystem::remove_all(out);
}

TEST_CASE("awd gan: bad flags exit 2 naming the flag; a non-finite run stops naming the step and keeps its last good state") {
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
