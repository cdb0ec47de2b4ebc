// test_landscape.cpp: the toy landscapes of experiments/sgd/README.md (landscape.h,
// two_valley.h, valley.h) and `awd landscape` as a user runs it.
// References: high-precision values and the differential equation of Dawson's function,
// finite differences, LAPACK, closed forms of the two-valley model, and the exact stationary
// variance of a discrete Ornstein-Uhlenbeck process.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>

#include "analysis/rank_correlation.h"
#include "analysis/sgd_noise.h"
#include "analysis/spectrum.h"
#include "autodiff/finite_differences.h"
#include "autodiff/parallel.h"
#include "experiments/sgd/two_valley.h"
#include "experiments/sgd/valley.h"
#include "nn/files.h"
#include "nn/mlp.h"
#include "nn/per_sample.h"
#include "tests/sym2_reference.h"
#include "optim/optimizer.h"

using namespace awd;

TEST_CASE("Dawson's function: high-precision values, and D' = 1 - 2 z D") {
    // 80-digit sums of the Taylor series (Python decimal), rounded to double
    const std::vector<std::pair<double, double>> reference = {
        {0.5, 0.42443638350202229593}, {1, 0.53807950691276841914},   {2, 0.30134038892379196603},
        {3, 0.17827103061055828734},   {4.5, 0.11408861022682498016}, {6.9, 0.073250120258635387546},
        {7, 0.072180974658236292028},  {10, 0.050253847187598528033}};
    for (const auto& [z, d] : reference) {
        CHECK(dawson(z) == doctest::Approx(d).epsilon(1e-13));
        CHECK(dawson(-z) == -dawson(z));
    }
    for (double z : {0.3, 1.7, 1.999, 2.001, 5.3, 6.999, 7.001, 12.0}) {  // across every switch between methods
        const double h = 1e-5, derivative = (dawson(z + h) - dawson(z - h)) / (2 * h);
        CHECK(derivative == doctest::Approx(1 - 2 * z * dawson(z)).epsilon(1e-8));
    }
    // erfi' = 2 / sqrt(pi) exp(z^2)
    for (double z : {0.2, 1.0, 2.5}) {
        const double h = 1e-5;
        CHECK((erfi(z + h) - erfi(z - h)) / (2 * h) ==
              doctest::Approx(2 / std::sqrt(M_PI) * std::exp(z * z)).epsilon(1e-8));
    }
}

TEST_CASE(
    "Kramers rates: the overflow-free form equals eta / ((pi/2) f erfi(sqrt(dL/T))) with T from the noise shape") {
    const TwoValleyParams p;
    for (NoiseShape noise : {NoiseShape::ClippedHessian, NoiseShape::HessianSquared})
        for (int valley : {1, 2}) {
            const double y = 5, eta = 0.01, sigma = 0.05, f = p.flatness(valley, y);
            const double T = noise == NoiseShape::ClippedHessian
                ? 2 * eta * sigma / f
                : eta * 2 * sigma * (2 / f) * (2 / f) / 2;  // eta Var(xi_x) / 2
            const double direct = eta / (M_PI / 2 * f * erfi(std::sqrt(p.barrier(y) / T)));
            CHECK(kramers_rate_per_step(p, valley, y, eta, sigma, noise) == doctest::Approx(direct).epsilon(1e-12));
        }
    CHECK(kramers_rate_per_step(p, 1, 5, 0.01, 0.1, NoiseShape::None) == 0);
}

