// test_landscape_closed_form.cpp: the closed-form fast paths of the toy landscapes (two_valley.h,
// valley.h, landscape.h) against the autodiff and the eigen-decomposition they replace.
// References: the autodiff's per-run derivatives (run_derivatives), sqrt_clipped through eigen2,
// and the squares of the square roots; the simulations with --derivatives autodiff.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "experiments/sgd/two_valley.h"
#include "experiments/sgd/valley.h"
#include "nn/files.h"
#include "tests/run_command.h"
#include "tests/sym2_reference.h"

using namespace awd;

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// The autodiff's per-run loss, gradient and Hessian of a landscape at the points (x[r], y[r]).
RunDerivatives2 autodiff_at(const RunsLoss& loss, const std::vector<double>& x, const std::vector<double>& y,
                            const Tensor& data, bool with_hessian) {
    const int R = (int)x.size();
    Model m = landscape_model("Test", R, 2, loss);
    for (int r = 0; r < R; ++r) m.theta()[2 * r] = x[r], m.theta()[2 * r + 1] = y[r];
    const RunDerivatives d = run_derivatives(m, data.size() ? constant(data) : Var(), with_hessian);
    RunDerivatives2 out(R);
    for (int r = 0; r < R; ++r) {
        out.loss[r] = d.loss[r], out.gx[r] = m.gradient()[2 * r], out.gy[r] = m.gradient()[2 * r + 1];
        if (with_hessian) out.hxx[r] = d.hessian(r, 0), out.hxy[r] = d.hessian(r, 1), out.hyy[r] = d.hessian(r, 3);
    }
    return out;
}

// |a - b| in units of the rounding of the scale the entry is computed at (its terms are of that size)
double ulps(double a, double b, double scale) { return std::abs(a - b) / (kEps * scale); }

}  // namespace

TEST_CASE("two-valley closed form: loss, gradient and Hessian equal the autodiff's at random points of both valleys") {
    const TwoValleyParams p;
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> ux(-2, 2), uy(-5, 200);
    std::vector<double> x, y;
    for (int r = 0; r < 4000; ++r)
        x.push_back(r % 50 == 0 ? 0.0 : ux(rng) * (r % 3 == 0 ? 1e-3 : 1)), y.push_back(uy(rng));
    RunDerivatives2 fast(x.size());
    two_valley_derivatives(p, x.data(), y.data(), 0, (int)x.size(), true, fast);
    const RunDerivatives2 exact =
        autodiff_at([&](const Var& th, const Var&) { return two_valley_loss(th, p); }, x, y, Tensor(), true);
    double worst = 0;
    int zeros = 0, left = 0;
    for (size_t r = 0; r < x.size(); ++r) {
        zeros += x[r] == 0, left += x[r] < 0;
        // the scale each entry is computed at: dL/dx = (2 / f) (x - x_bottom) cancels near the bottom, so
        // its scale is (2 / f) (|x| + |x_bottom|); the others', their largest value over the row's
        // entries of the same order (gradient, Hessian)
        const int valley = x[r] >= 0 ? 1 : 2;
        const double xscale = 2 / p.flatness(valley, y[r]) * (std::abs(x[r]) + std::abs(p.bottom(valley, y[r])));
        const double gscale = std::max({std::abs(exact.gx[r]), std::abs(exact.gy[r]), p.L_d / p.y_d});
        const double hscale = std::max({std::abs(exact.hxx[r]), std::abs(exact.hxy[r]), std::abs(exact.hyy[r])});
        const double errors[] = {ulps(fast.loss[r], exact.loss[r], std::abs(exact.loss[r])),
                                 ulps(fast.gx[r], exact.gx[r], xscale),
                                 ulps(fast.gy[r], exact.gy[r], gscale),
                                 ulps(fast.hxx[r], exact.hxx[r], hscale),
                                 ulps(fast.hxy[r], exact.hxy[r], hscale),
                                 ulps(fast.hyy[r], exact.hyy[r], hscale)};
        for (double e : errors) worst = std::max(worst, e);
    }
    CHECK(zeros > 50);
    CHECK(left > 1500);
    CHECK(worst <= 16);                       // 16 ulps of the entry's scale
    RunDerivatives2 gradient_only(x.size());  // without the Hessian: the same loss and gradient
    two_valley_derivatives(p, x.data(), y.data(), 0, (int)x.size(), false, gradient_only);
    CHECK(gradient_only.gx == fast.gx);
    CHECK(gradient_only.gy == fast.gy);
    CHECK(gradient_only.loss == fast.loss);
}

