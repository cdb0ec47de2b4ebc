// two_valley.h: the two-valley model of Yang, Zhang, Ouyang, Tang & Tu (arXiv 2601.10962,
// experiments/sgd/README.md), run as many independent SGD-like runs at once, and the Kramers
// prediction of where they end.
// Is not: the degenerate valley (valley.h).
//
// L(x, y) = x (x - g1(y)) / f1(y) + L0(y)  for x >= 0  (the flat valley, x1 > x2)
//         = x (x + g2(y)) / f2(y) + L0(y)  for x < 0   (the sharp valley)
// g_k = 2 x_k y / (y + y_b),  f_k = f0 (x_k / x0)^2 ((y + y_f) / (y + y_b))^2,
// L0 = L_d exp(-y / y_d) + x0^2 / f0.  d2L/dx2 = 2 / f_k: f_k is the flatness.
// Update (one step, every run): theta <- theta - eta (grad L + xi), xi ~ N(0, 2 sigma H+)
// (H+ the exact Hessian with negative eigenvalues clipped), or N(0, 2 sigma H^2), or no noise:
// plain SGD (the project's Optimizer's arithmetic) with xi added to the gradient, every run with
// its own stream of normal pairs (nn/normal_streams.h). The per-run gradient and Hessian come from
// the closed forms (two_valley_derivatives) or from the autodiff (the runs of a block as one
// landscape model, landscape.h), as TwoValleyConfig::derivatives says.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/names.h"
#include "experiments/sgd/landscape.h"

namespace awd {

struct TwoValleyParams {
    double x1 = 0.8, x2 = 0.65, x0 = 1, f0 = 1, y_b = 30, y_f = 20, y_d = 100, L_d = 1;
    double flatness(int valley, double y) const;  // f_1 (valley 1, x > 0) or f_2 (valley 2, x < 0)
    double barrier(double y) const;               // L(0, y) - L(bottom, y), the same for both valleys
    double bottom(int valley, double y) const;    // x at the bottom: +x1 y/(y+y_b) or -x2 y/(y+y_b)
    double bottom_slope(double y) const;          // d/dy of the loss along the valley bottom (both valleys)
};

// theta (R, 2) = rows (x, y) -> (R, 1) per-run losses, as a graph.
Var two_valley_loss(const Var& theta, const TwoValleyParams& p);
// The same loss in closed form with its gradient and (with_hessian) Hessian, for the runs r in
// [begin, end) at (x[r], y[r]), into out's entries r. Tested against the autodiff of two_valley_loss.
void two_valley_derivatives(const TwoValleyParams& p, const double* x, const double* y, int begin, int end,
                            bool with_hessian, RunDerivatives2& out);

enum class NoiseShape { ClippedHessian, HessianSquared, None };
inline constexpr Named<NoiseShape> kNoiseShapeNames[] = {{NoiseShape::ClippedHessian, "hessian"},
                                                         {NoiseShape::HessianSquared, "hessian-squared"},
                                                         {NoiseShape::None, "none"}};
static_assert(in_enum_order(kNoiseShapeNames));
inline NoiseShape parse_noise_shape(const std::string& name) {
    return parse_name(name, kNoiseShapeNames, "noise shape");
}
inline const char* noise_shape_name(NoiseShape value) { return name_of(kNoiseShapeNames, value); }

struct TwoValleyConfig {
    TwoValleyParams params;
    std::vector<double> etas{0.01}, sigmas{0.1};  // every (eta, sigma) pair is a cell
    double y0 = 5, x_start = 0.01;  // runs start at (+x_start, y0) (even rows) and (-x_start, y0) (odd rows)
    int runs = 2000;                // per cell
    long steps = 20000;
    int trace_every = 100;
    uint64_t seed = 1;
    NoiseShape noise = NoiseShape::ClippedHessian;
    int threads = 1;  // cells and blocks of runs in parallel; each run has its own stream: results do not depend on it
    long only_cell = -1;  // >= 0: run only this cell (etas-major index), with the stream it has in the whole grid
    DerivativeSource derivatives = DerivativeSource::ClosedForm;
};

struct TwoValleyCell {
    double eta = 0, sigma = 0;
    double P_flat = 0, P_flat_stderr = 0, diverged_fraction = 0;
    double mean_freeze_time = 0, freeze_time_stderr = 0,
           mean_final_y = 0;  // freeze: last step whose update changed the sign of x
    long first_divergence_step = -1;
    std::vector<int> diverged_runs;  // run indices within the cell (first 20)
    // Kramers: the two-state master equation along the noiseless y(t), and its steady state at y0
    double kramers_P_flat = 0, kramers_P_flat_steady_y0 = 0;
    double barrier_over_T_flat = 0, barrier_over_T_sharp = 0;  // dL / T_k at y0
    std::vector<std::vector<double>> trace;  // rows: step, fraction at x > 0, mean y, Kramers P_flat(step)
};

// Runs every cell (or only_cell), each as one model of c.runs runs; runs that diverge (|x| > 1e3, y < -y_f / 2,
// |y| > 1e6) are counted and left out of the statistics.
std::vector<TwoValleyCell> run_two_valley(const TwoValleyConfig& config);

// The temperature of the x-motion in valley k: T = eta Var(xi_x) / 2 with Var(xi_x) = 2 sigma (2/f)
// (noise 2 sigma H+) or 2 sigma (2/f)^2 (noise 2 sigma H^2): 2 eta sigma / f or 4 eta sigma / f^2.
double valley_temperature(const TwoValleyParams& p, int valley, double y, double eta, double sigma, NoiseShape noise);
// Kramers escape rate per step out of valley k at height y (experiments/sgd/README.md):
// 1/tau = 1/((pi/2) f erfi(sqrt(dL / T))), time t = eta * step.
double kramers_rate_per_step(const TwoValleyParams& p, int valley, double y, double eta, double sigma,
                             NoiseShape noise);

}  // namespace awd