TEST_CASE(
    "H+ of a 2 x 2 symmetric matrix: PSD, equal to H where H is PSD, agrees with LAPACK; its square root squares to "
    "it") {
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(-2, 2);
    int indefinite = 0, definite = 0;
    for (int trial = 0; trial < 200; ++trial) {
        Sym2 H{u(rng), u(rng), u(rng)};
        if (trial % 2) H = {H.a * H.a + H.b * H.b, H.a * H.b + H.b * H.c, H.b * H.b + H.c * H.c};  // A A^T: PSD
        const Sym2 P = clip_negative(H);
        const Eigen2 e = eigen2(P);
        CHECK(e.l2 >= -1e-14);
        const EigenPairs lapack = symmetric_eigen(Tensor(2, 2, {H.a, H.b, H.b, H.c}), true);
        Tensor reference(2, 2);  // sum over positive eigenvalues of lambda v v^T
        for (int i = 0; i < 2; ++i)
            for (int r = 0; r < 2; ++r)
                for (int s = 0; s < 2; ++s)
                    reference(r, s) += std::max(lapack.values[i], 0.0) * lapack.vectors(i, r) * lapack.vectors(i, s);
        CHECK(std::abs(P.a - reference(0, 0)) < 1e-14);
        CHECK(std::abs(P.b - reference(0, 1)) < 1e-14);
        CHECK(std::abs(P.c - reference(1, 1)) < 1e-14);
        if (lapack.values[1] >= 0) {
            ++definite;
            CHECK(P.a == H.a);
            CHECK(P.b == H.b);
            CHECK(P.c == H.c);
        } else {
            ++indefinite;
        }
        const Sym2 S = sqrt_clipped(H);  // S S = H+
        CHECK(std::abs(S.a * S.a + S.b * S.b - P.a) < 1e-13);
        CHECK(std::abs(S.a * S.b + S.b * S.c - P.b) < 1e-13);
        CHECK(std::abs(S.b * S.b + S.c * S.c - P.c) < 1e-13);
    }
    CHECK(indefinite > 20);
    CHECK(definite > 100);
}

namespace {

// The per-run derivatives of a landscape model placed at the given (R, 2) points.
struct AtPoints {
    Tensor loss, gradient, hessian;  // (R, 1), (R, 2), (R, 4)
};
AtPoints derivatives_at(const RunsLoss& loss, const Tensor& points, const Tensor& data, bool with_hessian) {
    Model m = landscape_model("Test", points.rows, 2, loss);
    for (size_t k = 0; k < m.size(); ++k) m.theta()[k] = points[k];  // row-major (R, 2) is the flat layout
    const RunDerivatives d = run_derivatives(m, data.size() ? constant(data) : Var(), with_hessian);
    Tensor g(points.rows, 2);
    for (size_t k = 0; k < m.size(); ++k) g[k] = m.gradient()[k];
    return {d.loss, g, d.hessian};
}
AtPoints two_valley_at(const TwoValleyParams& p, const Tensor& points, bool with_hessian) {
    return derivatives_at([&](const Var& th, const Var&) { return two_valley_loss(th, p); }, points, Tensor(),
                          with_hessian);
}

}  // namespace

TEST_CASE("two-valley: batched per-run gradients and Hessians match single-run derivatives and the closed forms") {
    const TwoValleyParams p;
    const Tensor theta(4, 2, {0.3, 5.0, -0.2, 1.5, 0.05, 40.0, -0.7, 0.3});
    const AtPoints d = two_valley_at(p, theta, true);
    for (int r = 0; r < 4; ++r) {
        const ScalarFunction single = [&](const Var& t) { return sum(two_valley_loss(reshape(t, 1, 2), p)); };
        const Tensor t(2, 1, {theta(r, 0), theta(r, 1)});
        const Tensor g = central_difference_gradient(single, t), H = hessian(single, t),
                     Hfd = central_difference_hessian(single, t);
        for (int i = 0; i < 2; ++i) {
            CHECK(d.gradient(r, i) == doctest::Approx(g[i]).epsilon(1e-8));
            for (int j = 0; j < 2; ++j) {
                CHECK(std::abs(d.hessian(r, 2 * i + j) - H(i, j)) < 1e-13 * (1 + std::abs(H(i, j))));
                CHECK(d.hessian(r, 2 * i + j) == doctest::Approx(Hfd(i, j)).epsilon(1e-6));
            }
        }
        const int valley = theta(r, 0) >= 0 ? 1 : 2;
        CHECK(d.hessian(r, 0) == doctest::Approx(2 / p.flatness(valley, theta(r, 1))).epsilon(1e-13));  // d2L/dx2 = 2/f
    }
}