TEST_CASE("valley closed form: the Langevin loss and gradient equal the autodiff's (target 0)") {
    std::mt19937_64 rng(12);
    std::uniform_real_distribution<double> ux(-20, 20), uy(-3, 3);
    std::vector<double> x, y;
    for (int r = 0; r < 2000; ++r) x.push_back(ux(rng)), y.push_back(uy(rng));
    for (double ell : {1.0, 0.37}) {
        const double lambda0 = 1.7;
        RunDerivatives2 fast(x.size());
        valley_derivatives(lambda0, ell, x.data(), y.data(), 0, (int)x.size(), fast);
        const RunDerivatives2 exact =
            autodiff_at([&](const Var& th, const Var& t) { return valley_batch_loss(th, t, lambda0, ell); }, x, y,
                        Tensor((int)x.size(), 1, 0.0), false);
        double worst = 0;
        for (size_t r = 0; r < x.size(); ++r)
            worst = std::max({worst, ulps(fast.loss[r], exact.loss[r], std::abs(exact.loss[r])),
                              ulps(fast.gx[r], exact.gx[r], std::abs(exact.gx[r])),
                              ulps(fast.gy[r], exact.gy[r], std::abs(exact.gy[r]))});
        CHECK(worst <= 4);
    }
}

TEST_CASE("(H+)^(1/2) without trigonometry equals the eigen-decomposition's, and squares to H+") {
    std::mt19937_64 rng(13);
    std::uniform_real_distribution<double> u(-2, 2), angle(0, M_PI);
    int psd = 0, indefinite = 0, negative = 0, degenerate = 0;
    for (int trial = 0; trial < 20000; ++trial) {
        Sym2 H{u(rng), u(rng), u(rng)};
        if (trial % 4 == 1) {  // near-degenerate: l1 = l2 (1 + tiny), any sign, any orientation
            const double l = u(rng), phi = angle(rng), gap = l * std::pow(10.0, -1 - trial % 15);
            const double c = std::cos(phi), s = std::sin(phi), l2 = l + gap;
            H = {l * c * c + l2 * s * s, (l - l2) * c * s, l * s * s + l2 * c * c};
            ++degenerate;
        }
        if (trial % 4 == 2) H = {H.a * H.a + H.b * H.b, H.a * H.b + H.b * H.c, H.b * H.b + H.c * H.c};  // PSD
        const Sym2 S = sqrt_clipped_closed_form(H), reference = sqrt_clipped(H), P = clip_negative(H);
        const Eigen2 e = eigen2(H);
        psd += e.l2 >= 0, indefinite += e.l2 < 0 && e.l1 > 0, negative += e.l1 <= 0;
        // S S = H+ to rounding of H's size
        const double h = std::max({std::abs(e.l1), std::abs(e.l2), 1e-300});
        CHECK(std::abs(S.a * S.a + S.b * S.b - P.a) <= 8 * kEps * h);
        CHECK(std::abs(S.a * S.b + S.b * S.c - P.b) <= 8 * kEps * h);
        CHECK(std::abs(S.b * S.b + S.c * S.c - P.c) <= 8 * kEps * h);
        // against eigen2's: ~1e-14 relative where the square root is well conditioned (the smaller
        // kept eigenvalue not tiny against the larger); near l2 = 0 both are rounding of sqrt(l2 + O(eps h))
        const double r1 = std::sqrt(std::max(e.l1, 0.0)), r2 = std::sqrt(std::max(e.l2, 0.0));
        const double tolerance = r1 == 0 ? 0.0 : 1e-14 * r1 + (r2 > 1e-3 * r1 ? 0.0 : 4 * std::sqrt(kEps * h));
        CHECK(std::abs(S.a - reference.a) <= tolerance);
        CHECK(std::abs(S.b - reference.b) <= tolerance);
        CHECK(std::abs(S.c - reference.c) <= tolerance);
        CHECK(S.a >= 0);
        CHECK(S.c >= 0);
    }
    CHECK(psd > 5000);
    CHECK(indefinite > 3000);
    CHECK(negative > 1000);
    CHECK(degenerate == 5000);
    CHECK(sqrt_clipped_closed_form({0, 0, 0}).a == 0);   // H = 0: 0, not 0/0
    const Sym2 I = sqrt_clipped_closed_form({4, 0, 4});  // l1 = l2: 2 I
    CHECK(I.a == 2);
    CHECK(I.b == 0);
    CHECK(I.c == 2);
}

