// landscape.h: what the toy-landscape experiments (experiments/sgd/README.md) share: a landscape as a
// model of many independent runs, their per-run derivatives, the clipped Hessian of a 2 x 2
// symmetric matrix, and the Dawson function (for the Kramers escape rate, which needs erfi).
// Is not: a network: the landscapes are closed-form losses of a few parameters per run.
//
// R runs of a D-parameter landscape are one Model whose one parameter "runs" (R, D) holds run r
// in row r, so theta is the (R D, 1) flat buffer and the project's Optimizer steps every run at
// once. forward(x) is the (R, 1) column of per-run losses, row r depending only on row r of the
// parameters (and of x, per-run data such as the valley's sampled targets). Then the gradient of
// sum_r L_r holds every run's own gradient, and the gradient of sum_r dL_r/dtheta_rj is every
// run's Hessian column j: the exact per-run Hessians cost D more backward passes, however many
// runs there are.
//
// The simulations also have closed-form per-run derivatives (two_valley.h, valley.h): plain loops
// over structure-of-arrays x[], y[] that the compiler vectorises, tested against run_derivatives.
// DerivativeSource picks one of the two for a simulation; both step the same runs with the same noise.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "autodiff/autodiff.h"
#include "autodiff/names.h"
#include "autodiff/plan.h"
#include "nn/model.h"
#include "nn/normal_streams.h"