TEST_CASE("two-valley: barrier, valley bottom and the slope along it (hand-written) against the autodiff loss") {
    const TwoValleyParams p;
    for (double y : {0.5, 5.0, 30.0}) {
        for (int valley : {1, 2}) {
            const double xb = p.bottom(valley, y);
            const Tensor at(2, 1, {xb, y}), top(1, 2, {0.0, y});
            const AtPoints d = two_valley_at(p, Tensor(1, 2, {xb, y}), false);
            CHECK(std::abs(d.gradient(0, 0)) < 1e-14);  // the bottom is stationary in x
            CHECK(d.gradient(0, 1) == doctest::Approx(p.bottom_slope(y)).epsilon(1e-12));  // envelope theorem
            const AtPoints t = two_valley_at(p, top, false);
            CHECK(t.loss(0, 0) - d.loss(0, 0) == doctest::Approx(p.barrier(y)).epsilon(1e-12));
        }
    }
}

TEST_CASE(
    "two-valley runs: no noise keeps every run in its starting valley; with noise, same seed gives the same result") {
    TwoValleyConfig c;
    c.runs = 100, c.steps = 300, c.noise = NoiseShape::None;
    const std::vector<TwoValleyCell> quiet = run_two_valley(c);
    CHECK(quiet[0].P_flat == 0.5);
    CHECK(quiet[0].mean_freeze_time == 0);
    c.noise = NoiseShape::ClippedHessian, c.sigmas = {0.1, 0.3};
    const std::vector<TwoValleyCell> a = run_two_valley(c);
    c.threads = 2;  // cells on two threads: each cell has its own stream, so nothing changes
    const std::vector<TwoValleyCell> b = run_two_valley(c);
    for (int k : {0, 1}) {
        CHECK(a[k].P_flat == b[k].P_flat);
        CHECK(a[k].mean_freeze_time == b[k].mean_freeze_time);
        CHECK(a[k].trace == b[k].trace);
    }
    CHECK(a[1].mean_freeze_time > 0);
}

TEST_CASE("parallel_for: every job runs once on any thread count; a job's exception reaches the caller") {
    for (int threads : {1, 2, 5}) {
        std::vector<int> runs(37, 0);
        parallel_for(runs.size(), threads, [&](size_t i) { runs[i] += 1; });
        CHECK(std::count(runs.begin(), runs.end(), 1) == 37);
        CHECK_THROWS_WITH(parallel_for(10, threads,
                                       [](size_t i) {
                                           if (i == 3) throw std::runtime_error("job 3 failed");
                                       }),
                          "job 3 failed");
    }
}

TEST_CASE(
    "a landscape model: one step of the project's SGD moves every run by -eta times its own gradient; bad data names "
    "the module") {
    const TwoValleyParams p;
    const Tensor start(3, 2, {0.3, 5.0, -0.2, 1.5, 0.05, 40.0});
    const AtPoints d = two_valley_at(p, start, false);
    Model m = landscape_model("TwoValley", 3, 2, [&](const Var& th, const Var&) { return two_valley_loss(th, p); });
    CHECK(m.parameters().size() == 1);
    CHECK(m.parameters()[0].name == "runs");
    for (size_t k = 0; k < 6; ++k) m.theta()[k] = start[k];
    Optimizer sgd(OptimizerConfig{}, m);
    m.backward(sum(m.forward(Var())));
    sgd.step(0.1);
    for (size_t k = 0; k < 6; ++k) CHECK(m.theta()[k] == start[k] - 0.1 * d.gradient[k]);
    // the exact Hessian of the whole model is block diagonal: runs do not mix
    const Tensor H = hessian([&](const Var& t) { return sum(m.forward_at(t, Var())); }, m.theta());
    const AtPoints moved =
        two_valley_at(p, Tensor(3, 2, std::vector<double>(m.theta().data.begin(), m.theta().data.end())), true);
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j)
            CHECK(std::abs(H(i, j) - (i / 2 == j / 2 ? moved.hessian(i / 2, 2 * (i % 2) + j % 2) : 0.0)) <
                  1e-13 * (1 + std::abs(H(i, j))));
    Model v =
        landscape_model("Valley", 3, 2, [](const Var& th, const Var& t) { return valley_batch_loss(th, t, 1.0, 1.0); });
    try {
        v.forward(constant(Tensor(2, 5)));
        FAIL("per-run data with the wrong number of rows was accepted");
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find("Valley(3 runs x 2)") != std::string::npos);
        CHECK(std::string(e.what()).find("(2 x 5)") != std::string::npos);
    }
}

