// cmd_gan_paper.cpp: `awd gan-paper`, the figures of the effective GAN model (experiments/gan/README.md):
//   1. transition: collapse score against g2/g1 on the 2-D ring of 8 Gaussians, for several
//      discriminator learning rates, seeds averaged (mean ± standard error), and the transition
//      point (where the mean crosses ln(K)/2) against lrD;
//   2. mnist: the transition point on the first 100 MNIST training images (784 dimensions)
//      against lrD, located by bisection in g2/g1, for the authors' preset, the preset with the
//      per-sample penalty and the project's earlier settings, with the end states of every seed;
//   3. damping: energy distance to the target against time for several penalty strengths alpha,
//      and the time to converge (the first record after which it stays below a threshold);
//   4. spectral: the ring8 and mnist100 transitions with a ReLU and a tanh discriminator (the
//      frequency principle: their width and position).
// Every run is one `awd gan` command (gan_flags) writing its own folder RUNS/PART/CELL/seedS (--runs,
// default OUT/runs); the runs execute on an engine (experiments/common/engine.h: here, --threads at
// a time, or as a Slurm job array), and the report builds the CSVs, figures and OUT/gan_paper.json from those
// folders only, the same way for both engines. The mnist bisection is replayed from the cells
// present (replay_bisection): each pass runs the next stage's missing cells; on Slurm the report
// job is this command again, which submits the next stage until the bisection is complete.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "experiments/common/commands.h"
#include "experiments/common/engine.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/seed_stats.h"
#include "experiments/gan/gan.h"
#include "experiments/gan/gan_grid.h"
#include "nn/files.h"