namespace awd {

// The loss of R runs at once: theta (R, D), per-run data x (R, K) or empty -> (R, 1).
using RunsLoss = std::function<Var(const Var& theta, const Var& x)>;

class LandscapeRuns : public Module {
public:
    LandscapeRuns(std::string name, int runs, int dims, RunsLoss loss);
    Var forward(const Var& x, const ForwardContext& ctx) const override;
    std::string describe() const override;
    void declare(ParameterDeclarations& d, const std::string& prefix) override;
    std::string name;
    int runs, dims;
    RunsLoss loss;
    int runs_id = -1;
};
Model landscape_model(const std::string& name, int runs, int dims, RunsLoss loss);

// At the model's theta, with per-run data x: model.gradient() = every run's gradient (run r's
// d/dtheta_j at r D + j, as theta), and the returned per-run losses (R, 1) and, when asked,
// Hessians (R, D D: row r is run r's Hessian, row-major).
struct RunDerivatives {
    Tensor loss;
    Tensor hessian;
};
RunDerivatives run_derivatives(Model& model, const Var& x, bool with_hessian);

// run_derivatives recorded at the first call and replayed at the next (autodiff/plan.h): the same
// bytes, with no graph built and nothing allocated per step. x: per-run data or null; a new
// shape of x records again.
class RunDerivativesPlan {
public:
    RunDerivativesPlan(Model& model, bool with_hessian) : model_(model), with_hessian_(with_hessian) {}
    const RunDerivatives& operator()(const Tensor* x);

private:
    Model& model_;
    bool with_hessian_;
    std::unique_ptr<Captured> step_;
    RunDerivatives out_;
};

// The per-run derivatives of a landscape of two parameters (x, y) per run, as structure of arrays:
// run r's loss, gradient (gx, gy) and Hessian [[hxx, hxy], [hxy, hyy]] at index r.
struct RunDerivatives2 {
    std::vector<double> loss, gx, gy, hxx, hxy, hyy;
    explicit RunDerivatives2(size_t runs = 0) : loss(runs), gx(runs), gy(runs), hxx(runs), hxy(runs), hyy(runs) {}
};

// The runs of a simulation cell with two parameters each, as structure of arrays (run r at index r):
// blocks of runs step their own ranges. mark: a step per run (the two-valley's last sign change of
// x, the valley's first arrival at the flat end).
struct RunArrays {
    std::vector<double> x, y, z1, z2, parked;  // z1, z2: the step's normal pair; parked: 1 for a run that escaped
    std::vector<long> mark;
    RunDerivatives2 derivatives;
    NormalPairStreams normals;  // one stream per run
    RunArrays(int runs, double x0, double y0, long mark0, uint64_t seed)
        : x(runs, x0),
          y(runs, y0),
          z1(runs),
          z2(runs),
          parked(runs, 0.0),
          mark(runs, mark0),
          derivatives(runs),
          normals(seed, runs) {}
};

// The per-run derivatives of runs [begin, end) through the autodiff: the block as one landscape
// model (its loss with per-run data, or none), its theta filled from x[], y[] and its gradient and
// (with_hessian) Hessians copied into out's entries r.
class AutodiffRuns {
public:
    AutodiffRuns(const std::string& name, RunsLoss loss, int begin, int end, bool with_hessian, Tensor data = Tensor());
    void operator()(const double* x, const double* y, RunDerivatives2& out);

private:
    int begin_, end_;
    bool with_hessian_;
    Tensor data_;
    Model model_;
    RunDerivativesPlan plan_;
};

// A symmetric 2 x 2 matrix [[a, b], [b, c]].
struct Sym2 {
    double a = 0, b = 0, c = 0;
};

// (H+)^(1/2) without trigonometry, branch-free so that a loop over runs vectorises. With the
// eigenvalues l1 >= l2 of H and r_k = sqrt(l_k):
//   l2 >= 0:      sqrt(H) = (H + r1 r2 I) / (r1 + r2)   (for PSD M, sqrt(M) = (M + s I) / sqrt(tr M + 2 s) with
//                 s = sqrt(det M) = r1 r2 and tr M + 2 s = (r1 + r2)^2)
//   l2 < 0 < l1:  H+ = l1 P with the projector P = (H - l2 I) / (l1 - l2), so (H+)^(1/2) = r1 P
//   l1 <= 0:      0
// Both forms give H / r1 at l2 = 0, so nothing jumps between them.
inline Sym2 sqrt_clipped_closed_form(const Sym2& H) {
    const double mid = 0.5 * (H.a + H.c), d = 0.5 * (H.a - H.c);
    const double half_gap = std::sqrt(d * d + H.b * H.b);
    const double l1 = mid + half_gap, l2 = mid - half_gap;
    const double r1 = std::sqrt(l1 > 0 ? l1 : 0.0), r2 = std::sqrt(l2 > 0 ? l2 : 0.0);
    const bool psd = l2 >= 0;
    const double shift = psd ? r1 * r2 : -l2;
    const double k = l1 <= 0 ? 0.0 : psd ? 1 / (r1 + r2) : r1 / (l1 - l2);
    return {k * (H.a + shift), k * H.b, k * (H.c + shift)};
}

// exp(t) in plain double arithmetic without branches, so that a loop over runs vectorises (libm's exp
// is a call, which stops it): t = k ln 2 + r with k = round(t / ln 2) (by the 1.5 2^52 shift) and
// |r| <= ln(2) / 2 (Cody-Waite: ln 2 in two parts, k ln2_hi exact), exp(r) by its Taylor polynomial
// to degree 13 (remainder below 2^-57 relative), times 2^k built in the exponent bits. The polynomial is
// evaluated by Estrin's scheme in fused multiply-adds (std::fma: one rounding each): pairs c_n + c_n+1 r,
// joined by r^2, then r^4, then r^8, a dependency chain of 4 operations where Horner's has 13 (a loop over
// runs waits on it). Within 2 ulps of libm's exp over [-708, 709] (tests/test_landscape_closed_form.cpp);
// below -708 it gives 0 (the true value is a subnormal under 3e-308), above 709 inf, NaN for NaN.
inline double exp_vectorisable(double t) {
    constexpr auto c = [] {  // c[n] = 1 / n!, rounded once (n! is exact in double)
        std::array<double, 14> inverse_factorials{};
        double factorial = 1;
        for (int n = 0; n < 14; ++n) inverse_factorials[n] = 1.0 / (factorial *= n > 0 ? n : 1);
        return inverse_factorials;
    }();
    const double shift = 0x1.8p52, ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
    const double clamped = t < -708.0 ? -708.0 : t > 709.0 ? 709.0 : t;
    const double shifted = clamped * 0x1.71547652b82fep0 + shift, k = shifted - shift;  // k = round(t / ln 2)
    const double r = std::fma(-k, ln2_lo, clamped - k * ln2_hi);
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const auto pair = [&](int n) { return std::fma(c[n + 1], r, c[n]); };                             // c_n + c_n+1 r
    const double low = std::fma(std::fma(pair(6), r2, pair(4)), r4, std::fma(pair(2), r2, pair(0)));  // to r^7
    const double high = std::fma(pair(12), r4, std::fma(pair(10), r2, pair(8)));                      // r^8 on
    const double p = std::fma(high, r8, low);
    const int64_t ki = std::bit_cast<int64_t>(shifted) - std::bit_cast<int64_t>(shift);  // k as an integer
    const double value = p * std::bit_cast<double>((uint64_t)(ki + 1023) << 52);
    return t < -708.0 ? 0.0 : t > 709.0 ? INFINITY : t != t ? t : value;
}

// Where a simulation's per-run derivatives come from: the closed forms or the autodiff (RunDerivativesPlan).
enum class DerivativeSource { ClosedForm, Autodiff };
inline constexpr Named<DerivativeSource> kDerivativeSourceNames[] = {{DerivativeSource::ClosedForm, "closed-form"},
                                                                     {DerivativeSource::Autodiff, "autodiff"}};
static_assert(in_enum_order(kDerivativeSourceNames));
inline DerivativeSource parse_derivative_source(const std::string& name) {
    return parse_name(name, kDerivativeSourceNames, "derivative source");
}
inline const char* derivative_source_name(DerivativeSource value) { return name_of(kDerivativeSourceNames, value); }

// The runs of a simulation cell are stepped in blocks of kRunsPerBlock consecutive runs, each block
// through every step on its own (runs never mix; each run has its own noise stream), and their
// statistics summed block by block in block order: the results depend on the block size, never on
// the thread count. job(cell, begin, end) runs for every block [begin, end) of every cell.
inline constexpr int kRunsPerBlock = 256;
void for_each_run_block(size_t cells, int runs, int threads, const std::function<void(size_t, int, int)>& job);

// Dawson's function D(z) = exp(-z^2) int_0^z exp(t^2) dt, to ~1e-13 relative for z >= 0.
// erfi(z) = 2/sqrt(pi) exp(z^2) D(z); the escape rates use D directly so nothing overflows.
double dawson(double z);
double erfi(double z);  // overflows to inf beyond z ~ 26.6, like exp(z^2)

}  // namespace awd