TEST_CASE(
    "Langevin on a quadratic: the stationary variance of y is the exact discrete-time value 2 eta D / (1 - (1 - eta "
    "lambda)^2)") {
    ValleyConfig c;  // ell huge: lambda(x) = lambda0 everywhere, y is an Ornstein-Uhlenbeck process
    c.ell = 1e12, c.lambda0 = 1, c.etas = {0.5}, c.deltas = {0.01}, c.kappa = 1, c.runs = 4000, c.steps = 200,
    c.trace_every = 200;
    const std::vector<ValleyCell> cells = run_valley(c);
    const double exact =
        2 * 0.5 * 0.01 / (1 - 0.25);  // 0.01333; the continuous-time value Delta / lambda = 0.01 is 33% lower
    const double measured = cells[0].trace.back()[3];         // mean y^2 over the runs at the last step
    CHECK(measured == doctest::Approx(exact).epsilon(0.07));  // 3 standard errors (sqrt(2 / 4000) = 2.2%)
}

TEST_CASE("valley with a fixed time: each eta runs round(time / eta) steps, so every cell covers the same t") {
    ValleyConfig c;
    c.drive = ValleyDrive::Minibatch, c.etas = {0.1, 0.25, 3.0}, c.time = 1, c.runs = 10, c.trace_every = 1;
    const std::vector<ValleyCell> cells = run_valley(c);
    REQUIRE(cells.size() == 3);
    const long expected[] = {10, 4, 1};  // 1 / 3 rounds to 0: at least one step
    for (int k = 0; k < 3; ++k) {
        CHECK(cells[k].steps == expected[k]);
        CHECK(cells[k].trace.back()[0] == (double)expected[k]);
    }
}

TEST_CASE("valley: per-sample gradients sum to the batch gradient, and match the closed form") {
    ValleyConfig c;
    c.samples = 30;
    const std::vector<double> y = valley_samples(c);
    const double x = 0.3, yy = 0.2, lambda0 = 1.7, ell = 0.8;
    const Tensor g = valley_per_sample_gradients(y, x, yy, lambda0, ell);
    const AtPoints batch =
        derivatives_at([&](const Var& th, const Var& t) { return valley_batch_loss(th, t, lambda0, ell); },
                       Tensor(1, 2, {x, yy}), Tensor(1, 30, y), false);
    double sx = 0, sy = 0;
    const double lambda = lambda0 * std::exp(x / ell);
    for (int m = 0; m < 30; ++m) {
        sx += g(m, 0) / 30, sy += g(m, 1) / 30;
        CHECK(g(m, 0) == doctest::Approx(0.5 * lambda / ell * (yy - y[m]) * (yy - y[m])).epsilon(1e-13));
        CHECK(g(m, 1) == doctest::Approx(lambda * (yy - y[m])).epsilon(1e-13));
    }
    CHECK(sx == doctest::Approx(batch.gradient(0, 0)).epsilon(1e-13));
    CHECK(sy == doctest::Approx(batch.gradient(0, 1)).epsilon(1e-13));
}

