// two_valley.cpp: the two-valley loss as a graph and in closed form, the batched noisy descent, and
// the Kramers master equation it is compared with.
#include "experiments/sgd/two_valley.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>

#include "nn/normal_streams.h"
#include "nn/random.h"

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

// L = u v + L_d e + x0^2 / f0 with u = x (x - 2 a q), q = y / (y + y_b), v = 1 / f_k = (y + y_b)^2 / (c s^2),
// s = y + y_f, e = exp(-y / y_d); the valley sets a = x1, c = f0 (x1/x0)^2 (x >= 0) or a = -x2, c = f0 (x2/x0)^2.
// Every derivative is a product rule over u (a polynomial in x and q) and v (a rational function of y),
// written with two divisions per run (1 / (y + y_b), 1 / s): a division costs several multiplications.
namespace {

template <bool with_hessian>
void two_valley_closed_form(const TwoValleyParams& p, const double* __restrict x, const double* __restrict y, int begin,
                            int end, double* __restrict loss, double* __restrict gx, double* __restrict gy,
                            double* __restrict hxx, double* __restrict hxy, double* __restrict hyy) {
    const double inv_c1 = 1 / (p.f0 * (p.x1 / p.x0) * (p.x1 / p.x0)),
                 inv_c2 = 1 / (p.f0 * (p.x2 / p.x0) * (p.x2 / p.x0));
    const double offset = p.x0 * p.x0 / p.f0, L_d = p.L_d, y_d = p.y_d, slope_e = p.L_d / p.y_d,
                 curve_e = p.L_d / (p.y_d * p.y_d), y_b = p.y_b, y_f = p.y_f, gap = p.y_f - p.y_b, a1 = p.x1,
                 a2 = -p.x2;
    for (int r = begin; r < end; ++r) {
        const bool flat = x[r] >= 0;  // x = 0 belongs to the flat valley, as in two_valley_loss
        const double a = flat ? a1 : a2, inv_c = flat ? inv_c1 : inv_c2, X = x[r], Y = y[r];
        const double e = exp_vectorisable(-Y / y_d);
        const double inv_den = 1 / (Y + y_b), inv_s = 1 / (Y + y_f), rho = (Y + y_b) * inv_s;  // rho = den / s
        const double q = Y * inv_den, q_y = y_b * inv_den * inv_den;
        const double v = inv_c * rho * rho, v_y = 2 * gap * inv_c * rho * inv_s * inv_s;
        const double u = X * (X - 2 * a * q), u_x = 2 * X - 2 * a * q, u_y = -2 * a * X * q_y;
        loss[r] = u * v + L_d * e + offset;
        gx[r] = u_x * v;
        gy[r] = u_y * v + u * v_y - slope_e * e;
        if constexpr (with_hessian) {
            const double q_yy = -2 * q_y * inv_den, v_yy = 2 * gap * inv_c * inv_s * inv_s * inv_s * (1 - 3 * rho);
            hxx[r] = 2 * v;
            hxy[r] = -2 * a * q_y * v + u_x * v_y;
            hyy[r] = -2 * a * X * q_yy * v + 2 * u_y * v_y + u * v_yy + curve_e * e;
        }
    }
}

}  // namespace

