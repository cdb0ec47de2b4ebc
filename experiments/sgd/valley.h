// valley.h: the degenerate valley (experiments/sgd/README.md), driven by Langevin noise or by true
// minibatch SGD, many runs at once: the runs of a cell are one landscape model (landscape.h,
// run r's parameters (x_r, y_r)) stepped by the project's SGD optimizer.
// Is not: the two-valley model (two_valley.h).
//
// Samples y_mu (mu = 1..M); per-sample loss l_mu = 1/2 lambda(x) (y - y_mu)^2 with
// lambda(x) = lambda0 exp(x / ell): x runs along the valley, small x is the flat end.
//  - langevin:  L = 1/2 lambda(x) y^2 (one exactly degenerate valley at y = 0); each step
//               theta <- theta - eta grad L + sqrt(2 eta D) z, D = diag(Delta / kappa, Delta)
//               (Delta across the valley, Delta / kappa along it);
//  - isotropic: the same with D = diag(d, d), d = (Delta + Delta / kappa) / 2, the same total variance;
//  - minibatch: theta <- theta - eta grad (1/B) sum_{b} l_{mu_b}, B samples drawn with replacement
//               per run and step; the noise is whatever the sampling makes. Its covariance is
//               measured exactly from per-sample gradients.
// Langevin and isotropic runs draw one normal pair per run and step from their own stream
// (nn/normal_streams.h) and take their gradient from the closed form (valley_derivatives) or from
// the autodiff, as ValleyConfig::derivatives says; minibatch runs draw their samples from one Rng
// per cell and differentiate through the autodiff.
// Time is t = eta * step throughout, so drift velocities of different eta compare.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/names.h"
#include "experiments/sgd/landscape.h"

namespace awd {

enum class ValleyDrive { Langevin, Isotropic, Minibatch };
inline constexpr Named<ValleyDrive> kValleyDriveNames[] = {
    {ValleyDrive::Langevin, "langevin"}, {ValleyDrive::Isotropic, "isotropic"}, {ValleyDrive::Minibatch, "minibatch"}};
static_assert(in_enum_order(kValleyDriveNames));
inline ValleyDrive parse_valley_drive(const std::string& name) {
    return parse_name(name, kValleyDriveNames, "valley drive");
}
inline const char* valley_drive_name(ValleyDrive value) { return name_of(kValleyDriveNames, value); }

struct ValleyConfig {
    ValleyDrive drive = ValleyDrive::Langevin;
    double lambda0 = 1, ell = 1, x0 = 0;
    double wall = 0;                 // reflecting walls at x0 +- wall (0: none)
    std::vector<double> etas{0.01};  // cells: every (eta, Delta) pair (minibatch: every eta)
    std::vector<double> deltas{1e-3};
    double kappa = 10;
    int samples = 100, batch = 10;  // minibatch
    double sample_std = 1;
    int runs = 1000;
    long steps = 10000;
    double time = 0;  // > 0: each cell runs round(time / eta) steps instead, so every eta covers the same t
    int trace_every = 100;
    uint64_t seed = 1;
    int threads =
        1;  // cells (minibatch) or blocks of runs in parallel, each with its own streams: results do not depend on it
    DerivativeSource derivatives = DerivativeSource::ClosedForm;  // langevin, isotropic (minibatch: the autodiff)
};

struct ValleyCell {
    double eta = 0, delta = 0;
    long steps = 0;
    double D_along = 0, D_across = 0;                      // Langevin: the prescribed diffusion constants
    double drift_velocity = 0, drift_velocity_stderr = 0;  // d<x>/dt (minibatch: relative to full-batch GD)
    double predicted_drift_velocity = 0;                   // Langevin: -D_across / (2 ell) (adiabatic elimination of y)
    double raw_drift_velocity = 0, gd_drift_velocity = 0;  // minibatch: SGD's own, and full-batch GD's
    double diverged_fraction = 0;
    long first_divergence_step = -1;
    std::vector<int> diverged_runs;
    double reached_fraction = 0, mean_time_to_flat = 0, time_to_flat_stderr = 0;  // first t with x <= x0 - ell
    // minibatch: SGD noise covariance C = Cov_mu(per-sample gradient) / B at the start point,
    // and as Langevin constants D = eta C / 2; kappa = C_yy / C_xx
    double C_xx = 0, C_xy = 0, C_yy = 0, kappa_measured = 0, D_across_measured = 0;
    // with walls: histogram of x (runs x time, second half) against the Fokker-Planck prediction
    std::vector<double> histogram, predicted_histogram;
    double tv_distance = 0;
    std::vector<std::vector<double>> trace;  // rows: step, mean x, stderr of mean x, mean y^2 (minibatch: mean x of GD)
};

std::vector<ValleyCell> run_valley(const ValleyConfig& config);

// The samples y_mu of the minibatch drive: M normals of standard deviation sample_std (seeded).
std::vector<double> valley_samples(const ValleyConfig& config);
// Per-sample loss graph: theta (R, 2), targets (R, K) constants -> (R, 1) = 1/2 lambda(x) mean_k (y - t_k)^2
Var valley_batch_loss(const Var& theta, const Var& targets, double lambda0, double ell);
// The Langevin loss L = 1/2 lambda(x) y^2 (valley_batch_loss with the target 0) and its gradient in
// closed form, for the runs r in [begin, end) at (x[r], y[r]), into out's loss, gx, gy.
void valley_derivatives(double lambda0, double ell, const double* x, const double* y, int begin, int end,
                        RunDerivatives2& out);
// The M per-sample gradients at one point (x, y), (M, 2), by one backward pass over M copies of theta.
Tensor valley_per_sample_gradients(const std::vector<double>& samples, double x, double y, double lambda0, double ell);

}  // namespace awd