namespace {

struct Outcome {
    int status;
    std::string output;
};

Outcome run_landscape(const std::string& args) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("build/awd landscape " + args + " 2>&1").c_str(), "r"), pclose);
    std::string text;
    std::array<char, 4096> buffer;
    while (std::fgets(buffer.data(), buffer.size(), pipe.get())) text += buffer.data();
    const int status = pclose(pipe.release());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

std::string temp_dir(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("awd-landscape-" + std::to_string(getpid()) + "-" + name))
        .string();
}

}  // namespace

TEST_CASE("awd landscape: fixed seed, same bytes; the files") {
    for (const char* model : {"--model two-valley --sigma 0.1,0.2", "--model valley --drive minibatch --batch 5"}) {
        const std::string a = temp_dir("a"), b = temp_dir("b"),
                          common = std::string(model) + " --runs 50 --steps 200 --seed 7 --trace-every 50 --out ";
        REQUIRE(run_landscape(common + a).status == 0);
        REQUIRE(run_landscape(common + b).status == 0);
        CHECK(read_file(a + "/trace.csv") == read_file(b + "/trace.csv"));
        nlohmann::json sa = nlohmann::json::parse(read_file(a + "/summary.json")),
                       sb = nlohmann::json::parse(read_file(b + "/summary.json"));
        sa.erase("seconds"), sb.erase("seconds"), sa.erase("provenance"),
            sb.erase("provenance");  // provenance: --out differs
        CHECK(sa.dump() == sb.dump());
        CHECK(read_file(a + "/trace.png").rfind("\x89PNG", 0) == 0);
        std::filesystem::remove_all(a), std::filesystem::remove_all(b);
    }
}

TEST_CASE("awd landscape: bad flags exit 2 naming the flag; a diverging run says when and which runs") {
    const std::string out = " --out " + temp_dir("bad");
    const std::vector<std::pair<std::string, std::string>> bad = {{"--model ravine", "--model"},
                                                                  {"--model two-valley --sigma -1", "--sigma"},
                                                                  {"--model two-valley --eta 0", "--eta"},
                                                                  {"--model two-valley --eta nan", "--eta"},
                                                                  {"--model two-valley --eta inf", "--eta"},
                                                                  {"--model valley --delta inf", "--delta"},
                                                                  {"--model valley --kappa 0.5", "--kappa"}};
    for (const auto& [args, flag] : bad) {
        const Outcome o = run_landscape(args + out);
        CHECK_MESSAGE(o.status == 2, args);
        CHECK_MESSAGE(o.output.find(flag) != std::string::npos, o.output);
    }
    const std::string dir = temp_dir("diverge");
    const Outcome o = run_landscape("--model two-valley --eta 2 --sigma 0 --runs 10 --steps 20 --out " + dir);
    CHECK(o.status == 0);
    CHECK(o.output.find("runs diverged from step") != std::string::npos);
    CHECK(o.output.find("(runs 0,1,2,3,4,5,6,7,8,9)") != std::string::npos);
    const nlohmann::json s = nlohmann::json::parse(read_file(dir + "/summary.json"));
    CHECK(s["diverged_fraction"].get<double>() == 1.0);
    std::filesystem::remove_all(dir);
}

