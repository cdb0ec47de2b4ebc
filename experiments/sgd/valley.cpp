// valley.cpp: the degenerate valley under Langevin noise (closed-form or autodiff gradients) and under
// minibatch SGD (the autodiff).
#include "experiments/sgd/valley.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "autodiff/parallel.h"
#include "nn/normal_pair.h"
#include "nn/normal_streams.h"
#include "nn/random.h"
#include "optim/optimizer.h"

namespace awd {

std::vector<double> valley_samples(const ValleyConfig& c) {
    Rng rng(stream_seed(c.seed, 14));
    std::vector<double> y(c.samples);
    for (double& v : y) v = c.sample_std * rng.normal();
    return y;
}

Var valley_batch_loss(const Var& theta, const Var& targets, double lambda0, double ell) {
    const int R = theta.rows();
    const Var x = slice(theta, 0, 0, R, 1), y = slice(theta, 0, 1, R, 1);
    return 0.5 * lambda0 * exp(x / ell) * mean(square(y - targets), 1);
}

Tensor valley_per_sample_gradients(const std::vector<double>& samples, double x, double y, double lambda0, double ell) {
    const int M = (int)samples.size();
    Tensor copies(M, 2), targets(M, 1, samples);
    for (int m = 0; m < M; ++m) copies(m, 0) = x, copies(m, 1) = y;
    const Var theta = variable(copies);
    // row m of the loss depends only on row m of theta, so the gradient's row m is grad l_m
    return grad(sum(valley_batch_loss(theta, constant(targets), lambda0, ell)), {theta})[0].value();
}

namespace {

// One run's loss and gradient in closed form: L = lambda0 exp(x / ell) y^2 / 2, dL/dx = L / ell, dL/dy = lambda y.
inline void valley_closed_form_run(double lambda0, double ell, double x, double y, double& loss, double& gx,
                                   double& gy) {
    const double lambda = lambda0 * exp_vectorisable(x / ell);
    loss = 0.5 * lambda * (y * y);
    gx = loss / ell;
    gy = lambda * y;
}

void valley_closed_form(double lambda0, double ell, const double* __restrict x, const double* __restrict y, int begin,
                        int end, double* __restrict loss, double* __restrict gx, double* __restrict gy) {
    for (int r = begin; r < end; ++r) valley_closed_form_run(lambda0, ell, x[r], y[r], loss[r], gx[r], gy[r]);
}

}  // namespace

void valley_derivatives(double lambda0, double ell, const double* x, const double* y, int begin, int end,
                        RunDerivatives2& out) {
    valley_closed_form(lambda0, ell, x, y, begin, end, out.loss.data(), out.gx.data(), out.gy.data());
}

namespace {

struct Moments {
    double n = 0, sum = 0, sq = 0;
    void add(double v) { n += 1, sum += v, sq += v * v; }
    double mean() const { return n > 0 ? sum / n : 0; }
    double stderr_of_mean() const { return n > 1 ? std::sqrt(std::max(sq / n - mean() * mean(), 0.0) / (n - 1)) : 0; }
    void add(const Moments& o) { n += o.n, sum += o.sum, sq += o.sq; }
};

}  // namespace

namespace {

// What runs [begin, end) of a cell add to its statistics, per trace row and at the end; the
// runs' positions are x[r], y[r] and parked[r] != 0 marks a run that escaped.
struct ValleyTally {
    std::vector<Moments> x, dy2;  // per trace row: x, and (y - y_start)^2
    std::vector<double> gd_x;     // per trace row, minibatch: full-batch GD's x
    Moments dx, hit;  // at the end: x - x0, and eta * (first step at x <= x0 - ell) of the runs that got there
    std::vector<double> histogram;
    std::vector<std::pair<long, int>> diverged;  // (step, run) of the first 20 escapes
    void add_row(const double* xs, const double* ys, const double* parked, int begin, int end, double y_start,
                 double gd) {
        Moments mx, my;
        for (int r = begin; r < end; ++r)
            if (parked[r] == 0) mx.add(xs[r]), my.add((ys[r] - y_start) * (ys[r] - y_start));
        x.push_back(mx), dy2.push_back(my), gd_x.push_back(gd);
    }
    void add(const ValleyTally& o) {
        for (size_t k = 0; k < x.size(); ++k) x[k].add(o.x[k]), dy2[k].add(o.dy2[k]);
        dx.add(o.dx), hit.add(o.hit);
        for (size_t b = 0; b < histogram.size(); ++b) histogram[b] += o.histogram[b];
        diverged.insert(diverged.end(), o.diverged.begin(), o.diverged.end());
    }
};

bool trace_step(long step, long steps, const ValleyConfig& c) { return step % c.trace_every == 0 || step == steps; }

// A run is still in the valley while |y - y_start| <= 1e6 and |x - x0| <= 60 ell: comparisons that
// NaN fails, joined by & so that a loop over runs vectorises; a run outside has escaped.
inline bool in_valley(const ValleyConfig& c, double y_start, double x, double y) {
    return (std::abs(y - y_start) <= 1e6) & (std::abs(x - c.x0) <= 60 * c.ell);
}

// Without walls, one run's first arrival at x0 - ell (if it did not escape); returns 1 if it escaped.
inline int arrival(const ValleyConfig& c, double y_start, long step, double x, double y, double parked, long& reached) {
    const bool alive = parked == 0, inside = in_valley(c, y_start, x, y);
    reached = alive & inside & (reached < 0) & (x <= c.x0 - c.ell) ? step : reached;
    return alive & !inside;
}

// Without walls, the first arrivals at x0 - ell of the runs that did not escape, in one pass the
// compiler vectorises; returns the number that escaped.
int arrivals(const ValleyConfig& c, double y_start, long step, int begin, int end, const double* __restrict x,
             const double* __restrict y, const double* __restrict parked, long* __restrict reached) {
    int escapes = 0;
    for (int r = begin; r < end; ++r) escapes += arrival(c, y_start, step, x[r], y[r], parked[r], reached[r]);
    return escapes;
}

// The part of after_step that goes run by run: reflecting walls, escapes (counted, parked at the
// start), the first arrival at x0 - ell, and (with walls, second half, every 10th step) the histogram of x.
void walls_and_escapes(const ValleyConfig& c, double y_start, long step, long steps, int begin, int end, double* x,
                       double* y, double* parked, std::vector<long>& reached, ValleyTally& tally) {
    const int bins = 40;
    const double lo = c.x0 - c.wall, hi = c.x0 + c.wall;
    for (int r = begin; r < end; ++r) {
        if (parked[r] != 0) continue;
        if (c.wall > 0 && std::isfinite(x[r]) &&
            (x[r] < lo || x[r] > hi)) {  // reflecting walls: fold x back, however far it jumped
            const double width = hi - lo, u = std::fmod(x[r] - lo, 2 * width) + (x[r] < lo ? 2 * width : 0.0);
            x[r] = lo + (u > width ? 2 * width - u : u);
        }
        if (!in_valley(c, y_start, x[r], y[r])) {
            parked[r] = 1;
            x[r] = c.x0, y[r] = y_start;
            if (tally.diverged.size() < 20) tally.diverged.push_back({step, r});
            continue;
        }
        if (reached[r] < 0 && x[r] <= c.x0 - c.ell) reached[r] = step;
        if (c.wall > 0 && step > steps / 2 && step % 10 == 0)
            tally.histogram[std::min(bins - 1, std::max(0, (int)((x[r] - lo) / (hi - lo) * bins)))] += 1;
    }
}

// After a step of runs [begin, end): without walls, the arrivals in one vectorised pass, and the
// pass run by run only when a run escaped; with walls, the pass run by run.
void after_step(const ValleyConfig& c, double y_start, long step, long steps, int begin, int end, double* x, double* y,
                double* parked, std::vector<long>& reached, ValleyTally& tally) {
    if (c.wall == 0 && arrivals(c, y_start, step, begin, end, x, y, parked, reached.data()) == 0) return;
    walls_and_escapes(c, y_start, step, steps, begin, end, x, y, parked, reached, tally);
}

// The end of runs [begin, end): displacement and arrival times of the runs still alive.
void tally_end(const ValleyConfig& c, double eta, int begin, int end, const double* x, const double* parked,
               const std::vector<long>& reached, ValleyTally& tally) {
    for (int r = begin; r < end; ++r) {
        if (parked[r] != 0) continue;
        tally.dx.add(x[r] - c.x0);
        if (reached[r] >= 0) tally.hit.add(eta * reached[r]);
    }
}

// theta <- theta - eta (grad L + xi) with xi = (sd_along z1, sd_across z2): the noise enters as a
// gradient term xi = sqrt(2 D / eta) z, so that eta xi has the prescribed variance 2 eta D per step.
inline void langevin_update(double eta, double sd_along, double sd_across, double gx, double gy, double z1, double z2,
                            double parked, double& x, double& y) {
    const double step_x = parked != 0 ? 0.0 : gx + sd_along * z1, step_y = parked != 0 ? 0.0 : gy + sd_across * z2;
    x -= eta * step_x, y -= eta * step_y;
}

void langevin_step(double eta, double sd_along, double sd_across, int begin, int end, const double* __restrict gx,
                   const double* __restrict gy, const double* __restrict z1, const double* __restrict z2,
                   const double* __restrict parked, double* __restrict x, double* __restrict y) {
    for (int r = begin; r < end; ++r)
        langevin_update(eta, sd_along, sd_across, gx[r], gy[r], z1[r], z2[r], parked[r], x[r], y[r]);
}

// One step of runs [begin, end) with the closed-form gradient: the gradient, the normal pair and the update in one
// pass over the runs, every value in a register (the same operations per run as valley_closed_form,
// NormalPairStreams::next and langevin_step one after the other, so the same bytes). s0..s3: the runs' noise
// streams (NormalPairStreams::state()). The arrivals stay a pass of their own (after_step): joined to this loop
// (vectorised once the escape count is an integer mask) they were no faster (bench/README.md). Each run's values go
// through locals: with the arrays' entries passed by reference to the kernels, g++ 12 vectorises the loop only when
// it is not inlined.
void closed_form_langevin_step(const ValleyConfig& c, double eta, double sd_along, double sd_across, int begin, int end,
                               uint64_t* __restrict s0, uint64_t* __restrict s1, uint64_t* __restrict s2,
                               uint64_t* __restrict s3, const double* __restrict parked, double* __restrict x,
                               double* __restrict y) {
    const double lambda0 = c.lambda0, ell = c.ell;
#pragma GCC unroll 2  // two vectorised iterations in one body, for the scheduler to interleave (Makefile)
    for (int r = begin; r < end; ++r) {
        double loss, gx, gy, z1, z2, xr = x[r], yr = y[r];
        uint64_t a = s0[r], b = s1[r], c = s2[r], d = s3[r];
        valley_closed_form_run(lambda0, ell, xr, yr, loss, gx, gy);
        normal_pair(a, b, c, d, z1, z2);
        langevin_update(eta, sd_along, sd_across, gx, gy, z1, z2, parked[r], xr, yr);
        s0[r] = a, s1[r] = b, s2[r] = c, s3[r] = d, x[r] = xr, y[r] = yr;
    }
}

// Runs [begin, end) of a Langevin or isotropic cell through every step. A run that escapes is
// counted and parked at the start, where it stays.
void run_langevin_block(const ValleyConfig& c, const ValleyCell& cell, RunArrays& runs, int begin, int end,
                        ValleyTally& tally) {
    std::unique_ptr<AutodiffRuns> autodiff;
    if (c.derivatives == DerivativeSource::Autodiff)  // the Langevin loss: the per-sample loss with the target 0
        autodiff = std::make_unique<AutodiffRuns>(
            "Valley",
            [lambda0 = c.lambda0, ell = c.ell](const Var& theta, const Var& targets) {
                return valley_batch_loss(theta, targets, lambda0, ell);
            },
            begin, end, false, Tensor(end - begin, 1, 0.0));
    const double sd_along = std::sqrt(2 * cell.D_along / cell.eta), sd_across = std::sqrt(2 * cell.D_across / cell.eta);
    tally.histogram.assign(c.wall > 0 ? 40 : 0, 0.0);
    double *x = runs.x.data(), *y = runs.y.data(), *parked = runs.parked.data();
    tally.add_row(x, y, parked, begin, end, 0.0, 0.0);
    const std::array<uint64_t*, 4> streams = runs.normals.state();
    for (long step = 1; step <= cell.steps; ++step) {
        if (autodiff) {
            (*autodiff)(x, y, runs.derivatives);
            runs.normals.next(runs.z1.data(), runs.z2.data(), begin, end);
            langevin_step(cell.eta, sd_along, sd_across, begin, end, runs.derivatives.gx.data(),
                          runs.derivatives.gy.data(), runs.z1.data(), runs.z2.data(), parked, x, y);
        } else {
            closed_form_langevin_step(c, cell.eta, sd_along, sd_across, begin, end, streams[0], streams[1], streams[2],
                                      streams[3], parked, x, y);
        }
        after_step(c, 0.0, step, cell.steps, begin, end, x, y, parked, runs.mark, tally);
        if (trace_step(step, cell.steps, c)) tally.add_row(x, y, parked, begin, end, 0.0, 0.0);
    }
    tally_end(c, cell.eta, begin, end, x, parked, runs.mark, tally);
}

// One minibatch cell: c.runs runs as rows of one landscape model, stepped by the project's plain
// SGD on the gradient of each run's own batch of samples (drawn from the cell's Rng).
void run_minibatch_cell(const ValleyConfig& c, const std::vector<double>& samples, double y_start, size_t index,
                        const ValleyCell& cell, ValleyTally& tally) {
    const int R = c.runs, M = (int)samples.size();
    const RunsLoss loss = [&](const Var& theta, const Var& targets) {
        return valley_batch_loss(theta, targets, c.lambda0, c.ell);
    };
    Model model = landscape_model("Valley", R, 2, loss);
    Optimizer sgd(OptimizerConfig{}, model);
    // the full-batch GD trajectory at the same eta, for reference
    Model gd = landscape_model("Valley", 1, 2, loss);
    Optimizer gd_step(OptimizerConfig{}, gd);
    gd.theta()[0] = c.x0, gd.theta()[1] = y_start;
    const Tensor all_samples(1, M, samples);
    RunDerivativesPlan derivatives(model, false), gd_derivatives(gd, false);
    Tensor targets(R, c.batch, 0.0);
    std::vector<double> x(R, c.x0), y(R, y_start), parked(R, 0.0);
    std::vector<long> reached(R, -1);
    tally.histogram.assign(c.wall > 0 ? 40 : 0, 0.0);
    Rng rng(stream_seed(c.seed, 1000 + index));  // one stream per cell: cells may run on any thread
    double* theta = model.theta().data.data();   // run r: x at 2r, y at 2r + 1
    tally.add_row(x.data(), y.data(), parked.data(), 0, R, y_start, gd.theta()[0]);
    for (long step = 1; step <= cell.steps; ++step) {
        for (int r = 0; r < R; ++r) theta[2 * r] = x[r], theta[2 * r + 1] = y[r];
        for (double& t : targets.data) t = samples[rng.index(samples.size())];
        derivatives(&targets);
        double* g = model.gradient().data.data();
        for (int r = 0; r < R; ++r)
            if (parked[r] != 0) g[2 * r] = 0.0, g[2 * r + 1] = 0.0;
        sgd.step(cell.eta);
        for (int r = 0; r < R; ++r) x[r] = theta[2 * r], y[r] = theta[2 * r + 1];
        after_step(c, y_start, step, cell.steps, 0, R, x.data(), y.data(), parked.data(), reached, tally);
        gd_derivatives(&all_samples);
        gd_step.step(cell.eta);
        if (trace_step(step, cell.steps, c))
            tally.add_row(x.data(), y.data(), parked.data(), 0, R, y_start, gd.theta()[0]);
    }
    tally_end(c, cell.eta, 0, R, x.data(), parked.data(), reached, tally);
}

// The cell's statistics from its tally (the blocks' summed in block order).
void finish_cell(const ValleyConfig& c, ValleyTally& total, ValleyCell& cell) {
    const bool minibatch = c.drive == ValleyDrive::Minibatch;
    std::sort(total.diverged.begin(), total.diverged.end());  // by step, then by run: the order they escaped in
    if (!total.diverged.empty()) cell.first_divergence_step = total.diverged[0].first;
    for (size_t k = 0; k < total.diverged.size() && k < 20; ++k) cell.diverged_runs.push_back(total.diverged[k].second);
    size_t row = 0;
    for (long step = 0; step <= cell.steps; ++step) {
        if (step > 0 && !trace_step(step, cell.steps, c)) continue;
        cell.trace.push_back({(double)step, total.x[row].mean(), total.x[row].stderr_of_mean(), total.dy2[row].mean(),
                              minibatch ? total.gd_x[row] : 0.0});
        ++row;
    }
    const double time = cell.eta * cell.steps, alive = total.dx.n;
    cell.diverged_fraction = 1.0 - alive / c.runs;
    cell.raw_drift_velocity = total.dx.mean() / time;
    cell.gd_drift_velocity = minibatch ? (total.gd_x.back() - c.x0) / time : 0.0;
    cell.drift_velocity = cell.raw_drift_velocity - cell.gd_drift_velocity;
    cell.drift_velocity_stderr = total.dx.stderr_of_mean() / time;
    cell.reached_fraction = alive ? total.hit.n / alive : 0;
    cell.mean_time_to_flat = total.hit.mean(), cell.time_to_flat_stderr = total.hit.stderr_of_mean();
    if (c.wall > 0) {  // Fokker-Planck with y eliminated: p(x) ~ lambda(x)^(-kappa/2) = exp(-kappa x / (2 ell))
        const int bins = (int)total.histogram.size();
        const double lo = c.x0 - c.wall, hi = c.x0 + c.wall;
        cell.histogram = total.histogram;
        double counted = 0, norm = 0;
        for (double h : cell.histogram) counted += h;
        const double kappa = minibatch ? cell.kappa_measured : cell.D_across / cell.D_along, a = kappa / (2 * c.ell);
        cell.predicted_histogram.resize(bins);
        for (int b = 0; b < bins; ++b) {
            const double x_a = lo + (hi - lo) * b / bins - c.x0, x_b = lo + (hi - lo) * (b + 1) / bins - c.x0;
            cell.predicted_histogram[b] = (std::exp(-a * x_a) - std::exp(-a * x_b)) / a;
            norm += cell.predicted_histogram[b];
        }
        for (int b = 0; b < bins; ++b) {
            cell.predicted_histogram[b] /= norm;
            if (counted > 0) cell.histogram[b] /= counted;
            cell.tv_distance += 0.5 * std::abs(cell.histogram[b] - cell.predicted_histogram[b]);
        }
    }
}

}  // namespace

std::vector<ValleyCell> run_valley(const ValleyConfig& c) {
    const bool minibatch = c.drive == ValleyDrive::Minibatch;
    const std::vector<double> deltas = minibatch ? std::vector<double>{0.0} : c.deltas;
    if (c.etas.empty() || deltas.empty() || c.runs < 1 || (c.steps < 1 && c.time <= 0))
        throw std::invalid_argument("valley: need an eta, a Delta, a run and a step");
    const std::vector<double> samples = minibatch ? valley_samples(c) : std::vector<double>{};
    double y_start = 0;
    for (double v : samples) y_start += v / samples.size();  // minibatch: start on the floor of the full-batch loss
    std::vector<ValleyCell> cells(c.etas.size() * deltas.size());
    for (size_t k = 0; k < cells.size(); ++k) {
        ValleyCell& cell = cells[k];
        cell.eta = c.etas[k / deltas.size()], cell.delta = deltas[k % deltas.size()];
        cell.steps = c.time > 0 ? std::max(1L, std::lround(c.time / cell.eta)) : c.steps;
        if (c.drive == ValleyDrive::Langevin) cell.D_across = cell.delta, cell.D_along = cell.delta / c.kappa;
        if (c.drive == ValleyDrive::Isotropic) cell.D_across = cell.D_along = 0.5 * (cell.delta + cell.delta / c.kappa);
        const double lambda_start = c.lambda0 * std::exp(c.x0 / c.ell);
        cell.predicted_drift_velocity = -cell.D_across / (2 * c.ell * (1 - cell.eta * lambda_start / 2));
        if (minibatch) {  // the SGD noise at the start point, from the exact per-sample gradients
            const Tensor g = valley_per_sample_gradients(samples, c.x0, y_start, c.lambda0, c.ell);
            double mx = 0, my = 0;
            for (int m = 0; m < g.rows; ++m) mx += g(m, 0) / g.rows, my += g(m, 1) / g.rows;
            for (int m = 0; m < g.rows; ++m) {
                cell.C_xx += (g(m, 0) - mx) * (g(m, 0) - mx) / g.rows / c.batch;
                cell.C_xy += (g(m, 0) - mx) * (g(m, 1) - my) / g.rows / c.batch;
                cell.C_yy += (g(m, 1) - my) * (g(m, 1) - my) / g.rows / c.batch;
            }
            cell.kappa_measured = cell.C_yy / cell.C_xx;
            cell.D_across_measured = cell.eta * cell.C_yy / 2;
        }
    }
    if (minibatch) {
        parallel_for(cells.size(), c.threads, [&](size_t k) {
            ValleyTally tally;
            run_minibatch_cell(c, samples, y_start, k, cells[k], tally);
            finish_cell(c, tally, cells[k]);
        });
        return cells;
    }
    const int blocks = (c.runs + kRunsPerBlock - 1) / kRunsPerBlock;
    std::vector<std::unique_ptr<RunArrays>> runs(cells.size());
    std::vector<std::vector<ValleyTally>> tallies(cells.size(), std::vector<ValleyTally>(blocks));
    for (size_t k = 0; k < cells.size(); ++k)
        runs[k] = std::make_unique<RunArrays>(c.runs, c.x0, 0.0, -1, stream_seed(c.seed, 1000 + k));
    for_each_run_block(cells.size(), c.runs, c.threads, [&](size_t k, int begin, int end) {
        run_langevin_block(c, cells[k], *runs[k], begin, end, tallies[k][begin / kRunsPerBlock]);
    });
    for (size_t k = 0; k < cells.size(); ++k) {
        for (int b = 1; b < blocks; ++b) tallies[k][0].add(tallies[k][b]);
        finish_cell(c, tallies[k][0], cells[k]);
    }
    return cells;
}

}  // namespace awd
