// two_valley.cpp: the two-valley loss as a graph, the batched noisy descent, and the Kramers
// master equation it is compared with.
#include "experiments/sgd/two_valley.h"

#include <cmath>
#include <stdexcept>

#include "autodiff/parallel.h"
#include "nn/random.h"
#include "optim/optimizer.h"

namespace awd {

double TwoValleyParams::flatness(int valley, double y) const {
    const double xk = valley == 1 ? x1 : x2, r = (y + y_f) / (y + y_b);
    return f0 * (xk / x0) * (xk / x0) * r * r;
}

// At the bottom x = g/2 the valley term is -g^2 / (4 f) = -(x0^2 / f0) y^2 / (y + y_f)^2, the
// same for both valleys (x_k cancels); at x = 0 it is 0.
double TwoValleyParams::barrier(double y) const { return x0 * x0 / f0 * y * y / ((y + y_f) * (y + y_f)); }

double TwoValleyParams::bottom(int valley, double y) const { return (valley == 1 ? x1 : -x2) * y / (y + y_b); }

// d/dy [L_d exp(-y/y_d) - (x0^2/f0) y^2/(y+y_f)^2]; by the envelope theorem this is dL/dy at the
// bottom of either valley (tested against the autodiff gradient there).
double TwoValleyParams::bottom_slope(double y) const {
    return -L_d / y_d * std::exp(-y / y_d) - x0 * x0 / f0 * 2 * y * y_f / ((y + y_f) * (y + y_f) * (y + y_f));
}

Var two_valley_loss(const Var& theta, const TwoValleyParams& p) {
    const int R = theta.rows();
    const Var x = slice(theta, 0, 0, R, 1), y = slice(theta, 0, 1, R, 1);
    const Var den = y + p.y_b;
    const Var q = y / den;                     // g_k = 2 x_k q
    const Var r2 = square((y + p.y_f) / den);  // f_k = f0 (x_k/x0)^2 r2
    const double c1 = p.f0 * (p.x1 / p.x0) * (p.x1 / p.x0), c2 = p.f0 * (p.x2 / p.x0) * (p.x2 / p.x0);
    const Var flat = x * (x - (2 * p.x1) * q) / (c1 * r2);
    const Var sharp = x * (x + (2 * p.x2) * q) / (c2 * r2);
    const Var left = step(-x);  // 1 for x < 0: x = 0 belongs to the flat branch
    return flat + left * (sharp - flat) + p.L_d * exp(-y / p.y_d) + p.x0 * p.x0 / p.f0;
}

double valley_temperature(const TwoValleyParams& p, int valley, double y, double eta, double sigma, NoiseShape noise) {
    const double f = p.flatness(valley, y);
    return noise == NoiseShape::ClippedHessian ? 2 * eta * sigma / f
        : noise == NoiseShape::HessianSquared  ? 4 * eta * sigma / (f * f)
                                               : 0.0;
}

double kramers_rate_per_step(const TwoValleyParams& p, int valley, double y, double eta, double sigma,
                             NoiseShape noise) {
    const double f = p.flatness(valley, y), T = valley_temperature(p, valley, y, eta, sigma, noise);
    if (T <= 0) return 0;
    const double z = std::sqrt(std::max(p.barrier(y), 0.0) / T);
    // eta / ((pi/2) f erfi(z)) with erfi(z) = 2/sqrt(pi) exp(z^2) D(z), without overflowing exp(z^2)
    if (z < 1e-8) return eta / (f * std::sqrt(M_PI) * std::max(z, 1e-300));
    return eta * std::exp(-z * z) / (std::sqrt(M_PI) * f * dawson(z));
}

namespace {

bool escaped(double x, double y, const TwoValleyParams& p) {
    return !std::isfinite(x) || !std::isfinite(y) || std::abs(x) > 1e3 || y < -p.y_f / 2 || std::abs(y) > 1e6;
}

// The two-state master equation dp/dstep = r_sharp (1 - p) - r_flat p along the noiseless y(step),
// integrated exactly over each step with the rates held at their start-of-step values.
struct KramersTrack {
    double y, p;
    void advance(const TwoValleyParams& params, double eta, double sigma, NoiseShape noise) {
        const double r_flat = kramers_rate_per_step(params, 1, y, eta, sigma, noise),
                     r_sharp = kramers_rate_per_step(params, 2, y, eta, sigma, noise);
        const double total = r_flat + r_sharp;
        if (total > 0) {
            const double steady = r_sharp / total;
            p = steady + (p - steady) * std::exp(-total);
        }
        y -= eta * params.bottom_slope(y);
    }
};

}  // namespace

namespace {

// One (eta, sigma) cell: c.runs runs as rows of one landscape model, stepped by the project's
// plain SGD with the noise added to the gradient: theta <- theta - eta (grad L + xi). A run that
// escapes (|x| > 1e3, y < -y_f / 2, |y| > 1e6) is counted and parked at the start point with a
// zero gradient, so the graph stays finite and the run stays where it is parked.
void run_cell(const TwoValleyConfig& c, size_t index, TwoValleyCell& cell) {
    const int R = c.runs;
    Model model = landscape_model("TwoValley", R, 2,
                                  [&](const Var& theta, const Var&) { return two_valley_loss(theta, c.params); });
    Optimizer sgd(OptimizerConfig{}, model);
    double* theta = model.theta().data.data();  // run r: x at 2r, y at 2r + 1
    for (int r = 0; r < R; ++r) theta[2 * r] = r % 2 == 0 ? c.x_start : -c.x_start, theta[2 * r + 1] = c.y0;
    std::vector<char> dead(R, 0);
    std::vector<long> freeze(R, 0);
    std::vector<double> x_before(R);
    KramersTrack kramers{c.y0, 0.5};
    Rng rng(stream_seed(c.seed, 1000 + index));  // one stream per cell: cells may run on any thread
    const bool hessian = c.noise != NoiseShape::None;
    auto record_trace = [&](long step) {
        double right = 0, ysum = 0;
        int alive = 0;
        for (int r = 0; r < R; ++r)
            if (!dead[r]) ++alive, right += theta[2 * r] >= 0, ysum += theta[2 * r + 1];
        cell.trace.push_back({(double)step, alive ? right / alive : 0.0, alive ? ysum / alive : 0.0, kramers.p});
    };
    record_trace(0);
    const double scale = std::sqrt(2 * cell.sigma);
    RunDerivativesPlan derivatives(model, hessian);
    for (long step = 1; step <= c.steps; ++step) {
        const RunDerivatives& d = derivatives(nullptr);
        double* g = model.gradient().data.data();
        for (int r = 0; r < R; ++r) {
            double xi_x = 0, xi_y = 0;
            if (hessian) {  // two normals per run and step, drawn for every run so streams do not shift
                const double z1 = rng.normal(), z2 = rng.normal();
                const Sym2 H{d.hessian(r, 0), d.hessian(r, 1), d.hessian(r, 3)};
                const Sym2 S = c.noise == NoiseShape::ClippedHessian ? sqrt_clipped(H) : H;  // S S^T = H+ or H^2
                xi_x = scale * (S.a * z1 + S.b * z2), xi_y = scale * (S.b * z1 + S.c * z2);
            }
            g[2 * r] = dead[r] ? 0.0 : g[2 * r] + xi_x, g[2 * r + 1] = dead[r] ? 0.0 : g[2 * r + 1] + xi_y;
            x_before[r] = theta[2 * r];
        }
        sgd.step(cell.eta);
        for (int r = 0; r < R; ++r) {
            if (dead[r]) continue;
            if (escaped(theta[2 * r], theta[2 * r + 1], c.params)) {
                dead[r] = 1;
                theta[2 * r] = c.x_start, theta[2 * r + 1] = c.y0;
                if (cell.first_divergence_step < 0) cell.first_divergence_step = step;
                if (cell.diverged_runs.size() < 20) cell.diverged_runs.push_back(r);
                continue;
            }
            if ((x_before[r] >= 0) != (theta[2 * r] >= 0)) freeze[r] = step;
        }
        kramers.advance(c.params, cell.eta, cell.sigma, c.noise);
        if (step % c.trace_every == 0 || step == c.steps) record_trace(step);
    }
    double right = 0, fsum = 0, fsq = 0, ysum = 0;
    int alive = 0;
    for (int r = 0; r < R; ++r) {
        if (dead[r]) continue;
        ++alive, right += theta[2 * r] >= 0, ysum += theta[2 * r + 1], fsum += freeze[r],
            fsq += (double)freeze[r] * freeze[r];
    }
    cell.diverged_fraction = 1.0 - (double)alive / R;
    if (alive > 0) {
        cell.P_flat = right / alive;
        cell.P_flat_stderr = std::sqrt(cell.P_flat * (1 - cell.P_flat) / alive);
        cell.mean_freeze_time = fsum / alive;
        cell.freeze_time_stderr = alive > 1
            ? std::sqrt(std::max(fsq / alive - cell.mean_freeze_time * cell.mean_freeze_time, 0.0) / (alive - 1))
            : 0;
        cell.mean_final_y = ysum / alive;
    }
    cell.kramers_P_flat = kramers.p;
}

}  // namespace

std::vector<TwoValleyCell> run_two_valley(const TwoValleyConfig& c) {
    if (c.etas.empty() || c.sigmas.empty() || c.runs < 1 || c.steps < 1)
        throw std::invalid_argument("two-valley: need at least one eta, one sigma, one run and one step");
    std::vector<TwoValleyCell> cells(c.etas.size() * c.sigmas.size());
    for (size_t k = 0; k < cells.size(); ++k) {
        TwoValleyCell& cell = cells[k];
        cell.eta = c.etas[k / c.sigmas.size()], cell.sigma = c.sigmas[k % c.sigmas.size()];
        const double dL = c.params.barrier(c.y0);
        cell.barrier_over_T_flat = dL / valley_temperature(c.params, 1, c.y0, cell.eta, cell.sigma, c.noise);
        cell.barrier_over_T_sharp = dL / valley_temperature(c.params, 2, c.y0, cell.eta, cell.sigma, c.noise);
        const double r1 = kramers_rate_per_step(c.params, 1, c.y0, cell.eta, cell.sigma, c.noise),
                     r2 = kramers_rate_per_step(c.params, 2, c.y0, cell.eta, cell.sigma, c.noise);
        cell.kramers_P_flat_steady_y0 = r1 + r2 > 0 ? r2 / (r1 + r2) : 0.5;  // no noise: nothing moves, the start stays
    }
    if (c.only_cell >= 0) {
        if (c.only_cell >= (long)cells.size())
            throw std::invalid_argument("two-valley: no cell " + std::to_string(c.only_cell) + " in the grid");
        run_cell(c, c.only_cell, cells[c.only_cell]);
        return {cells[c.only_cell]};
    }
    parallel_for(cells.size(), c.threads, [&](size_t k) { run_cell(c, k, cells[k]); });
    return cells;
}

}  // namespace awd