TEST_CASE("two-valley runs: the closed-form path and the autodiff path, with the same noise, make the same runs") {
    for (NoiseShape noise : {NoiseShape::ClippedHessian, NoiseShape::HessianSquared, NoiseShape::None}) {
        TwoValleyConfig c;
        c.runs = 64, c.steps = 200, c.trace_every = 1, c.etas = {0.05}, c.sigmas = {0.1, 0.5}, c.noise = noise,
        c.x_start = 0.05;
        const std::vector<TwoValleyCell> fast = run_two_valley(c);
        c.derivatives = DerivativeSource::Autodiff;
        const std::vector<TwoValleyCell> exact = run_two_valley(c);
        for (size_t k = 0; k < fast.size(); ++k) {
            REQUIRE(fast[k].trace.size() == 201);
            for (size_t i = 0; i < fast[k].trace.size(); ++i) {
                CHECK(fast[k].trace[i][1] == exact[k].trace[i][1]);  // the same runs in the flat valley, every step
                CHECK(std::abs(fast[k].trace[i][2] - exact[k].trace[i][2]) <= 1e-12 * std::abs(exact[k].trace[i][2]));
            }
            CHECK(fast[k].mean_freeze_time == exact[k].mean_freeze_time);
        }
        if (noise != NoiseShape::None) CHECK(fast[1].mean_freeze_time > 0);  // the runs did cross
    }
}

TEST_CASE("two-valley: P_flat of the two paths agree within their standard errors on a small grid") {
    TwoValleyConfig c;
    c.runs = 600, c.steps = 1500, c.trace_every = 1500, c.etas = {0.05, 0.1}, c.sigmas = {0.05, 0.1}, c.seed = 3;
    const std::vector<TwoValleyCell> fast = run_two_valley(c);
    c.derivatives = DerivativeSource::Autodiff;
    c.seed = 4;  // other noise: the statistics, not the runs, must agree
    const std::vector<TwoValleyCell> exact = run_two_valley(c);
    for (size_t k = 0; k < fast.size(); ++k) {
        const double z = (fast[k].P_flat - exact[k].P_flat) /
            std::sqrt(fast[k].P_flat_stderr * fast[k].P_flat_stderr + exact[k].P_flat_stderr * exact[k].P_flat_stderr);
        CHECK(std::abs(z) < 4);
    }
}

TEST_CASE("landscape runs: the results do not depend on the thread count, also for a single cell split in blocks") {
    TwoValleyConfig c;
    c.runs = 3 * kRunsPerBlock + 17, c.steps = 150, c.trace_every = 10, c.sigmas = {0.3};
    c.threads = 1;
    const std::vector<TwoValleyCell> one = run_two_valley(c);
    for (int threads : {2, 3}) {
        c.threads = threads;
        const std::vector<TwoValleyCell> more = run_two_valley(c);
        CHECK(more[0].trace == one[0].trace);
        CHECK(more[0].P_flat == one[0].P_flat);
        CHECK(more[0].mean_freeze_time == one[0].mean_freeze_time);
        CHECK(more[0].freeze_time_stderr == one[0].freeze_time_stderr);
    }
    ValleyConfig v;
    v.runs = 2 * kRunsPerBlock + 5, v.steps = 300, v.trace_every = 50, v.deltas = {1e-2}, v.wall = 1, v.etas = {0.05};
    v.threads = 1;
    const std::vector<ValleyCell> first = run_valley(v);
    v.threads = 2;
    const std::vector<ValleyCell> second = run_valley(v);
    CHECK(first[0].trace == second[0].trace);
    CHECK(first[0].histogram == second[0].histogram);
    CHECK(first[0].drift_velocity == second[0].drift_velocity);
}

