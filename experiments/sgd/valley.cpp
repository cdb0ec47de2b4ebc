// valley.cpp: the degenerate valley under Langevin noise and under minibatch SGD.
#include "experiments/sgd/valley.h"

#include <cmath>
#include <stdexcept>

#include "autodiff/parallel.h"
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

struct Moments {
    double n = 0, sum = 0, sq = 0;
    void add(double v) { n += 1, sum += v, sq += v * v; }
    double mean() const { return n > 0 ? sum / n : 0; }
    double stderr_of_mean() const { return n > 1 ? std::sqrt(std::max(sq / n - mean() * mean(), 0.0) / (n - 1)) : 0; }
};

}  // namespace

namespace {

// One cell: c.runs runs as rows of one landscape model, stepped by the project's plain SGD.
// Langevin noise enters as a gradient term xi = sqrt(2 D / eta) z, so that eta xi has the
// prescribed variance 2 eta D per step. A run that escapes is counted and parked at the start
// with a zero gradient.
void run_cell(const ValleyConfig& c, const std::vector<double>& samples, double y_start, size_t index,
              ValleyCell& cell) {
    const bool minibatch = c.drive == ValleyDrive::Minibatch;
    const int R = c.runs, M = (int)samples.size();
    const RunsLoss loss = [&](const Var& theta, const Var& targets) {
        return valley_batch_loss(theta, targets, c.lambda0, c.ell);
    };
    Model model = landscape_model("Valley", R, 2, loss);
    Optimizer sgd(OptimizerConfig{}, model);
    double* theta = model.theta().data.data();  // run r: x at 2r, y at 2r + 1
    for (int r = 0; r < R; ++r) theta[2 * r] = c.x0, theta[2 * r + 1] = y_start;
    // minibatch: the full-batch GD trajectory at the same eta, for reference
    Model gd = landscape_model("Valley", 1, 2, loss);
    Optimizer gd_step(OptimizerConfig{}, gd);
    gd.theta()[0] = c.x0, gd.theta()[1] = y_start;
    const Tensor all_samples = minibatch ? Tensor(1, M, samples) : Tensor();
    RunDerivativesPlan derivatives(model, false), gd_derivatives(gd, false);
    Tensor targets(R, minibatch ? c.batch : 1, 0.0);  // Langevin: the valley floor y = 0
    const double sd_along = std::sqrt(2 * cell.D_along / cell.eta), sd_across = std::sqrt(2 * cell.D_across / cell.eta);
    std::vector<char> dead(R, 0);
    std::vector<long> reached(R, -1);
    const int bins = 40;
    const double lo = c.x0 - c.wall, hi = c.x0 + c.wall;
    cell.histogram.assign(c.wall > 0 ? bins : 0, 0.0);
    Rng rng(stream_seed(c.seed, 1000 + index));  // one stream per cell: cells may run on any thread
    auto record_trace = [&](long step) {
        Moments x, y2;
        for (int r = 0; r < R; ++r)
            if (!dead[r]) x.add(theta[2 * r]), y2.add((theta[2 * r + 1] - y_start) * (theta[2 * r + 1] - y_start));
        cell.trace.push_back({(double)step, x.mean(), x.stderr_of_mean(), y2.mean(), minibatch ? gd.theta()[0] : 0.0});
    };
    record_trace(0);
    const long steps = cell.steps;
    for (long step = 1; step <= steps; ++step) {
        if (minibatch)
            for (double& t : targets.data) t = samples[rng.index(samples.size())];
        derivatives(&targets);
        double* g = model.gradient().data.data();
        for (int r = 0; r < R; ++r) {
            double xi_x = 0, xi_y = 0;
            if (!minibatch) xi_x = sd_along * rng.normal(), xi_y = sd_across * rng.normal();
            g[2 * r] = dead[r] ? 0.0 : g[2 * r] + xi_x, g[2 * r + 1] = dead[r] ? 0.0 : g[2 * r + 1] + xi_y;
        }
        sgd.step(cell.eta);
        for (int r = 0; r < R; ++r) {
            if (dead[r]) continue;
            double& x = theta[2 * r];
            const double y = theta[2 * r + 1];
            if (c.wall > 0 && std::isfinite(x) &&
                (x < lo || x > hi)) {  // reflecting walls: fold x back, however far it jumped
                const double width = hi - lo, u = std::fmod(x - lo, 2 * width) + (x < lo ? 2 * width : 0.0);
                x = lo + (u > width ? 2 * width - u : u);
            }
            if (!std::isfinite(x) || !std::isfinite(y) || std::abs(y - y_start) > 1e6 ||
                std::abs(x - c.x0) > 60 * c.ell) {
                dead[r] = 1;
                theta[2 * r] = c.x0, theta[2 * r + 1] = y_start;
                if (cell.first_divergence_step < 0) cell.first_divergence_step = step;
                if (cell.diverged_runs.size() < 20) cell.diverged_runs.push_back(r);
                continue;
            }
            if (reached[r] < 0 && x <= c.x0 - c.ell) reached[r] = step;
            if (c.wall > 0 && step > steps / 2 && step % 10 == 0)
                cell.histogram[std::min(bins - 1, std::max(0, (int)((x - lo) / (hi - lo) * bins)))] += 1;
        }
        if (minibatch) {
            gd_derivatives(&all_samples);
            gd_step.step(cell.eta);
        }
        if (step % c.trace_every == 0 || step == steps) record_trace(step);
    }
    const double time = cell.eta * steps;
    Moments dx, hit;
    int alive = 0;
    for (int r = 0; r < R; ++r) {
        if (dead[r]) continue;
        ++alive;
        dx.add(theta[2 * r] - c.x0);
        if (reached[r] >= 0) hit.add(cell.eta * reached[r]);
    }
    cell.diverged_fraction = 1.0 - (double)alive / R;
    cell.raw_drift_velocity = dx.mean() / time;
    cell.gd_drift_velocity = minibatch ? (gd.theta()[0] - c.x0) / time : 0.0;
    cell.drift_velocity = cell.raw_drift_velocity - cell.gd_drift_velocity;
    cell.drift_velocity_stderr = dx.stderr_of_mean() / time;
    cell.reached_fraction = alive ? hit.n / alive : 0;
    cell.mean_time_to_flat = hit.mean(), cell.time_to_flat_stderr = hit.stderr_of_mean();
    if (c.wall > 0) {  // Fokker-Planck with y eliminated: p(x) ~ lambda(x)^(-kappa/2) = exp(-kappa x / (2 ell))
        double total = 0, norm = 0;
        for (double h : cell.histogram) total += h;
        const double kappa = minibatch ? cell.kappa_measured : cell.D_across / cell.D_along, a = kappa / (2 * c.ell);
        cell.predicted_histogram.resize(bins);
        for (int b = 0; b < bins; ++b) {
            const double x_a = lo + (hi - lo) * b / bins - c.x0, x_b = lo + (hi - lo) * (b + 1) / bins - c.x0;
            cell.predicted_histogram[b] = (std::exp(-a * x_a) - std::exp(-a * x_b)) / a;
            norm += cell.predicted_histogram[b];
        }
        for (int b = 0; b < bins; ++b) {
            cell.predicted_histogram[b] /= norm;
            if (total > 0) cell.histogram[b] /= total;
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
    parallel_for(cells.size(), c.threads, [&](size_t k) { run_cell(c, samples, y_start, k, cells[k]); });
    return cells;
}

}  // namespace awd
