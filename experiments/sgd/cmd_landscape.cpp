// cmd_landscape.cpp: `awd landscape`, the toy landscapes (experiments/sgd/README.md): the two-valley
// model (P_flat, freezing time, the Kramers prediction) and the degenerate valley (drift toward
// the flat end, stationary distribution, SGD noise measured from per-sample gradients).
// Every (eta, sigma) pair of a two-valley command is one cell; cells, and blocks of runs within a cell, run in
// parallel.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "experiments/common/commands.h"
#include "experiments/common/engine.h"
#include "experiments/common/flags.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/provenance.h"
#include "experiments/sgd/two_valley.h"
#include "experiments/sgd/valley.h"
#include "nn/files.h"

namespace awd {

namespace {

struct LandscapeOptions {
    std::string model, out, noise = "hessian", drive = "langevin", derivatives = "closed-form";
    std::vector<double> etas{0.01}, sigmas{0.1}, deltas{1e-3};
    double y0 = 5, x_start = 0.01;
    int runs = 2000, trace_every = 100;
    long steps = 20000;
    uint64_t seed = 1;
    // valley
    double kappa = 10, lambda0 = 1, ell = 1, sample_std = 1, x0 = 0, wall = 0, time = 0;
    int samples = 100, batch = 10;
    int threads = 2;
    long cell = -1;  // two-valley: only this cell of the grid (one Slurm run)
};

std::string csv_number(double v) {
    char s[32];
    std::snprintf(s, sizeof s, "%.10g", v);
    return s;
}

// A tick label: three significant digits (0.0774, not 0.0774264).
std::string tick_label(double v) {
    char s[32];
    std::snprintf(s, sizeof s, "%.3g", v);
    return s;
}

// Everything goes to a sibling folder first, renamed over --out at the end.
struct RunFolder {
    std::string final_path, path;
    explicit RunFolder(const std::string& out) : final_path(out), path(out + ".tmp." + std::to_string(getpid())) {
        std::filesystem::remove_all(path);
        make_directories(path);
    }
    void commit() {
        std::filesystem::remove_all(final_path);
        std::filesystem::rename(path, final_path);
    }
};

nlohmann::json cell_json(const TwoValleyCell& c) {
    return {{"eta", c.eta},
            {"sigma", c.sigma},
            {"Delta_S", c.eta * c.sigma},
            {"P_flat", c.P_flat},
            {"P_flat_stderr", c.P_flat_stderr},
            {"diverged_fraction", c.diverged_fraction},
            {"first_divergence_step", c.first_divergence_step},
            {"diverged_runs", c.diverged_runs},
            {"mean_freeze_time", c.mean_freeze_time},
            {"freeze_time_stderr", c.freeze_time_stderr},
            {"mean_final_y", c.mean_final_y},
            {"kramers_P_flat", c.kramers_P_flat},
            {"kramers_P_flat_steady_y0", c.kramers_P_flat_steady_y0},
            // dL / T is infinite without noise: null then
            {"barrier_over_T_flat_y0",
             std::isfinite(c.barrier_over_T_flat) ? nlohmann::json(c.barrier_over_T_flat) : nlohmann::json()},
            {"barrier_over_T_sharp_y0",
             std::isfinite(c.barrier_over_T_sharp) ? nlohmann::json(c.barrier_over_T_sharp) : nlohmann::json()},
            {"kramers_z_sigmas", (c.P_flat_stderr > 0 ? (c.P_flat - c.kramers_P_flat) / c.P_flat_stderr : 0.0)}};
}

void plot_two_valley(const std::string& dir, const TwoValleyConfig& c, const std::vector<TwoValleyCell>& cells) {
    std::ostringstream traces;
    std::string plots;
    const size_t shown = std::min<size_t>(cells.size(), 8);
    for (size_t k = 0; k < shown; ++k) {
        const size_t cell = cells.size() <= 8 ? k : k * (cells.size() - 1) / (shown - 1);
        for (const auto& row : cells[cell].trace) traces << row[0] << ' ' << row[1] << ' ' << row[3] << '\n';
        traces << "\n\n";
        char title[96];
        std::snprintf(title, sizeof title, "η %.3g σ %.3g", cells[cell].eta, cells[cell].sigma);
        plots += std::string(plots.empty() ? "" : ", ") + "$t index " + std::to_string(k) +
            " using 1:2 with lines lw 2 lc " + std::to_string(k + 1) + " title '" + title + "', $t index " +
            std::to_string(k) + " using 1:3 with lines dt 2 lc " + std::to_string(k + 1) + " notitle";
    }
    plot_png(dir + "/trace.png",
             "set title 'two-valley: fraction of runs in the flat valley (solid), Kramers master equation "
             "(dashed)'\nset xlabel 'step'\n"
             "set ylabel 'P(x > 0) (fraction of runs)'\nset grid\nset key outside right\nplot " +
                 plots,
             {{"t", traces.str()}}, 1000, 500);
    if (c.etas.size() > 1 && c.sigmas.size() > 1) {  // heat maps over the (eta, sigma) grid
        for (const std::string what : {"P_flat", "kramers_P_flat", "mean_freeze_time"}) {
            std::ostringstream grid;
            for (size_t i = 0; i < c.etas.size(); ++i) {
                for (size_t j = 0; j < c.sigmas.size(); ++j) {
                    const TwoValleyCell& cell = cells[i * c.sigmas.size() + j];
                    grid << i << ' ' << j << ' '
                         << (what == "P_flat"               ? cell.P_flat
                                 : what == "kramers_P_flat" ? cell.kramers_P_flat
                                                            : cell.mean_freeze_time)
                         << '\n';
                }
                grid << '\n';
            }
            std::ostringstream tics_x, tics_y;
            for (size_t i = 0; i < c.etas.size(); ++i)
                tics_x << (i ? ", " : "") << "'" << tick_label(c.etas[i]) << "' " << i;
            for (size_t j = 0; j < c.sigmas.size(); ++j)
                tics_y << (j ? ", " : "") << "'" << tick_label(c.sigmas[j]) << "' " << j;
            plot_png(dir + "/" + what + "_grid.png",
                     "set termoption noenhanced\nset title '" + what + " over (η, σ), y_i = " + csv_number(c.y0) +
                         "'\nset xlabel 'learning rate η'\n"
                         "set ylabel 'noise strength σ'\nset cblabel '" +
                         (what == "mean_freeze_time" ? "steps" : "fraction of runs") +
                         "'\n"
                         "set xtics (" +
                         tics_x.str() + ") rotate by 45 right\nset ytics (" + tics_y.str() + ")\nset view map\n" +
                         (what == "mean_freeze_time" ? "" : "set cbrange [0.5:1]\n") +
                         "plot $g using 1:2:3 with image notitle",
                     {{"g", grid.str()}}, 700, 600);
        }
    } else if (cells.size() > 1) {  // one line: P_flat against Delta_S = eta sigma, beside the prediction
        std::ostringstream line;
        for (const auto& cell : cells)
            line << cell.eta * cell.sigma << ' ' << cell.P_flat << ' ' << cell.P_flat_stderr << ' '
                 << cell.kramers_P_flat << ' ' << cell.kramers_P_flat_steady_y0 << '\n';
        plot_png(dir + "/P_flat_vs_noise.png",
                 "set title 'two-valley: P_{flat} against Δ_S = η σ, y_i = " + csv_number(c.y0) +
                     "'\nset xlabel 'Δ_S = η σ'\n"
                     "set ylabel 'P_{flat} (fraction of runs in the flat valley)'\n"
                     "set logscale x\nset grid\nset key left top\nplot $l using 1:2:3 with yerrorbars pt 7 lc rgb "
                     "'#0072B2' title 'measured', "
                     "$l using 1:4 with lines lw 2 lc rgb '#D55E00' title 'Kramers master equation along y(t)', "
                     "$l using 1:5 with lines dt 2 lc rgb '#009E73' title 'Kramers steady state at y_i'",
                 {{"l", line.str()}});
    }
}

// The inverse of cell_json and of trace.csv's rows: a cell read back from its own run folder.
TwoValleyCell read_cell(const std::string& dir) {
    const nlohmann::json j = nlohmann::json::parse(read_file(dir + "/summary.json")).at("cells").at(0);
    auto number = [&](const char* key) { return j.at(key).is_null() ? INFINITY : j.at(key).get<double>(); };
    TwoValleyCell c;
    c.eta = j.at("eta"), c.sigma = j.at("sigma"), c.P_flat = j.at("P_flat"), c.P_flat_stderr = j.at("P_flat_stderr");
    c.diverged_fraction = j.at("diverged_fraction"), c.first_divergence_step = j.at("first_divergence_step");
    c.diverged_runs = j.at("diverged_runs").get<std::vector<int>>();
    c.mean_freeze_time = j.at("mean_freeze_time"), c.freeze_time_stderr = j.at("freeze_time_stderr"),
    c.mean_final_y = j.at("mean_final_y");
    c.kramers_P_flat = j.at("kramers_P_flat"), c.kramers_P_flat_steady_y0 = j.at("kramers_P_flat_steady_y0");
    c.barrier_over_T_flat = number("barrier_over_T_flat_y0"),
    c.barrier_over_T_sharp = number("barrier_over_T_sharp_y0");
    std::istringstream csv(read_file(dir + "/trace.csv"));
    std::string line;
    std::getline(csv, line);  // eta,sigma,step,fraction_flat,mean_y,kramers_P_flat
    while (std::getline(csv, line)) {
        std::vector<double> f;
        std::istringstream fields(line);
        for (std::string field; std::getline(fields, field, ',');) f.push_back(std::stod(field));
        if (f.size() != 6) throw std::runtime_error(dir + "/trace.csv: a row without 6 fields: " + line);
        c.trace.push_back({f[2], f[3], f[4], f[5]});
    }
    return c;
}

// `awd landscape` with the flags of a two-valley grid: the start of its per-cell and report commands.
std::string two_valley_command(const LandscapeOptions& o) {
    auto list = [](const std::vector<double>& v) {
        std::string text;
        for (double x : v) text += (text.empty() ? "" : ",") + exact_number(x);
        return text;
    };
    return shell_quote(awd_binary()) + " landscape --model two-valley --noise " + o.noise + " --eta " + list(o.etas) +
        " --sigma " + list(o.sigmas) + " --y0 " + exact_number(o.y0) + " --x-start " + exact_number(o.x_start) +
        " --runs " + std::to_string(o.runs) + " --steps " + std::to_string(o.steps) + " --trace-every " +
        std::to_string(o.trace_every) + " --seed " + std::to_string(o.seed) + " --derivatives " + o.derivatives;
}

// With --engine slurm, cell k is the run OUT.runs/cellK (`--cell K`); the report gathers them into OUT.
std::string cell_dir(const LandscapeOptions& o, size_t k) { return o.out + ".runs/cell" + std::to_string(k); }

std::vector<GridRun> two_valley_runs(const LandscapeOptions& o) {
    std::vector<GridRun> runs;
    for (size_t k = 0; k < o.etas.size() * o.sigmas.size(); ++k) {
        const std::string dir = cell_dir(o, k);
        runs.push_back(
            {"cell" + std::to_string(k) + " (eta " + csv_number(o.etas[k / o.sigmas.size()]) + ", sigma " +
                 csv_number(o.sigmas[k % o.sigmas.size()]) + ")",
             dir + ".log",
             two_valley_command(o) + " --threads 1 --cell " + std::to_string(k) + " --out " + shell_quote(dir),
             file_exists(dir + "/summary.json")});
    }
    return runs;
}

void run_two_valley_command(const LandscapeOptions& o, const EngineOptions& engine) {
    TwoValleyConfig c;
    c.etas = o.etas, c.sigmas = o.sigmas, c.y0 = o.y0, c.x_start = o.x_start, c.runs = o.runs, c.steps = o.steps;
    c.trace_every = o.trace_every, c.seed = o.seed, c.noise = parse_noise_shape(o.noise), c.threads = o.threads,
    c.only_cell = o.cell, c.derivatives = parse_derivative_source(o.derivatives);
    const size_t n_cells = o.etas.size() * o.sigmas.size();
    if (o.cell >= (long)n_cells)
        throw std::invalid_argument("--cell " + std::to_string(o.cell) + ": the grid has " + std::to_string(n_cells) +
                                    " cells");
    if (engine.engine == "slurm" && !engine.report_only && o.cell < 0)
        return run_slurm(o.out + ".runs", two_valley_runs(o),
                         two_valley_command(o) + " --report-only --out " + shell_quote(o.out), engine);
    std::printf("awd landscape two-valley: %s x %d runs, %ld steps, noise %s -> %s\n",
                o.cell >= 0 ? ("cell " + std::to_string(o.cell) + " of " + std::to_string(n_cells)).c_str()
                            : (std::to_string(n_cells) + " cell(s)").c_str(),
                o.runs, o.steps, o.noise.c_str(), o.out.c_str());
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<TwoValleyCell> cells;
    double seconds = 0;
    if (engine.report_only) {  // the cells' own run folders, each complete or absent
        require_every_run(o.out + ".runs", two_valley_runs(o), "cells", o.out);
        for (size_t k = 0; k < n_cells; ++k) {
            cells.push_back(read_cell(cell_dir(o, k)));
            seconds += nlohmann::json::parse(read_file(cell_dir(o, k) + "/summary.json")).at("seconds").get<double>();
        }
    } else {
        cells = run_two_valley(c);
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    RunFolder folder(o.out);
    nlohmann::json summary = {{"model", "two-valley"},
                              {"noise", o.noise},
                              {"derivatives", o.derivatives},
                              {"y0", o.y0},
                              {"x_start", o.x_start},
                              {"runs", o.runs},
                              {"steps", o.steps},
                              {"seed", o.seed},
                              {"seconds", seconds},
                              {"etas", o.etas},
                              {"sigmas", o.sigmas},
                              {"params",
                               {{"x1", c.params.x1},
                                {"x2", c.params.x2},
                                {"x0", c.params.x0},
                                {"f0", c.params.f0},
                                {"y_b", c.params.y_b},
                                {"y_f", c.params.y_f},
                                {"y_d", c.params.y_d},
                                {"L_d", c.params.L_d}}}};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& cell : cells) list.push_back(cell_json(cell));
    if (cells.size() == 1) summary.update(list[0]);
    summary["cells"] = list;
    int agree = 0;  // cells whose P_flat is within 3 standard errors of the Kramers prediction
    for (const auto& cell : cells) agree += std::abs(cell.P_flat - cell.kramers_P_flat) <= 3 * cell.P_flat_stderr;
    summary["kramers_within_3_stderr"] = agree;
    summary["kramers_within_3_stderr_fraction"] = (double)agree / cells.size();
    write_json_file(folder.path + "/summary.json", with_provenance(summary));
    std::ostringstream csv;
    csv << "eta,sigma,step,fraction_flat,mean_y,kramers_P_flat\n";
    for (const auto& cell : cells)
        for (const auto& row : cell.trace)
            csv << csv_number(cell.eta) << ',' << csv_number(cell.sigma) << ',' << (long)row[0] << ','
                << csv_number(row[1]) << ',' << csv_number(row[2]) << ',' << csv_number(row[3]) << '\n';
    write_file_atomically(folder.path + "/trace.csv", csv.str());
    if (o.cell < 0)
        plot_two_valley(folder.path, c, cells);  // a single cell is a part of a grid: its figures come with the grid's
    folder.commit();
    for (const auto& cell : cells) {
        std::printf(
            "  eta %-8.4g sigma %-8.4g P_flat %.4f +- %.4f  Kramers %.4f (steady at y0 %.4f, dL/T %.2f / %.2f)  freeze "
            "%.0f  diverged %.4f\n",
            cell.eta, cell.sigma, cell.P_flat, cell.P_flat_stderr, cell.kramers_P_flat, cell.kramers_P_flat_steady_y0,
            cell.barrier_over_T_flat, cell.barrier_over_T_sharp, cell.mean_freeze_time, cell.diverged_fraction);
        if (cell.first_divergence_step >= 0) {
            std::string rows;
            for (int r : cell.diverged_runs) rows += (rows.empty() ? "" : ",") + std::to_string(r);
            std::fprintf(stderr, "  warning: eta %g sigma %g: runs diverged from step %ld (runs %s%s)\n", cell.eta,
                         cell.sigma, cell.first_divergence_step, rows.c_str(),
                         cell.diverged_fraction * o.runs > cell.diverged_runs.size() ? ", ..." : "");
        }
    }
    std::printf("  %.1f s; wrote %s/{summary.json, trace.csv, *.png}\n", seconds, o.out.c_str());
}

nlohmann::json valley_cell_json(const ValleyCell& c, bool minibatch) {
    nlohmann::json j = {{"eta", c.eta},
                        {"steps", c.steps},
                        {"drift_velocity", c.drift_velocity},
                        {"drift_velocity_stderr", c.drift_velocity_stderr},
                        {"diverged_fraction", c.diverged_fraction},
                        {"first_divergence_step", c.first_divergence_step},
                        {"diverged_runs", c.diverged_runs},
                        {"reached_flat_fraction", c.reached_fraction},
                        {"mean_time_to_flat", c.mean_time_to_flat},
                        {"time_to_flat_stderr", c.time_to_flat_stderr}};
    if (minibatch)
        j.update({{"raw_drift_velocity", c.raw_drift_velocity},
                  {"gd_drift_velocity", c.gd_drift_velocity},
                  {"C_xx", c.C_xx},
                  {"C_xy", c.C_xy},
                  {"C_yy", c.C_yy},
                  {"kappa_measured", c.kappa_measured},
                  {"Delta_measured", c.D_across_measured}});
    else
        j.update({{"Delta", c.delta},
                  {"D_across", c.D_across},
                  {"D_along", c.D_along},
                  // the prediction needs a stable y (eta lambda(x0) < 2); null beyond
                  {"predicted_drift_velocity",
                   c.predicted_drift_velocity < 0 ? nlohmann::json(c.predicted_drift_velocity) : nlohmann::json()}});
    if (!c.histogram.empty())
        j.update({{"tv_distance", c.tv_distance},
                  {"histogram", c.histogram},
                  {"predicted_histogram", c.predicted_histogram}});
    return j;
}

// Weighted least-squares line through (ln a_i, ln |v_i|), weights from the standard errors of v.
struct LogLogFit {
    double slope = 0, slope_stderr = 0;
    bool ok = false;
};
LogLogFit loglog_fit(const std::vector<double>& a, const std::vector<double>& v, const std::vector<double>& v_stderr) {
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (v[i] == 0 || v_stderr[i] <= 0 || a[i] <= 0) return {};
        const double w = (v[i] / v_stderr[i]) * (v[i] / v_stderr[i]), x = std::log(a[i]), y = std::log(std::abs(v[i]));
        sw += w, sx += w * x, sy += w * y, sxx += w * x * x, sxy += w * x * y;
    }
    const double det = sw * sxx - sx * sx;
    if (a.size() < 2 || det <= 0) return {};
    return {(sw * sxy - sx * sy) / det, std::sqrt(sw / det), true};
}

// Figures and numbers across the cells of one valley command: drift and time to the flat end
// against the noise (Delta, or lr/B for minibatch SGD), and the largest stable eta per Delta.
void valley_sweep(const std::string& dir, const LandscapeOptions& o, const std::vector<ValleyCell>& cells,
                  nlohmann::json& summary) {
    const bool minibatch = o.drive == "minibatch";
    const size_t n_delta = minibatch ? 1 : o.deltas.size();
    if (n_delta > 1 || (minibatch && o.etas.size() > 1)) {
        // one line per eta (Langevin) or one line over eta (minibatch); noise on the x axis
        std::vector<double> a, v, e;
        std::ostringstream data;
        bool any_reached = false;
        for (size_t k = 0; k < (minibatch ? cells.size() : n_delta); ++k) {
            const ValleyCell& c = cells[k];
            const double noise = minibatch ? c.eta / o.batch : c.delta;
            a.push_back(noise), v.push_back(c.drift_velocity), e.push_back(c.drift_velocity_stderr);
            data << noise << ' ' << -c.drift_velocity << ' ' << c.drift_velocity_stderr << ' '
                 << -c.predicted_drift_velocity << ' ';
            if (c.reached_fraction > 0) data << c.mean_time_to_flat << ' ' << c.time_to_flat_stderr << '\n';
            else data << "NaN NaN\n";  // no run got there: a gap in the figure
            any_reached = any_reached || c.reached_fraction > 0;
        }
        const LogLogFit fit = loglog_fit(a, v, e);
        if (fit.ok)
            summary.update({{"drift_loglog_slope", fit.slope}, {"drift_loglog_slope_stderr", fit.slope_stderr}});
        std::vector<double> a_reached, t,
            t_stderr;  // time to the flat end against the noise, over the cells where runs got there
        for (size_t k = 0; k < a.size(); ++k)
            if (cells[k].reached_fraction > 0)
                a_reached.push_back(a[k]), t.push_back(cells[k].mean_time_to_flat),
                    t_stderr.push_back(cells[k].time_to_flat_stderr);
        const LogLogFit time_fit = loglog_fit(a_reached, t, t_stderr);
        if (time_fit.ok)
            summary.update({{"time_to_flat_loglog_slope", time_fit.slope},
                            {"time_to_flat_loglog_slope_stderr", time_fit.slope_stderr}});
        const std::string x_label = minibatch ? "η / B (learning rate per sample)" : "Δ (noise across the valley)";
        char title[160];
        std::snprintf(title, sizeof title, "valley (%s): drift toward the flat end, log-log slope %.3f ± %.3f",
                      o.drive.c_str(), fit.slope, fit.slope_stderr);
        plot_png(
            dir + "/drift_vs_noise.png",
            std::string("set title '") + title + "'\nset xlabel '" + x_label +
                "'\nset ylabel '-d⟨x⟩/dt (per unit of t = η × step)'\nset logscale xy\nset grid\nset key left top\n"
                "plot $d using 1:2:3 with yerrorbars pt 7 lc rgb '#0072B2' title 'measured'" +
                (minibatch
                     ? std::string()
                     : ", $d using 1:4 with lines lw 2 lc rgb '#D55E00' title 'D_{across} / (2 ℓ (1 - η λ / 2))'"),
            {{"d", data.str()}});
        if (any_reached)
            plot_png(dir + "/time_to_flat.png",
                     "set title 'valley (" + o.drive + "): time to reach x_0 - ℓ (runs that got there)'\nset xlabel '" +
                         x_label +
                         "'\nset ylabel 't = η × step'\nset logscale xy\nset grid\nplot $d using 1:5:6 with yerrorbars "
                         "pt 7 lc rgb '#0072B2' notitle",
                     {{"d", data.str()}});
    }
    if (!minibatch && o.etas.size() > 1) {  // largest eta with no diverged run, per Delta
        nlohmann::json limits = nlohmann::json::array();
        std::ostringstream data;
        for (size_t j = 0; j < n_delta; ++j) {
            double best = 0;
            for (size_t i = 0; i < o.etas.size(); ++i)
                if (cells[i * n_delta + j].diverged_fraction == 0) best = std::max(best, o.etas[i]);
            limits.push_back({{"Delta", o.deltas[j]}, {"largest_stable_eta", best}});
            data << o.deltas[j] << ' ' << best << '\n';
        }
        summary["stability"] = limits;
        // below 1: the largest stable learning rate falls as the noise grows
        const double first = limits.front()["largest_stable_eta"], last = limits.back()["largest_stable_eta"];
        if (first > 0) summary["largest_stable_eta_ratio_last_to_first_Delta"] = last / first;
        plot_png(dir + "/stability.png",
                 "set title 'valley (" + o.drive +
                     "): largest stable learning rate (no run diverged)'\nset xlabel 'Δ'\nset ylabel 'η_{max}'\n"
                     "set logscale x\nset grid\nplot $d using 1:2 with linespoints pt 7 lw 2 title 'measured'",
                 {{"d", data.str()}});
    }
}

void run_valley_command(const LandscapeOptions& o) {
    ValleyConfig c;
    c.drive = parse_valley_drive(o.drive);
    c.lambda0 = o.lambda0, c.ell = o.ell, c.x0 = o.x0, c.wall = o.wall, c.etas = o.etas, c.deltas = o.deltas,
    c.kappa = o.kappa;
    c.samples = o.samples, c.batch = o.batch, c.sample_std = o.sample_std, c.runs = o.runs, c.steps = o.steps,
    c.trace_every = o.trace_every, c.seed = o.seed;
    c.threads = o.threads, c.time = o.time, c.derivatives = parse_derivative_source(o.derivatives);
    const bool minibatch = c.drive == ValleyDrive::Minibatch;
    std::printf(
        "awd landscape valley (%s): %zu cell(s) x %d runs, %s -> %s\n", o.drive.c_str(),
        o.etas.size() * (minibatch ? 1 : o.deltas.size()), o.runs,
        o.time > 0 ? ("t = " + csv_number(o.time) + " each").c_str() : (std::to_string(o.steps) + " steps").c_str(),
        o.out.c_str());
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<ValleyCell> cells = run_valley(c);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    RunFolder folder(o.out);
    nlohmann::json summary = {{"model", "valley"},
                              {"drive", o.drive},
                              {"derivatives", o.derivatives},
                              {"lambda", "lambda0 exp(x / ell)"},
                              {"lambda0", o.lambda0},
                              {"ell", o.ell},
                              {"x0", o.x0},
                              {"wall", o.wall},
                              {"kappa", o.kappa},
                              {"runs", o.runs},
                              {"steps", o.time > 0 ? nlohmann::json() : nlohmann::json(o.steps)},
                              {"seed", o.seed},
                              {"time", o.time > 0 ? nlohmann::json(o.time) : nlohmann::json()},
                              {"seconds", seconds},
                              {"etas", o.etas}};
    if (minibatch) summary.update({{"samples", o.samples}, {"batch", o.batch}, {"sample_std", o.sample_std}});
    else summary["deltas"] = o.deltas;
    nlohmann::json list = nlohmann::json::array();
    for (const auto& cell : cells) list.push_back(valley_cell_json(cell, minibatch));
    if (cells.size() == 1) summary.update(list[0]);
    summary["cells"] = list;
    valley_sweep(folder.path, o, cells, summary);
    write_json_file(folder.path + "/summary.json", with_provenance(summary));
    std::ostringstream csv, lines;
    csv << "eta,Delta,step,mean_x,mean_x_stderr,mean_dy2,gd_x\n";
    std::string plots;
    for (size_t k = 0; k < cells.size(); ++k) {
        for (const auto& row : cells[k].trace) {
            csv << csv_number(cells[k].eta) << ',' << csv_number(cells[k].delta) << ',' << (long)row[0] << ','
                << csv_number(row[1]) << ',' << csv_number(row[2]) << ',' << csv_number(row[3]) << ','
                << csv_number(row[4]) << '\n';
            if (k < 8) lines << row[0] * cells[k].eta << ' ' << row[1] << ' ' << row[2] << ' ' << row[4] << '\n';
        }
        if (k >= 8) continue;
        lines << "\n\n";
        char title[80];
        std::snprintf(title, sizeof title, minibatch ? "eta %.3g" : "eta %.3g Delta %.3g", cells[k].eta,
                      cells[k].delta);
        plots += std::string(plots.empty() ? "" : ", ") + "$l index " + std::to_string(k) +
            " using 1:2 with lines lw 2 lc " + std::to_string(k + 1) + " title '" + title + "'" +
            (minibatch ? ", $l index " + std::to_string(k) + " using 1:4 with lines dt 2 lc " + std::to_string(k + 1) +
                     " notitle"
                       : "");
    }
    write_file_atomically(folder.path + "/trace.csv", csv.str());
    plot_png(folder.path + "/trace.png",
             std::string("set title 'valley (") + o.drive + "): mean position along the valley" +
                 (minibatch ? " (dashed: full-batch GD)" : "") +
                 "'\nset xlabel 't = η × step'\nset ylabel '⟨x⟩'\nset grid\nset key outside right\nplot " + plots,
             {{"l", lines.str()}}, 1000, 500);
    if (o.wall > 0) {
        std::ostringstream h;
        for (int b = 0; b < (int)cells[0].histogram.size(); ++b)
            h << o.x0 - o.wall + 2 * o.wall * (b + 0.5) / cells[0].histogram.size() << ' ' << cells[0].histogram[b]
              << ' ' << cells[0].predicted_histogram[b] << '\n';
        plot_png(folder.path + "/stationary.png",
                 "set title 'valley (" + o.drive + "): stationary distribution of x, TV distance " +
                     csv_number(cells[0].tv_distance) +
                     "'\nset xlabel 'x'\nset ylabel 'probability per bin'\nset grid\nplot $h using 1:2 with boxes fs "
                     "solid 0.4 lc rgb '#0072B2' title 'measured', "
                     "$h using 1:3 with lines lw 2 lc rgb '#D55E00' title 'Fokker-Planck: λ^{-κ/2}'",
                 {{"h", h.str()}});
    }
    folder.commit();
    for (const auto& cell : cells) {
        std::printf("  eta %-8.4g %s drift %.4e +- %.1e", cell.eta,
                    minibatch ? "" : ("Delta " + csv_number(cell.delta)).c_str(), cell.drift_velocity,
                    cell.drift_velocity_stderr);
        if (minibatch)
            std::printf(" (SGD %.4e, GD %.4e) kappa %.3g Delta %.3e", cell.raw_drift_velocity, cell.gd_drift_velocity,
                        cell.kappa_measured, cell.D_across_measured);
        else if (cell.predicted_drift_velocity < 0) std::printf(" (predicted %.4e)", cell.predicted_drift_velocity);
        else std::printf(" (no prediction: eta lambda(x0) >= 2)");
        if (o.wall > 0) std::printf(" TV %.4f", cell.tv_distance);
        std::printf(" diverged %.4f\n", cell.diverged_fraction);
        if (cell.first_divergence_step >= 0) {
            std::string rows;
            for (int r : cell.diverged_runs) rows += (rows.empty() ? "" : ",") + std::to_string(r);
            std::fprintf(stderr, "  warning: eta %g: runs diverged from step %ld (runs %s%s)\n", cell.eta,
                         cell.first_divergence_step, rows.c_str(),
                         cell.diverged_fraction * o.runs > cell.diverged_runs.size() ? ", ..." : "");
        }
    }
    std::printf("  %.1f s; wrote %s/{summary.json, trace.csv, *.png}\n", seconds, o.out.c_str());
}

}  // namespace