namespace awd {

namespace {

struct PaperOptions {
    std::string out = "runs/gan-paper", parts = "transition,mnist,damping,spectral",
                mnist_settings = "authors,per-sample,earlier", ratios,
                runs;  // the run folders and the engine's files (default OUT/runs)
    int threads = 2, seeds = 10, mnist_seeds = 3, mnist_steps = 1000, mnist_rounds = 3, ring8_steps = 2000;
    bool full = false;
    bool slurm_report = false;  // this is the report job of --engine slurm (it may submit the next bisection stage)
};

// One `awd gan` run of the grid: its name (PART/CELL/seedS) is its folder under OUT/runs.
struct PaperRun {
    std::string name, target;
    GanConfig config;
    int steps = 0, record_every = 0;
};

std::string runs_folder(const PaperOptions& o) { return o.runs.empty() ? o.out + "/runs" : o.runs; }
std::string run_dir(const PaperOptions& o, const PaperRun& r) { return runs_folder(o) + "/" + r.name; }

// A run's summary.json (awd gan writes its folder as a unit: present means complete).
nlohmann::json read_run(const PaperOptions& o, const PaperRun& r) {
    return nlohmann::json::parse(read_file(run_dir(o, r) + "/summary.json"));
}

// A run folder left by a grid of other settings (e.g. another --ring8-steps into the same --out)
// has the same name: refused rather than counted.
void check_settings(const PaperOptions& o, const PaperRun& r) {
    const nlohmann::json s = read_run(o, r);
    const GanConfig& c = r.config;
    const std::pair<const char*, nlohmann::json> wanted[] = {{"target", r.target},
                                                             {"steps", r.steps},
                                                             {"record_every", r.record_every},
                                                             {"seed", c.seed},
                                                             {"g1", c.g1},
                                                             {"g2", c.g2},
                                                             {"lr_g", c.lr_g},
                                                             {"lr_d", c.lr_d},
                                                             {"penalty", c.penalty},
                                                             {"particles", c.particles},
                                                             {"activation", activation_name(c.activation)},
                                                             {"penalty_scale", penalty_scale_name(c.penalty_scale)}};
    for (const auto& [key, value] : wanted)
        if (s.value(key, nlohmann::json()) != value)
            throw std::runtime_error(run_dir(o, r) + " holds a run with other settings (" + key + " " +
                                     s.value(key, nlohmann::json()).dump() + ", this grid's " + value.dump() +
                                     "); remove it or use another --out or --runs");
}

GridRun grid_run(const PaperOptions& o, const PaperRun& r) {
    const std::string dir = run_dir(o, r);
    const bool done = file_exists(dir + "/summary.json");
    if (done) check_settings(o, r);
    return {r.name, dir + ".log",
            shell_quote(awd_binary()) + " gan" + gan_flags(r.config, r.target, r.steps, r.record_every) +
                " --snapshots 0 --trajectory-figure false --out " + shell_quote(dir),
            done};
}

EndState parse_end_state(const std::string& name, const std::string& where) {
    for (EndState s : {EndState::Separated, EndState::NeverSeparated, EndState::RanAway, EndState::Collapsed})
        if (name == end_state_name(s)) return s;
    throw std::runtime_error(where + ": end_state '" + name + "' is not an end state");
}

// A run that stopped at a non-finite step counts with its last good state, as awd gan keeps it.
void report_stopped(const nlohmann::json& summary, const std::string& name) {
    if (summary.value("status", "") == "stopped")
        std::fprintf(stderr, "  %s stopped early (its last good state counts): %s\n", name.c_str(),
                     summary.value("error", "").c_str());
}

std::vector<double> log_spaced(double lo, double hi, int n) {
    std::vector<double> v;
    for (int k = 0; k < n; ++k) v.push_back(n == 1 ? lo : lo * std::pow(hi / lo, (double)k / (n - 1)));
    return v;
}

// Where the curve y(x) first rises through `level` (linear interpolation); -1 when it never does.
double crossing(const std::vector<double>& x, const std::vector<double>& y, double level) {
    if (!y.empty() && y[0] >= level) return x[0];
    for (size_t k = 1; k < x.size(); ++k)
        if (y[k - 1] < level && y[k] >= level)
            return x[k - 1] + (level - y[k - 1]) * (x[k] - x[k - 1]) / (y[k] - y[k - 1]);
    return -1;
}

nlohmann::json config_json(const GanConfig& c, const GanTarget& t, int steps) {
    nlohmann::json j = gan_config_json(c);
    j["target"] = t.name, j["steps"] = steps;
    return j;
}

// Collapse score against g2/g1 for every lrD: `seeds` runs per (lrD, g2/g1) cell, their final scores averaged.
struct PhaseGrid {
    std::string name, target;  // name: the runs' folder under OUT/runs, e.g. transition, spectral/ring8_relu
    GanConfig base;
    std::vector<double> ratios, lr_d;
    int seeds = 0, steps = 0;
};

std::vector<PaperRun> phase_runs(const PhaseGrid& g) {
    std::vector<PaperRun> runs;
    for (double lr : g.lr_d)
        for (double r : g.ratios)
            for (int s = 0; s < g.seeds; ++s) {
                GanConfig c = g.base;
                c.lr_d = lr, c.g2 = r * c.g1, c.seed = (uint64_t)s;
                runs.push_back(
                    {g.name + "/lrD" + exact_number(lr) + "_ratio" + exact_number(r) + "/seed" + std::to_string(s),
                     g.target, c, g.steps, g.steps});
            }
    return runs;
}

struct PhaseDiagram {
    std::vector<double> ratios, lr_d;
    std::vector<std::vector<SeedStats>> score;  // [lr_d][ratio]
    std::vector<double> transition;             // per lr_d: where the mean crosses ln K / 2
};

PhaseDiagram phase_diagram(const PaperOptions& o, const PhaseGrid& g, const GanTarget& target) {
    const std::vector<PaperRun> runs = phase_runs(g);
    PhaseDiagram d{g.ratios, g.lr_d, {}, {}};
    size_t at = 0;
    for (size_t a = 0; a < g.lr_d.size(); ++a) {
        d.score.emplace_back();
        std::vector<double> means;
        for (size_t b = 0; b < g.ratios.size(); ++b) {
            std::vector<double> v;
            for (int s = 0; s < g.seeds; ++s, ++at) {
                const nlohmann::json summary = read_run(o, runs[at]);
                report_stopped(summary, runs[at].name);
                v.push_back(summary.at("collapse_score").get<double>());
            }
            d.score.back().push_back(seed_stats(v));
            means.push_back(d.score.back().back().mean);
        }
        d.transition.push_back(crossing(g.ratios, means, std::log((double)target.size()) / 2));
    }
    return d;
}

void write_phase_diagram(const std::string& out, const std::string& name, const PhaseDiagram& d, const GanTarget& t,
                         int seeds) {
    std::ostringstream csv, curves, points;
    csv.precision(10), curves.precision(10), points.precision(10);
    csv << "lr_d,g2_over_g1,collapse_mean,collapse_standard_error,seeds\n";
    std::string plot = "plot ";
    for (size_t a = 0; a < d.lr_d.size(); ++a) {
        for (size_t b = 0; b < d.ratios.size(); ++b) {
            csv << d.lr_d[a] << ',' << d.ratios[b] << ',' << d.score[a][b].mean << ',' << d.score[a][b].standard_error
                << ',' << seeds << '\n';
            curves << d.ratios[b] << ' ' << d.score[a][b].mean << ' ' << d.score[a][b].standard_error << '\n';
        }
        curves << "\n\n";
        char title[64];
        std::snprintf(title, sizeof title, "lr_D = %.2g", d.lr_d[a]);
        plot += std::string(a ? ", " : "") + "$c index " + std::to_string(a) +
            " using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.6 lc " + std::to_string(a % 8 + 1) + " title '" + title + "'";
        if (d.transition[a] >= 0) points << d.lr_d[a] << ' ' << d.transition[a] << '\n';
    }
    write_file_atomically(out + "/" + name + ".csv", csv.str());
    char lnk[64];
    std::snprintf(lnk, sizeof lnk, "%.4f", std::log((double)t.size()));
    plot_png(out + "/" + name + ".png",
             "set title '" + t.name + ": collapse score at the end (mean ± s.e. over " + std::to_string(seeds) +
                 " seeds)'\nset xlabel 'coupling ratio g_2 / g_1 (dimensionless)'\n"
                 "set ylabel 'collapse score ln K − H(p) (nats)'\nset grid\nset key outside right\nset arrow from "
                 "graph 0, first " +
                 lnk + " to graph 1, first " + lnk + " nohead dt 2\n" + plot,
             {{"c", curves.str()}});
    if (!points.str().empty())
        plot_png(out + "/" + name + "_point.png",
                 "set title '" + t.name +
                     ": transition point (mean collapse score crosses ln(K)/2)'\nset xlabel 'discriminator learning "
                     "rate lr_D (per step)'\n"
                     "set ylabel 'g_2 / g_1 at the transition (dimensionless)'\nset logscale x\nset grid\n"
                     "plot $p with linespoints lw 2 pt 7 lc 1 notitle",
                 {{"p", points.str()}});
}

nlohmann::json phase_json(const PhaseDiagram& d) {
    nlohmann::json j = {{"g2_over_g1", d.ratios},
                        {"lr_d", d.lr_d},
                        {"collapse_mean", nlohmann::json::array()},
                        {"collapse_standard_error", nlohmann::json::array()},
                        {"transition_point", nlohmann::json::array()}};
    for (size_t a = 0; a < d.lr_d.size(); ++a) {
        std::vector<double> m, e;
        for (const SeedStats& x : d.score[a]) m.push_back(x.mean), e.push_back(x.standard_error);
        j["collapse_mean"].push_back(m);
        j["collapse_standard_error"].push_back(e);
        j["transition_point"].push_back(d.transition[a] >= 0 ? nlohmann::json(d.transition[a])
                                                             : nlohmann::json("none"));
    }
    return j;
}

GanConfig mixture_base() {
    GanConfig c;
    c.particles = 32, c.g1 = 1, c.lr_g = 0.01, c.hidden = {64, 64}, c.init_std = 0.1;
    return c;
}

std::vector<double> transition_ratios(const PaperOptions& o) {
    if (o.ratios.empty()) return {0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98};
    std::vector<double> ratios;
    std::stringstream in(o.ratios);
    for (std::string item; std::getline(in, item, ',');) {
        size_t used = 0;
        double r = NAN;
        try {
            r = std::stod(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || !(r >= 0 && r <= 1))
            throw CLI::ValidationError("--ratios",
                                       "'" + item + "' is not a ratio g2/g1 in [0, 1] (e.g. --ratios 0,0.98)");
        ratios.push_back(r);
    }
    return ratios;
}

PhaseGrid transition_grid(const PaperOptions& o) {
    return {"transition", "ring8",      mixture_base(), transition_ratios(o), {0.001, 0.003, 0.01, 0.03},
            o.seeds,      o.ring8_steps};
}

nlohmann::json transition_part(const PaperOptions& o) {
    static const GanTarget target = make_target("ring8");
    const PhaseGrid g = transition_grid(o);
    const PhaseDiagram d = phase_diagram(o, g, target);
    write_phase_diagram(o.out, "transition", d, target, o.seeds);
    nlohmann::json j = phase_json(d);
    j["settings"] = config_json(g.base, target, g.steps);
    j["seeds"] = o.seeds;
    return j;
}

// ---- mnist100: where the transition sits, per setting and lrD, by bisection ----------------

// A setting of the mnist100 comparison: the authors' preset, the preset with the per-sample
// penalty, and the project's earlier settings.
struct MnistSetting {
    std::string name, description;
    GanConfig base;
};

std::vector<MnistSetting> mnist_settings() {
    const GanConfig authors = authors_mnist100_config();
    GanConfig per_sample = authors;
    per_sample.penalty_scale = PenaltyScale::PerSample;
    GanConfig earlier;
    earlier.particles = 100, earlier.g1 = 1, earlier.lr_g = 1.0, earlier.weight_decay = 1e-4, earlier.penalty = 1.25,
    earlier.hidden = {64, 64};
    earlier.optimizer.kind = OptimizerKind::Adam, earlier.init_std = 0.1;
    return {{"authors", "the authors' preset (penalty lambda/B^2 per particle)", authors},
            {"per-sample", "the preset with the per-sample penalty lambda", per_sample},
            {"earlier",
             "the project's earlier settings (lr_g 1, log-D critic 784-64-64-1, R1 on data, 1 critic step, start 0.1)",
             earlier}};
}

nlohmann::json mnist_results(const std::string& out, const GanTarget& target, const std::vector<MnistSetting>& settings,
                             const LocatedGrid& located, const std::vector<double>& lr_d, int seeds, int steps,
                             int rounds, double lo, double hi) {
    std::ostringstream csv, points, cells;
    csv.precision(10), points.precision(10), cells.precision(10);
    csv << "setting,lr_d,g2_over_g1,collapse_mean,collapse_standard_error,seeds,separated,never_separated,ran_away,"
           "collapsed\n";
    nlohmann::json j = {{"lr_d", lr_d},
                        {"seeds", seeds},
                        {"steps", steps},
                        {"bisection_rounds", rounds},
                        {"bracket", {lo, hi}},
                        {"level", std::log((double)target.size()) / 2},
                        {"settings", nlohmann::json::object()}};
    std::string point_plot = "plot ", cell_plot = "plot ";
    int index = 0;
    for (size_t a = 0; a < settings.size(); ++a) {
        nlohmann::json sj = {{"description", settings[a].description},
                             {"config", config_json(settings[a].base, target, steps)},
                             {"transition_point", nlohmann::json::array()},
                             {"verdict", nlohmann::json::array()},
                             {"cells", nlohmann::json::array()}};
        std::map<std::string, int> high_states;  // end states of the seeds that scored >= ln K / 2
        for (size_t b = 0; b < lr_d.size(); ++b) {
            const Located& l = located[a][b];
            sj["transition_point"].push_back(l.point > 0 ? nlohmann::json(l.point)
                                                         : nlohmann::json(nullptr));  // null: not located yet
            sj["verdict"].push_back(l.verdict);
            // third column: 0 located inside the bracket, +1 above its top, -1 below its bottom (a bound, not a point)
            if (l.point > 0)
                points << lr_d[b] << ' ' << l.point << ' '
                       << (l.verdict.rfind("above", 0) == 0       ? 1
                               : l.verdict.rfind("below", 0) == 0 ? -1
                                                                  : 0)
                       << '\n';
            std::vector<BisectionCell> sorted = l.cells;
            std::sort(sorted.begin(), sorted.end(),
                      [](const BisectionCell& x, const BisectionCell& y) { return x.ratio < y.ratio; });
            for (const BisectionCell& c : sorted) {
                const SeedStats st = seed_stats(c.scores);
                int counts[4] = {0, 0, 0, 0};
                nlohmann::json states = nlohmann::json::array();
                for (size_t s = 0; s < c.states.size(); ++s) {
                    ++counts[(int)c.states[s]];
                    states.push_back(end_state_name(c.states[s]));
                    if (c.scores[s] >= std::log((double)target.size()) / 2) ++high_states[end_state_name(c.states[s])];
                }
                csv << settings[a].name << ',' << lr_d[b] << ',' << c.ratio << ',' << st.mean << ','
                    << st.standard_error << ',' << seeds << ',' << counts[(int)EndState::Separated] << ','
                    << counts[(int)EndState::NeverSeparated] << ',' << counts[(int)EndState::RanAway] << ','
                    << counts[(int)EndState::Collapsed] << '\n';
                sj["cells"].push_back({{"lr_d", lr_d[b]},
                                       {"g2_over_g1", c.ratio},
                                       {"collapse_mean", st.mean},
                                       {"collapse_standard_error", st.standard_error},
                                       {"scores", c.scores},
                                       {"end_states", states}});
                cells << c.ratio << ' ' << st.mean << ' ' << st.standard_error << '\n';
            }
            cells << "\n\n";
            char title[96];
            std::snprintf(title, sizeof title, "%s, lr_D %.2g", settings[a].name.c_str(), lr_d[b]);
            cell_plot += std::string(index ? ", " : "") + "$c index " + std::to_string(index) +
                " using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.6 lc " + std::to_string(a + 1) + " dt " +
                std::to_string(b + 1) + " title '" + title + "'";
            ++index;
        }
        points << "\n\n";
        sj["end_states_of_collapsed_seeds"] = high_states;
        const std::string colour = " lc " + std::to_string(a % 8 + 1), block = "$p index " + std::to_string(a);
        point_plot += std::string(a ? ", " : "") + block + " using 1:($3 == 0 ? $2 : NaN) with linespoints lw 2 pt 7" +
            colour + " title '" + settings[a].name + "', " + block +
            " using 1:($3 > 0 ? $2 : NaN) with points pt 9 ps 1.8" + colour + " notitle, " + block +
            " using 1:($3 < 0 ? $2 : NaN) with points pt 11 ps 1.8" + colour + " notitle";
        j["settings"][settings[a].name] = sj;
    }
    // the authors' published transition, as read off their runs (issue 21): about 0.5 near lrD 1e-4, 0.9 near 1e-3
    point_plot +=
        ", $authors with points pt 6 ps 2 lw 2 lc rgb 'black' title 'authors (approximate)', "
        "keyentry with points pt 9 ps 1.8 lc rgb 'black' title 'φ* above the bracket (bound)', "
        "keyentry with points pt 11 ps 1.8 lc rgb 'black' title 'φ* below the bracket (bound)'";
    write_file_atomically(out + "/mnist.csv", csv.str());
    plot_png(out + "/mnist.png",
             "set title 'mnist100: collapse score at T = " + std::to_string(steps) + " (mean ± s.e., " +
                 std::to_string(seeds) +
                 " seeds), cells the bisection evaluated'\nset xlabel 'coupling ratio g_2 / g_1 (dimensionless)'\n"
                 "set ylabel 'collapse score ln K − H(p) (nats)'\nset "
                 "logscale x\nset grid\nset key outside right\n" +
                 cell_plot,
             {{"c", cells.str()}}, 1200, 600);
    plot_png(out + "/mnist_point.png",
             "set title 'mnist100: transition point φ* (mean score crosses ln(K)/2) against lr_D'\nset xlabel "
             "'discriminator learning rate lr_D (per step)'\n"
             "set ylabel 'φ* = g_2 / g_1 at the transition (dimensionless)'\nset logscale xy\nset yrange "
             "[0.005:1.5]\nset grid\nset key "
             "outside right\n" +
                 point_plot,
             {{"p", points.str()}, {"authors", "1e-4 0.5\n1e-3 0.9\n"}}, 1000, 550);
    return j;
}

// The mnist100 bisection's grid: which settings, lrD values, seeds and steps; its cells are runs of `seeds` seeds.
struct MnistGrid {
    std::vector<MnistSetting> settings;
    std::vector<double> lr_d;
    int seeds = 0, steps = 0, rounds = 0;
    double lo = 0.01, hi = 0.977;
};

MnistGrid mnist_grid(const PaperOptions& o) {
    const std::vector<MnistSetting> all = mnist_settings();
    MnistGrid g;
    std::stringstream names(o.mnist_settings);
    for (std::string name; std::getline(names, name, ',');) {
        bool found = false;
        for (const MnistSetting& m : all)
            if (m.name == name) g.settings.push_back(m), found = true;
        if (!found)
            throw CLI::ValidationError("--mnist-settings",
                                       "unknown setting '" + name + "' (expected authors, per-sample or earlier)");
    }
    g.seeds = o.mnist_seeds, g.steps = o.mnist_steps, g.rounds = o.full ? 5 : o.mnist_rounds;
    g.lr_d = log_spaced(1e-4, 2.6e-3, o.full ? 6 : 4);
    return g;
}

std::vector<PaperRun> mnist_cell_runs(const MnistGrid& g, const WantedCell& w) {
    std::vector<PaperRun> runs;
    for (int s = 0; s < g.seeds; ++s) {
        GanConfig c = g.settings[w.setting].base;
        c.lr_d = g.lr_d[w.lr_d], c.g2 = w.ratio * c.g1, c.seed = (uint64_t)s;
        runs.push_back({"mnist/" + g.settings[w.setting].name + "/lrD" + exact_number(c.lr_d) + "_ratio" +
                            exact_number(w.ratio) + "/seed" + std::to_string(s),
                        "mnist100", c, g.steps, g.steps});
    }
    return runs;
}

// The bisection as far as the run folders present take it.
BisectionState mnist_state(const PaperOptions& o, const MnistGrid& g) {
    static const GanTarget target = make_target("mnist100");
    return replay_bisection(
        g.settings.size(), g.lr_d.size(), g.rounds, g.lo, g.hi, std::log((double)target.size()) / 2,
        [&](const WantedCell& w) -> std::optional<BisectionCell> {
            const std::vector<PaperRun> runs = mnist_cell_runs(g, w);
            BisectionCell cell{w.ratio, {}, {}};
            for (const PaperRun& r : runs) {
                if (!file_exists(run_dir(o, r) + "/summary.json")) return std::nullopt;
                const nlohmann::json summary = read_run(o, r);
                report_stopped(summary, r.name);
                cell.scores.push_back(summary.at("collapse_score").get<double>());
                cell.states.push_back(parse_end_state(summary.at("end_state").get<std::string>(), run_dir(o, r)));
            }
            return cell;
        });
}

// The cells evaluated so far and the stage's missing ones, as runs.
std::vector<PaperRun> mnist_runs(const MnistGrid& g, const BisectionState& state) {
    std::vector<PaperRun> runs;
    auto add = [&](const WantedCell& w) {
        const std::vector<PaperRun> cell = mnist_cell_runs(g, w);
        runs.insert(runs.end(), cell.begin(), cell.end());
    };
    for (size_t a = 0; a < state.located.size(); ++a)
        for (size_t b = 0; b < state.located[a].size(); ++b)
            for (const BisectionCell& c : state.located[a][b].cells) add({a, b, c.ratio});
    for (const WantedCell& w : state.wanted) add(w);
    return runs;
}

// The part's files and its entry of gan_paper.json ("complete": false until the bisection's last stage).
nlohmann::json mnist_part(const PaperOptions& o, const MnistGrid& g, const BisectionState& state) {
    static const GanTarget target = make_target("mnist100");
    nlohmann::json j =
        mnist_results(o.out, target, g.settings, state.located, g.lr_d, g.seeds, g.steps, g.rounds, g.lo, g.hi);
    j["complete"] = state.complete;
    return j;
}

// ---- the frequency principle: the transition against the discriminator's activation -------

// Width and position of a transition curve: where the mean score crosses 1/4, 1/2 and 3/4 of ln K.
nlohmann::json transition_shape(const PhaseDiagram& d, size_t a, double ln_k) {
    std::vector<double> means;
    for (const SeedStats& x : d.score[a]) means.push_back(x.mean);
    const double q1 = crossing(d.ratios, means, ln_k / 4), q2 = crossing(d.ratios, means, ln_k / 2),
                 q3 = crossing(d.ratios, means, 3 * ln_k / 4);
    auto or_none = [](double v) { return v >= 0 ? nlohmann::json(v) : nlohmann::json("none"); };
    return {{"position", or_none(q2)},
            {"quarter", or_none(q1)},
            {"three_quarters", or_none(q3)},
            {"width", q1 >= 0 && q3 >= 0 ? nlohmann::json(q3 - q1) : nlohmann::json("none")}};
}

// ring8: the transition part's setting at lrD 0.01; mnist100: the project's earlier settings (the
// preset's cost rules a grid of it out here) at lrD 1e-3, 2 seeds, T = 1000. One grid per activation.
std::vector<PhaseGrid> spectral_grids(const PaperOptions& o) {
    std::vector<PhaseGrid> grids;
    for (Activation act : {Activation::Relu, Activation::Tanh}) {
        GanConfig base = mixture_base();
        base.activation = act;
        grids.push_back({std::string("spectral/ring8_") + activation_name(act),
                         "ring8",
                         base,
                         {0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 0.98},
                         {0.01},
                         o.seeds,
                         o.ring8_steps});
    }
    for (Activation act : {Activation::Relu, Activation::Tanh}) {
        GanConfig base = mnist_settings()[2].base;
        base.activation = act;
        grids.push_back({std::string("spectral/mnist_") + activation_name(act),
                         "mnist100",
                         base,
                         {0, 0.01, 0.02, 0.03, 0.046, 0.06, 0.077, 0.1, 0.128, 0.212},
                         {1e-3},
                         2,
                         1000});
    }
    return grids;
}

nlohmann::json spectral_part(const PaperOptions& o) {
    nlohmann::json j = {{"activations", {"relu", "tanh"}}};
    for (const PhaseGrid& g : spectral_grids(o)) {
        static const GanTarget ring8 = make_target("ring8"), mnist100 = make_target("mnist100");
        const GanTarget& target = g.target == "ring8" ? ring8 : mnist100;
        const std::string family = g.target == "ring8" ? "ring8" : "mnist100", act = activation_name(g.base.activation);
        const PhaseDiagram d = phase_diagram(o, g, target);
        write_phase_diagram(o.out, std::string(g.target == "ring8" ? "spectral_ring8_" : "spectral_mnist_") + act, d,
                            target, g.seeds);
        nlohmann::json one = transition_shape(d, 0, std::log((double)target.size()));
        one["collapse_mean"] = phase_json(d)["collapse_mean"][0];
        nlohmann::json& part = j[family];
        part["g2_over_g1"] = g.ratios, part["lr_d"] = g.lr_d[0], part["seeds"] = g.seeds;
        part[act] = one;
        part["settings"] = config_json(g.base, target, g.steps);
    }
    return j;
}

// ---- critical damping: the energy distance over time against the penalty strength -----------

struct DampingGrid {
    GanConfig base;
    int steps = 0, record_every = 20, seeds = 3;
    double threshold = 0.05;
    std::vector<double> alphas = {0, 0.03, 0.1, 0.3, 1, 3, 10, 30};
};

// ring8 at g2 = 0, lrD 0.01, for 3 T of the transition part (6000 steps at the default T = 2000).
DampingGrid damping_grid(const PaperOptions& o) {
    DampingGrid g;
    g.base = mixture_base();
    g.base.g2 = 0, g.base.lr_d = 0.01, g.base.penalty_on = PenaltyOn::Data;
    g.steps = 3 * o.ring8_steps;
    return g;
}

std::vector<PaperRun> damping_runs(const DampingGrid& g) {
    std::vector<PaperRun> runs;
    for (double a : g.alphas)
        for (int s = 0; s < g.seeds; ++s) {
            GanConfig c = g.base;
            c.penalty = a, c.seed = (uint64_t)s;
            runs.push_back(
                {"damping/alpha" + exact_number(a) + "/seed" + std::to_string(s), "ring8", c, g.steps, g.record_every});
        }
    return runs;
}

nlohmann::json damping_part(const PaperOptions& o) {
    static const GanTarget target = make_target("ring8");
    const DampingGrid g = damping_grid(o);
    const std::vector<PaperRun> runs = damping_runs(g);
    const int seeds = g.seeds, steps = g.steps;
    // per run: (step, energy distance) at every record, from summary.json's exact trajectory
    auto trajectory = [&](size_t k) {
        const nlohmann::json summary = read_run(o, runs[k]);
        report_stopped(summary, runs[k].name);
        const nlohmann::json& t = summary.at("trajectory");
        return std::make_pair(t.at("step").get<std::vector<int>>(), t.at("energy_distance").get<std::vector<double>>());
    };
    std::ostringstream csv, curves, times;
    csv.precision(10), curves.precision(10), times.precision(10);
    csv << "alpha,step,energy_distance_mean\n";
    nlohmann::json t_mean = nlohmann::json::array(), t_all = nlohmann::json::array();
    std::string plot = "plot ";
    for (size_t a = 0; a < g.alphas.size(); ++a) {
        const std::vector<int> first = trajectory(a * seeds).first;
        std::vector<double> mean(first.size(), 0.0), converge;
        for (int s = 0; s < seeds; ++s) {
            const auto [step, energy] = trajectory(a * seeds + s);
            int t = -1;  // first record after which the energy distance stays below the threshold
            for (size_t k = 0; k < step.size(); ++k) {
                if (k < mean.size()) mean[k] += energy[k] / seeds;
                if (energy[k] >= g.threshold) t = -1;
                else if (t < 0) t = step[k];
            }
            converge.push_back(t < 0 || step.back() < steps ? NAN : t);
        }
        for (size_t k = 0; k < first.size(); ++k) {
            csv << g.alphas[a] << ',' << first[k] << ',' << mean[k] << '\n';
            curves << first[k] << ' ' << std::max(mean[k], 1e-6) << '\n';
        }
        curves << "\n\n";
        plot += std::string(a ? ", " : "") + "$c index " + std::to_string(a) + " with lines lw 2 lc " +
            std::to_string(a % 8 + 1) + " title 'α = " + std::to_string(g.alphas[a]).substr(0, 5) + "'";
        bool all_converged = true;
        for (double t : converge) all_converged &= std::isfinite(t);
        const SeedStats m = all_converged ? seed_stats(converge) : SeedStats{NAN, NAN, NAN};
        if (all_converged) times << std::max(g.alphas[a], 0.01) << ' ' << m.mean << ' ' << m.standard_error << '\n';
        t_mean.push_back(all_converged ? nlohmann::json(m.mean)
                                       : nlohmann::json("not within " + std::to_string(steps) + " steps"));
        nlohmann::json each = nlohmann::json::array();
        for (double t : converge) each.push_back(std::isfinite(t) ? nlohmann::json(t) : nlohmann::json("none"));
        t_all.push_back(each);
    }
    write_file_atomically(o.out + "/damping.csv", csv.str());
    plot_png(o.out + "/damping.png",
             "set title 'ring8, g_2 = 0: energy distance to the target (mean of " + std::to_string(seeds) +
                 " seeds)'\nset xlabel 'generator step'\n"
                 "set ylabel 'energy distance (target coordinate units)'\nset logscale y\nset grid\n"
                 "set key outside right\n" +
                 plot,
             {{"c", curves.str()}}, 1000, 500);
    plot_png(o.out + "/convergence_time.png",
             "set title 'time for the energy distance to stay below " + std::to_string(g.threshold).substr(0, 4) +
                 " (α = 0 drawn at 0.01)'\n"
                 "set xlabel 'penalty strength α'\nset ylabel 'time to converge (generator steps)'\nset logscale x\n"
                 "set grid\n" +
                 (times.str().empty()  // an empty frame that says so: gnuplot refuses to plot no points
                      ? "set xrange [0.01:" + std::to_string(std::max(g.alphas.back(), 0.1)) + "]\nset yrange [0:" +
                            std::to_string(steps) + "]\nset label 'no α converged in every seed within " +
                            std::to_string(steps) + " steps' at graph 0.5, 0.5 center\nplot NaN notitle"
                      : "plot $t using 1:2:3 with yerrorlines lw 2 pt 7 lc 1 notitle"),
             {{"t", times.str()}});
    return {{"settings", config_json(g.base, target, steps)},
            {"alpha", g.alphas},
            {"seeds", seeds},
            {"threshold", g.threshold},
            {"record_every", g.record_every},
            {"time_to_converge_mean", t_mean},
            {"time_to_converge_per_seed", t_all}};
}

// Numbers the claims read that compare two measured values (claims.json compares one value with
// a constant): recomputed from whatever parts gan_paper.json holds.
nlohmann::json derived(const nlohmann::json& report) {
    nlohmann::json d = nlohmann::json::object();
    auto number = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
    if (report.contains("transition")) {
        const auto& tp = report["transition"]["transition_point"];
        if (tp.size() > 1 && tp.front().is_number() && tp.back().is_number())
            d["ring8_transition_growth"] = tp.back().get<double>() / tp.front().get<double>();
    }
    if (report.contains("damping")) {
        const auto& t = report["damping"]["time_to_converge_mean"];
        const auto& alpha = report["damping"]["alpha"];
        size_t best = 0;
        for (size_t k = 0; k < t.size(); ++k)
            if (t[k].is_number() && (!t[best].is_number() || t[k].get<double>() < t[best].get<double>())) best = k;
        if (t.size() > 0 && t[best].is_number()) {
            d["damping_fastest_alpha"] = alpha[best];
            d["damping_fastest_alpha_is_interior"] = best > 0 && best + 1 < t.size() ? 1 : 0;
            if (t[0].is_number()) d["damping_speedup_over_alpha_0"] = t[0].get<double>() / t[best].get<double>();
        }
    }
    if (report.contains("mnist"))
        for (const auto& [name, setting] : report["mnist"]["settings"].items()) {
            if (!setting.is_object() || !setting.contains("transition_point")) continue;
            const auto& tp = setting["transition_point"];
            const double first = tp.empty() ? NAN : number(tp.front()), last = tp.empty() ? NAN : number(tp.back());
            if (first > 0 && last > 0) d["mnist_" + name + "_phi_star_growth"] = last / first;
        }
    if (report.contains("spectral") && report["spectral"].contains("ring8")) {
        const auto& r = report["spectral"]["ring8"];
        const double relu = number(r["relu"]["position"]), tanh = number(r["tanh"]["position"]);
        const double wr = number(r["relu"]["width"]), wt = number(r["tanh"]["width"]);
        if (relu > 0 && tanh > 0) d["ring8_position_relu_over_tanh"] = relu / tanh;
        if (wr > 0 && wt > 0) d["ring8_width_tanh_over_relu"] = wt / wr;
    }
    return d;
}

const char* const kParts[] = {"transition", "mnist", "damping", "spectral", "derived"};

std::vector<std::string> parse_parts(const std::string& text) {
    std::vector<std::string> parts;
    std::stringstream in(text);
    for (std::string part; std::getline(in, part, ',');) {
        if (std::find(std::begin(kParts), std::end(kParts), part) == std::end(kParts))
            throw CLI::ValidationError(
                "--parts", "unknown part '" + part + "' (expected transition, mnist, damping, spectral or derived)");
        parts.push_back(part);
    }
    return parts;
}

// Every run the parts want now: the fixed grids whole, the mnist bisection up to its current stage.
struct Plan {
    std::vector<PaperRun> runs;
    std::optional<MnistGrid> mnist;
    BisectionState mnist_state;
};

Plan plan_runs(const PaperOptions& o, const std::vector<std::string>& parts) {
    Plan p;
    auto add = [&](const std::vector<PaperRun>& runs) { p.runs.insert(p.runs.end(), runs.begin(), runs.end()); };
    for (const std::string& part : parts) {
        if (part == "transition") add(phase_runs(transition_grid(o)));
        else if (part == "damping") add(damping_runs(damping_grid(o)));
        else if (part == "spectral")
            for (const PhaseGrid& g : spectral_grids(o)) add(phase_runs(g));
        else if (part == "mnist") {
            p.mnist = mnist_grid(o);
            p.mnist_state = mnist_state(o, *p.mnist);
            add(mnist_runs(*p.mnist, p.mnist_state));
        }
    }
    return p;
}

std::vector<GridRun> grid_runs(const PaperOptions& o, const Plan& p) {
    std::vector<GridRun> runs;
    for (const PaperRun& r : p.runs) runs.push_back(grid_run(o, r));
    return runs;
}

// The mnist part between stages: its files and gan_paper.json's "mnist" with "complete": false.
void write_partial_mnist(const PaperOptions& o, const Plan& p) {
    if (!p.mnist || p.mnist_state.complete) return;
    const std::string report_path = o.out + "/gan_paper.json";
    nlohmann::json report =
        file_exists(report_path) ? nlohmann::json::parse(read_file(report_path)) : nlohmann::json::object();
    report["mnist"] = mnist_part(o, *p.mnist, p.mnist_state);
    write_json_file(report_path, report);
    std::printf("  mnist bisection: stage %d of %d needs %zu cells\n", p.mnist_state.stage, p.mnist->rounds,
                p.mnist_state.wanted.size());
}

// The report: every part's files and gan_paper.json from the run folders, once every run is there.
void report(const PaperOptions& o, const std::vector<std::string>& parts, const Plan& p) {
    require_every_run(runs_folder(o), grid_runs(o, p), "runs", o.out + "/gan_paper.json");
    const std::string report_path = o.out + "/gan_paper.json";
    nlohmann::json report =
        file_exists(report_path) ? nlohmann::json::parse(read_file(report_path)) : nlohmann::json::object();
    for (const std::string& part : parts) {
        if (part == "derived") {
            report["derived"] = derived(report);
            continue;
        }
        std::printf("awd gan-paper: %s\n", part.c_str());
        std::fflush(stdout);
        nlohmann::json j = part == "transition" ? transition_part(o)
            : part == "mnist"                   ? mnist_part(o, *p.mnist, p.mnist_state)
            : part == "damping"                 ? damping_part(o)
                                                : spectral_part(o);
        double seconds = 0;  // the part's runs, each on one core
        for (const PaperRun& r : p.runs)
            if (r.name.rfind(part + "/", 0) == 0) seconds += read_run(o, r).at("seconds").get<double>();
        j["seconds"] = seconds;
        j["threads"] = o.threads;
        report[part] = j;
        report["derived"] = derived(report);
        std::printf("  %s: %.0f s of runs\n", part.c_str(), seconds);
    }
    write_json_file(report_path, report);
}

// The command again, as the Slurm report job runs it.
std::string paper_command(const PaperOptions& o, const EngineOptions& e) {
    return shell_quote(awd_binary()) + " gan-paper --out " + shell_quote(o.out) + " --runs " +
        shell_quote(runs_folder(o)) + " --parts " + shell_quote(o.parts) + " --seeds " + std::to_string(o.seeds) +
        " --threads " + std::to_string(o.threads) + " --mnist-settings " + shell_quote(o.mnist_settings) +
        " --mnist-seeds " + std::to_string(o.mnist_seeds) + " --mnist-steps " + std::to_string(o.mnist_steps) +
        " --mnist-rounds " + std::to_string(o.mnist_rounds) + (o.full ? " --full" : "") + " --ring8-steps " +
        std::to_string(o.ring8_steps) + (o.ratios.empty() ? "" : " --ratios " + shell_quote(o.ratios)) +
        " --engine slurm" + (e.slurm_args.empty() ? "" : " --slurm-args " + shell_quote(e.slurm_args)) +
        " --runs-per-task " + std::to_string(e.runs_per_task) + " --slurm-report";
}

// The runs GRID/engine/tasks.tsv lists: what the last job array ran.
std::set<std::string> submitted_runs(const std::string& grid) {
    std::set<std::string> names;
    if (!file_exists(grid + "/engine/tasks.tsv")) return names;
    std::istringstream in(read_file(grid + "/engine/tasks.tsv"));
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) names.insert(line.substr(0, line.find('\t')));
    return names;
}

// Slurm: the runs missing now as one job array, and this command as its report job. The report job
// writes the report when nothing is missing or a run of the array it follows failed (the report then
// lists it), and otherwise (the bisection's next stage) submits the next array and report job.
void run_on_slurm(const PaperOptions& o, const EngineOptions& e, const std::vector<std::string>& parts) {
    const Plan p = plan_runs(o, parts);
    const std::vector<GridRun> runs = grid_runs(o, p);
    if (o.slurm_report) {
        const std::set<std::string> submitted = submitted_runs(runs_folder(o));
        bool failed = false, missing = false;
        for (const GridRun& r : runs)
            if (!r.done) missing = true, failed |= submitted.count(r.name) > 0;
        if (failed || !missing) return report(o, parts, p);
        write_partial_mnist(o, p);
    }
    run_slurm(runs_folder(o), runs, paper_command(o, e), e);
}

// A run's work in multiply-adds of its critic's layers over all its critic steps and samples: its
// time within a few tens of percent (measured: preset 49 s, earlier settings 0.6 s, ring8 0.2 s).
double expected_work(const PaperRun& r) {
    static std::map<std::string, int> dims;  // the input dimension of each target
    if (!dims.count(r.target)) dims[r.target] = make_target(r.target).dim();
    const GanConfig& c = r.config;
    double per_sample = 0;
    int n_in = dims[r.target];
    for (int h : c.hidden) per_sample += (double)n_in * h, n_in = h;
    const double critic_steps = std::max(c.d_steps_first, c.d_steps) + (double)(r.steps - 1) * c.d_steps;
    return per_sample * critic_steps * (c.particles + (c.batch > 0 ? c.batch : c.particles));
}

// The runs of one local pass, longest first: every mnist run the bisection wants now, and of the
// other parts' runs not done yet a share of their work, 1 / (bisection stages left), the longest
// of them; the shortest wait for the later stages, where they keep both cores busy while a
// stage's few long runs end (9 preset runs on 2 cores leave one idle for a run's length).
std::vector<GridRun> pass_runs(const Plan& p, const std::vector<GridRun>& all) {
    std::vector<size_t> mnist, others;
    for (size_t k = 0; k < p.runs.size(); ++k) (p.runs[k].name.rfind("mnist/", 0) == 0 ? mnist : others).push_back(k);
    auto longest_first = [&](std::vector<size_t>& v) {
        std::stable_sort(v.begin(), v.end(),
                         [&](size_t a, size_t b) { return expected_work(p.runs[a]) > expected_work(p.runs[b]); });
    };
    longest_first(others);
    const int stages_left =
        p.mnist && !p.mnist_state.complete ? std::max(1, p.mnist->rounds - p.mnist_state.stage + 1) : 1;
    double left = 0, taken = 0;
    for (size_t k : others) left += all[k].done ? 0 : expected_work(p.runs[k]);
    std::vector<size_t> chosen = mnist;
    for (size_t k : others)
        if (!all[k].done && (stages_left == 1 || taken < left / stages_left))
            chosen.push_back(k), taken += expected_work(p.runs[k]);
    longest_first(chosen);
    std::vector<GridRun> pass;
    for (size_t k : chosen) pass.push_back(all[k]);
    return pass;
}

void run(const PaperOptions& o, const EngineOptions& e) {
    check_engine_options(e);
    const std::vector<std::string> parts = parse_parts(o.parts);
    if (std::find(parts.begin(), parts.end(), "mnist") != parts.end()) mnist_grid(o);  // its flags, checked first
    if (o.slurm_report && e.engine != "slurm")
        throw std::invalid_argument("--slurm-report is the report job of --engine slurm");
    make_directories(o.out);
    if (e.engine == "slurm" && !e.report_only) return run_on_slurm(o, e, parts);
    Plan p = plan_runs(o, parts);
    if (!e.report_only) {
        for (;;) {
            const std::vector<GridRun> all = grid_runs(o, p), runs = pass_runs(p, all);
            const auto not_done = [](const GridRun& r) { return !r.done; };
            const size_t todo = std::count_if(runs.begin(), runs.end(), not_done);
            if (todo == 0) break;
            std::printf("awd gan-paper: %zu of %zu runs to do now (%zu later), %d at a time\n", todo, all.size(),
                        std::count_if(all.begin(), all.end(), not_done) - todo, o.threads);
            std::fflush(stdout);
            run_local(runs, o.threads);
            std::set<std::string> ran;
            for (const GridRun& r : runs) ran.insert(r.name);
            std::vector<GridRun> after = grid_runs(o, p);
            std::erase_if(after, [&](const GridRun& r) { return !ran.count(r.name); });
            if (!missing_runs(runs_folder(o), after).empty()) break;  // a run failed: the report lists it
            p = plan_runs(o, parts);                                  // the bisection's next stage, if any
            write_partial_mnist(o, p);
        }
    }
    report(o, parts, p);
}

}  // namespace

void add_gan_paper_command(CLI::App& app) {
    auto o = std::make_shared<PaperOptions>();
    auto engine = std::make_shared<EngineOptions>();
    CLI::App* cmd = app.add_subcommand(
        "gan-paper", "the effective GAN model's figures: collapse transition, MNIST phase diagram, critical damping");
    cmd->add_option("--out", o->out, "output folder: CSVs, figures, gan_paper.json")->capture_default_str();
    cmd->add_option("--runs", o->runs, "the run folders (PART/CELL/seedS) and the engine's files (default OUT/runs)");
    cmd->add_option(
           "--parts", o->parts,
           "comma-separated: transition, mnist, damping, spectral (derived: only recompute the derived numbers)")
        ->capture_default_str();
    cmd->add_option("--seeds", o->seeds, "seeds per point of the low-dimensional transition")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--threads", o->threads, "local engine: runs at a time")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--mnist-settings", o->mnist_settings, "mnist100 settings compared: authors, per-sample, earlier")
        ->capture_default_str();
    cmd->add_option("--mnist-seeds", o->mnist_seeds, "seeds per mnist100 cell")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--mnist-steps", o->mnist_steps, "generator steps T of an mnist100 run")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--mnist-rounds", o->mnist_rounds, "bisection rounds locating each mnist100 transition")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_flag("--full", o->full,
                  "mnist100 on 6 lrD values with 5 bisection rounds instead of 4 and --mnist-rounds");
    cmd->add_option("--ring8-steps", o->ring8_steps,
                    "generator steps T of the ring8 runs (transition, spectral; damping runs 3 T); smaller for a test")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--ratios", o->ratios,
                    "the transition part's g2/g1 values, comma-separated (default: 14 in [0, 0.98])");
    cmd->add_flag("--slurm-report", o->slurm_report, "(set by --engine slurm: this is its report job)")->group("");
    add_engine_options(cmd, *engine);
    cmd->callback([o, engine] { run(*o, *engine); });
}

}  // namespace awd