TEST_CASE(
    "per-sample gradients of an MLP: their mean is the batch gradient; the noise covariance from the Gram matrix "
    "equals the dense one") {
    Mlp net(MlpSpec::parse("6-5-4-3", Activation::Relu, true));
    Rng rng(5);
    initialize(net.model, Init::He, 1.0, rng);
    const int N = 20;
    Tensor X(N, 6);
    for (double& v : X.data) v = rng.normal();
    std::vector<int> y(N);
    for (int& label : y) label = (int)rng.index(3);
    const Tensor G = per_sample_gradients(net.model, loss_function(Loss::CrossEntropy), X, y);
    const int P = (int)net.spec.n_params();
    REQUIRE(G.rows == N);
    REQUIRE(G.cols == P);
    const Var theta = variable(net.theta());  // an owned copy of the flat parameters
    auto loss_at = [&](const Tensor& inputs, const std::vector<int>& labels) {
        return loss_graph(Loss::CrossEntropy, net.model.forward_at(theta, constant(inputs)), labels);
    };
    const Tensor batch = grad(loss_at(X, y), {theta})[0].value();
    for (int p = 0; p < P; ++p) {
        double mean = 0;
        for (int n = 0; n < N; ++n) mean += G(n, p) / N;
        CHECK(std::abs(mean - batch[p]) < 1e-14 * (1 + std::abs(batch[p])));
    }
    // sample 3 alone: the batch gradient of a one-sample batch
    const Tensor one =
        grad(loss_at(Tensor(1, 6, std::vector<double>(&X(3, 0), &X(3, 0) + 6)), {y[3]}), {theta})[0].value();
    for (int p = 0; p < P; ++p) CHECK(std::abs(G(3, p) - one[p]) < 1e-14 * (1 + std::abs(one[p])));
    // dense C = (1/N) sum (g - gbar)(g - gbar)^T
    Tensor C(P, P);
    std::vector<double> gbar(P, 0.0);
    for (int n = 0; n < N; ++n)
        for (int p = 0; p < P; ++p) gbar[p] += G(n, p) / N;
    for (int n = 0; n < N; ++n)
        for (int p = 0; p < P; ++p)
            for (int q = 0; q < P; ++q) C(p, q) += (G(n, p) - gbar[p]) * (G(n, q) - gbar[q]) / N;
    const EigenPairs dense = symmetric_eigen(C, true);
    const NoiseCovariance nc = noise_covariance(G, 5);
    for (int i = 0; i < 5; ++i) {
        CHECK(nc.eigenvalues[i] == doctest::Approx(dense.values[i]).epsilon(1e-10));
        double overlap = 0;
        for (int p = 0; p < P; ++p) overlap += nc.eigenvectors(i, p) * dense.vectors(i, p);
        CHECK(std::abs(overlap) == doctest::Approx(1.0).epsilon(1e-8));
    }
    for (int p = 0; p < P; ++p) CHECK(nc.diagonal[p] == doctest::Approx(C(p, p)).epsilon(1e-12));
}

TEST_CASE("Spearman correlation and the power-law fit on known cases") {
    CHECK(spearman({1, 2, 3, 4}, {10, 20, 30, 40}) == doctest::Approx(1.0));
    CHECK(spearman({1, 2, 3, 4}, {4, 3, 2, 1}) == doctest::Approx(-1.0));
    CHECK(spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}) == doctest::Approx(0.8));  // 1 - 6 * 4 / (5 * 24)
    // ties share the average rank: ranks of {5, 1, 5, 3} are {2.5, 0, 2.5, 1}
    CHECK(ranks({5, 1, 5, 3}) == std::vector<double>{2.5, 0, 2.5, 1});
    // ranks {0, 1, 2.5, 2.5} against {0, 1, 2, 3}: centred, sum of products 4.5 over sqrt(4.5 * 5)
    CHECK(spearman({1, 2, 7, 7}, {1, 2, 3, 4}) == doctest::Approx(4.5 / std::sqrt(4.5 * 5.0)));
    // a side without spread has no trend: 0, not the NaN of 0/0
    CHECK(spearman({2, 2, 2}, {1, 2, 3}) == 0.0);
    CHECK(spearman({1, 2, 3}, {4, 4, 4}) == 0.0);
    CHECK(spearman({1}, {1}) == 0.0);
    CHECK_THROWS_AS(spearman({1, 2}, {1, 2, 3}), std::invalid_argument);
    std::vector<double> h, c;
    for (int i = 1; i <= 20; ++i) h.push_back(0.1 * i), c.push_back(3.0 * std::pow(0.1 * i, 1.7));
    const PowerLawFit fit = fit_power_law(h, c);
    CHECK(fit.exponent == doctest::Approx(1.7).epsilon(1e-12));
    CHECK(fit.prefactor == doctest::Approx(3.0).epsilon(1e-12));
    CHECK(fit.exponent_stderr < 1e-10);
}