void two_valley_derivatives(const TwoValleyParams& p, const double* x, const double* y, int begin, int end,
                            bool with_hessian, RunDerivatives2& out) {
    (with_hessian ? two_valley_closed_form<true>
                  : two_valley_closed_form<false>)(p, x, y, begin, end, out.loss.data(), out.gx.data(), out.gy.data(),
                                                   out.hxx.data(), out.hxy.data(), out.hyy.data());
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

// |x| > 1e3, y < -y_f / 2, |y| > 1e6 or not finite, as comparisons that NaN fails, joined without
// branches (& not &&) so that a loop over runs vectorises
bool escaped(double x, double y, double y_floor) {
    return !((std::abs(x) <= 1e3) & (y >= y_floor) & (std::abs(y) <= 1e6));
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

bool trace_step(long step, const TwoValleyConfig& c) { return step % c.trace_every == 0 || step == c.steps; }

// What a block adds to its cell's statistics: per trace row and at the end.
struct BlockTally {
    std::vector<double> alive, right, ysum;      // per trace row
    double fsum = 0, fsq = 0;                    // freeze steps of the runs alive at the end
    std::vector<std::pair<long, int>> diverged;  // (step, run) of its first 20 escapes
    void add_row(const RunArrays& runs, int begin, int end) {
        double a = 0, right_sum = 0, y_sum = 0;
        for (int r = begin; r < end; ++r)
            if (runs.parked[r] == 0) a += 1, right_sum += runs.x[r] >= 0, y_sum += runs.y[r];
        alive.push_back(a), right.push_back(right_sum), ysum.push_back(y_sum);
    }
};

// One step of runs [begin, end): theta <- theta - eta (grad L + xi), xi = sqrt(2 sigma) S z with
// S S^T = H+ (S = (H+)^(1/2)) or H^2 (S = H) or no noise, z one normal pair per run; a parked run
// does not move. The last step at which x changed sign goes to freeze[r]. Returns the number of runs
// that escaped (are at y < y_floor, |x| > 1e3, |y| > 1e6 or not finite) in this step.
template <NoiseShape noise>
int noisy_step(double eta, double scale, long step, int begin, int end, const double* __restrict gx,
               const double* __restrict gy, const double* __restrict hxx, const double* __restrict hxy,
               const double* __restrict hyy, const double* __restrict z1, const double* __restrict z2,
               const double* __restrict parked, double y_floor, double* __restrict x, double* __restrict y,
               long* __restrict freeze) {
    int escapes = 0;
    for (int r = begin; r < end; ++r) {
        double xi_x = 0, xi_y = 0;
        if constexpr (noise != NoiseShape::None) {
            const Sym2 H{hxx[r], hxy[r], hyy[r]};
            const Sym2 S = noise == NoiseShape::ClippedHessian ? sqrt_clipped_closed_form(H) : H;
            xi_x = scale * (S.a * z1[r] + S.b * z2[r]), xi_y = scale * (S.b * z1[r] + S.c * z2[r]);
        }
        const double step_x = parked[r] != 0 ? 0.0 : gx[r] + xi_x, step_y = parked[r] != 0 ? 0.0 : gy[r] + xi_y;
        const double before = x[r];
        x[r] -= eta * step_x, y[r] -= eta * step_y;
        freeze[r] = (before >= 0) != (x[r] >= 0) ? step : freeze[r];
        escapes += (parked[r] == 0) & escaped(x[r], y[r], y_floor);
    }
    return escapes;
}

// Runs [begin, end) of one (eta, sigma) cell through every step. A run that escapes (|x| > 1e3,
// y < -y_f / 2, |y| > 1e6) is counted and parked at the start point, where it stays.
void run_block(const TwoValleyConfig& c, double eta, double sigma, RunArrays& runs, int begin, int end,
               BlockTally& tally) {
    const bool with_hessian = c.noise != NoiseShape::None;
    std::unique_ptr<AutodiffRuns> autodiff;
    if (c.derivatives == DerivativeSource::Autodiff)
        autodiff = std::make_unique<AutodiffRuns>(
            "TwoValley", [p = c.params](const Var& theta, const Var&) { return two_valley_loss(theta, p); }, begin, end,
            with_hessian);
    const double scale = std::sqrt(2 * sigma), y_floor = -c.params.y_f / 2;
    tally.add_row(runs, begin, end);
    for (long step = 1; step <= c.steps; ++step) {
        if (autodiff) (*autodiff)(runs.x.data(), runs.y.data(), runs.derivatives);
        else two_valley_derivatives(c.params, runs.x.data(), runs.y.data(), begin, end, with_hessian, runs.derivatives);
        if (with_hessian) runs.normals.next(runs.z1.data(), runs.z2.data(), begin, end);
        const auto update = c.noise == NoiseShape::ClippedHessian ? noisy_step<NoiseShape::ClippedHessian>
            : c.noise == NoiseShape::HessianSquared               ? noisy_step<NoiseShape::HessianSquared>
                                                                  : noisy_step<NoiseShape::None>;
        const RunDerivatives2& d = runs.derivatives;
        const int escapes = update(eta, scale, step, begin, end, d.gx.data(), d.gy.data(), d.hxx.data(), d.hxy.data(),
                                   d.hyy.data(), runs.z1.data(), runs.z2.data(), runs.parked.data(), y_floor,
                                   runs.x.data(), runs.y.data(), runs.mark.data());
        for (int r = begin; r < end && escapes > 0; ++r) {
            if (runs.parked[r] != 0 || !escaped(runs.x[r], runs.y[r], y_floor)) continue;
            runs.parked[r] = 1;
            runs.x[r] = c.x_start, runs.y[r] = c.y0;
            if (tally.diverged.size() < 20) tally.diverged.push_back({step, r});
        }
        if (trace_step(step, c)) tally.add_row(runs, begin, end);
    }
    for (int r = begin; r < end; ++r)
        if (runs.parked[r] == 0) tally.fsum += runs.mark[r], tally.fsq += (double)runs.mark[r] * runs.mark[r];
}

// The cell's statistics from its blocks' tallies, summed in block order, and the Kramers track.
void finish_cell(const TwoValleyConfig& c, const std::vector<BlockTally>& blocks, TwoValleyCell& cell) {
    BlockTally total = blocks[0];
    for (size_t b = 1; b < blocks.size(); ++b) {
        for (size_t k = 0; k < total.alive.size(); ++k)
            total.alive[k] += blocks[b].alive[k], total.right[k] += blocks[b].right[k],
                total.ysum[k] += blocks[b].ysum[k];
        total.fsum += blocks[b].fsum, total.fsq += blocks[b].fsq;
        total.diverged.insert(total.diverged.end(), blocks[b].diverged.begin(), blocks[b].diverged.end());
    }
    std::sort(total.diverged.begin(), total.diverged.end());  // by step, then by run: the order they escaped in
    if (!total.diverged.empty()) cell.first_divergence_step = total.diverged[0].first;
    for (size_t k = 0; k < total.diverged.size() && k < 20; ++k) cell.diverged_runs.push_back(total.diverged[k].second);
    KramersTrack kramers{c.y0, 0.5};
    size_t row = 0;
    auto record_trace = [&](long step) {
        const double alive = total.alive[row], right = total.right[row], ysum = total.ysum[row];
        cell.trace.push_back({(double)step, alive ? right / alive : 0.0, alive ? ysum / alive : 0.0, kramers.p});
        ++row;
    };
    record_trace(0);
    for (long step = 1; step <= c.steps; ++step) {
        kramers.advance(c.params, cell.eta, cell.sigma, c.noise);
        if (trace_step(step, c)) record_trace(step);
    }
    cell.kramers_P_flat = kramers.p;
    const double alive = total.alive.back(), right = total.right.back();
    cell.diverged_fraction = 1.0 - alive / c.runs;
    if (alive > 0) {
        cell.P_flat = right / alive;
        cell.P_flat_stderr = std::sqrt(cell.P_flat * (1 - cell.P_flat) / alive);
        cell.mean_freeze_time = total.fsum / alive;
        cell.freeze_time_stderr = alive > 1
            ? std::sqrt(std::max(total.fsq / alive - cell.mean_freeze_time * cell.mean_freeze_time, 0.0) / (alive - 1))
            : 0;
        cell.mean_final_y = total.ysum.back() / alive;
    }
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
    if (c.only_cell >= (long)cells.size())
        throw std::invalid_argument("two-valley: no cell " + std::to_string(c.only_cell) + " in the grid");
    std::vector<size_t> chosen;  // the cells to run: every cell, or only_cell
    for (size_t k = 0; k < cells.size(); ++k)
        if (c.only_cell < 0 || (long)k == c.only_cell) chosen.push_back(k);
    const int blocks = (c.runs + kRunsPerBlock - 1) / kRunsPerBlock;
    std::vector<std::unique_ptr<RunArrays>> runs(chosen.size());
    std::vector<std::vector<BlockTally>> tallies(chosen.size(), std::vector<BlockTally>(blocks));
    for (size_t i = 0; i < chosen.size(); ++i) {  // runs start at (+x_start, y0) (even) and (-x_start, y0) (odd)
        runs[i] = std::make_unique<RunArrays>(c.runs, c.x_start, c.y0, 0, stream_seed(c.seed, 1000 + chosen[i]));
        for (int r = 1; r < c.runs; r += 2) runs[i]->x[r] = -c.x_start;
    }
    for_each_run_block(chosen.size(), c.runs, c.threads, [&](size_t i, int begin, int end) {
        const TwoValleyCell& cell = cells[chosen[i]];
        run_block(c, cell.eta, cell.sigma, *runs[i], begin, end, tallies[i][begin / kRunsPerBlock]);
    });
    std::vector<TwoValleyCell> out;
    for (size_t i = 0; i < chosen.size(); ++i) {
        finish_cell(c, tallies[i], cells[chosen[i]]);
        out.push_back(cells[chosen[i]]);
    }
    return out;
}

}  // namespace awd