TEST_CASE("valley runs: the closed-form path and the autodiff path, with the same noise, make the same runs") {
    for (ValleyDrive drive : {ValleyDrive::Langevin, ValleyDrive::Isotropic}) {
        ValleyConfig c;
        c.drive = drive, c.runs = 64, c.steps = 200, c.trace_every = 1, c.deltas = {1e-2, 0.1}, c.etas = {0.05};
        const std::vector<ValleyCell> fast = run_valley(c);
        c.derivatives = DerivativeSource::Autodiff;
        const std::vector<ValleyCell> exact = run_valley(c);
        for (size_t k = 0; k < fast.size(); ++k)
            for (size_t i = 0; i < fast[k].trace.size(); ++i) {
                CHECK(std::abs(fast[k].trace[i][1] - exact[k].trace[i][1]) <= 1e-12);  // mean x, |x| ~ 0.1
                CHECK(std::abs(fast[k].trace[i][3] - exact[k].trace[i][3]) <= 1e-12 * exact[k].trace[i][3]);
            }
        CHECK(std::abs(fast[1].trace.back()[1]) > 1e-3);  // the runs moved
    }
}

TEST_CASE("exp without libm: within 2 ulps of libm's exp over [-708, 709]; 0 below, inf above, NaN for NaN") {
    std::mt19937_64 rng(14);
    std::uniform_real_distribution<double> wide(-708, 709), narrow(-1, 1);
    double worst = 0;
    for (int k = 0; k < 400000; ++k) {
        const double t = k % 2 ? wide(rng) : narrow(rng), reference = std::exp(t);
        worst = std::max(worst,
                         std::abs(exp_vectorisable(t) - reference) / (std::nextafter(reference, INFINITY) - reference));
    }
    CHECK(worst <= 2);
    for (double t : {0.0, 1.0, -1.0, std::log(2.0), -708.0, 709.0, 1e-300, -0.5 * std::log(2.0)})
        CHECK(std::abs(exp_vectorisable(t) - std::exp(t)) <= 2 * (std::nextafter(std::exp(t), INFINITY) - std::exp(t)));
    CHECK(exp_vectorisable(-708.5) == 0);
    CHECK(exp_vectorisable(-1e300) == 0);
    CHECK(exp_vectorisable(709.9) == INFINITY);
    CHECK(std::isnan(exp_vectorisable(NAN)));
}

TEST_CASE(
    "awd landscape --derivatives: both sources run, are recorded, and agree; a bad source exits 2 naming the flag") {
    const std::string dir =
        (std::filesystem::temp_directory_path() / ("awd-derivatives-" + std::to_string(getpid()))).string();
    double P_flat[2];
    int k = 0;
    for (const char* source : {"closed-form", "autodiff"}) {
        const Outcome o = run_command(
            "build/awd landscape --model two-valley --sigma 0.3 --runs 40 --steps 300 "
            "--derivatives " +
            std::string(source) + " --out " + dir + "/" + source);
        REQUIRE_MESSAGE(o.status == 0, o.output);
        const nlohmann::json s = nlohmann::json::parse(read_file(dir + "/" + source + "/summary.json"));
        CHECK(s["derivatives"] == source);
        P_flat[k++] = s["P_flat"].get<double>();
    }
    CHECK(P_flat[0] == P_flat[1]);  // the same noise and runs equal to 1e-12: the same runs end in the flat valley
    const Outcome bad = run_command("build/awd landscape --model valley --derivatives symbolic --out " + dir + "/bad");
    CHECK(bad.status == 2);
    CHECK(bad.output.find("--derivatives") != std::string::npos);
    std::filesystem::remove_all(dir);
}