void add_landscape_command(CLI::App& app) {
    auto o = std::make_shared<LandscapeOptions>();
    auto engine = std::make_shared<EngineOptions>();
    CLI::App* cmd = app.add_subcommand(
        "landscape",
        "SGD on toy landscapes (experiments/sgd/README.md): the two-valley model and the degenerate valley");
    cmd->add_option("--model", o->model, "two-valley | valley")
        ->required()
        ->check(CLI::IsMember({"two-valley", "valley"}));
    cmd->add_option("--out", o->out, "run folder to write")->required();
    cmd->add_option("--eta", o->etas, "learning rate(s), comma-separated: every (eta, sigma) pair is one cell")
        ->delimiter(',')
        ->check(real_in(0, kNoLimit, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--runs", o->runs, "independent runs per cell")
        ->check(CLI::Range(1, 10000000))
        ->capture_default_str();
    cmd->add_option("--steps", o->steps, "steps per run")->check(CLI::Range(1L, 100000000L))->capture_default_str();
    cmd->add_option("--seed", o->seed, "seed of the noise (and of the valley's samples)")->capture_default_str();
    cmd->add_option("--derivatives", o->derivatives,
                    "per-run gradients and Hessians from the closed forms or from the autodiff (slower; the same "
                    "process, tested to agree); valley: Langevin and isotropic drives (minibatch always uses the autodiff)")
        ->check(CLI::IsMember({"closed-form", "autodiff"}))
        ->capture_default_str();
    cmd->add_option("--threads", o->threads,
                    "cells, and blocks of 256 runs within a cell, run in parallel on this many threads (the results do "
                    "not depend on it)")
        ->check(integer_in(1, 256))
        ->capture_default_str();
    cmd->add_option("--trace-every", o->trace_every, "steps between rows of trace.csv")
        ->check(CLI::Range(1, 100000000))
        ->capture_default_str();
    // two-valley
    cmd->add_option("--sigma", o->sigmas, "two-valley: noise strength(s) sigma >= 0, comma-separated")
        ->delimiter(',')
        ->check(real_in(0, kNoLimit))
        ->capture_default_str();
    cmd->add_option("--y0", o->y0, "two-valley: starting y (training progress); runs start at (+-x-start, y0)")
        ->check(real_in(0.0, 1e6))
        ->capture_default_str();
    cmd->add_option("--x-start", o->x_start, "two-valley: |x| at the start, half the runs on each side")
        ->check(real_in(0.0, 10.0))
        ->capture_default_str();
    cmd->add_option("--noise", o->noise, "two-valley: hessian (2 sigma H+) | hessian-squared (2 sigma H^2) | none")
        ->check(CLI::IsMember({"hessian", "hessian-squared", "none"}))
        ->capture_default_str();
    // valley
    cmd->add_option("--drive", o->drive,
                    "valley: langevin (Delta across, Delta/kappa along) | isotropic (same total variance) | minibatch "
                    "(SGD over the samples)")
        ->check(CLI::IsMember({"langevin", "isotropic", "minibatch"}))
        ->capture_default_str();
    cmd->add_option("--delta", o->deltas,
                    "valley, Langevin: noise strength(s) Delta > 0 across the valley, comma-separated")
        ->delimiter(',')
        ->check(real_in(0, kNoLimit, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--kappa", o->kappa, "valley, Langevin: anisotropy, variance ratio across / along (>= 1)")
        ->check(real_in(1.0, 1e12))
        ->capture_default_str();
    cmd->add_option("--lambda0", o->lambda0,
                    "valley: curvature across the valley at x = 0; lambda(x) = lambda0 exp(x / ell)")
        ->check(real_in(0, kNoLimit, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--ell", o->ell, "valley: length over which lambda changes by e")
        ->check(real_in(0, kNoLimit, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--x0", o->x0, "valley: starting x")->check(real_in(-100.0, 100.0))->capture_default_str();
    cmd->add_option("--wall", o->wall,
                    "valley: reflecting walls at x = x0 +- wall (0: none), for the stationary distribution")
        ->check(real_in(0.0, 100.0))
        ->capture_default_str();
    cmd->add_option("--time", o->time,
                    "valley: run every eta for the same time t = eta x steps (each cell round(time / eta) steps; "
                    "overrides --steps)")
        ->check(real_in(0, 1e9, Ends::LowOpen));
    cmd->add_option("--samples", o->samples, "valley, minibatch: number M of samples y_mu")
        ->check(CLI::Range(2, 1000000))
        ->capture_default_str();
    cmd->add_option("--sample-std", o->sample_std, "valley, minibatch: standard deviation of the y_mu")
        ->check(real_in(0, kNoLimit, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--batch", o->batch, "valley, minibatch: batch size B (with replacement)")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    add_engine_options(cmd, *engine);
    cmd->add_option("--cell", o->cell,
                    "two-valley: only cell K of the (eta, sigma) grid, with its own random stream as in the whole grid "
                    "(what each Slurm array task runs)")
        ->check(integer_in(0, kIntMax));
    cmd->callback([o, engine] {
        check_engine_options(*engine);
        if (o->model == "two-valley") return run_two_valley_command(*o, *engine);
        if (engine->engine == "slurm" || engine->report_only || o->cell >= 0)
            throw std::invalid_argument(
                "--engine slurm, --report-only and --cell are for the two-valley grid; a valley command is one "
                "process");
        run_valley_command(*o);
    });
}

}  // namespace awd
