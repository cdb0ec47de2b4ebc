// cmd_gan_paper.cpp: `awd gan-paper`, the figures of the effective GAN model (experiments/gan/README.md):
//   1. transition: collapse score against g2/g1 on the 2-D ring of 8 Gaussians, for several
//      discriminator learning rates, seeds averaged (mean +- standard error), and the transition
//      point (where the mean crosses ln(K)/2) against lrD;
//   2. mnist: the transition point on the first 100 MNIST training images (784 dimensions)
//      against lrD, located by bisection in g2/g1, for the authors' preset, the preset with the
//      per-sample penalty and the project's earlier settings, with the end states of every seed;
//   3. damping: energy distance to the target against time for several penalty strengths alpha,
//      and the time to converge (the first record after which it stays below a threshold);
//   4. spectral: the ring8 and mnist100 transitions with a ReLU and a tanh discriminator (the
//      frequency principle: their width and position).
// Runs go in parallel on --threads worker threads (BLAS single-threaded in each); every run is
// seeded, so the results do not depend on the thread count. Outputs: CSV + PNG per part and
// gan_paper.json with every setting and the measured numbers, in --out.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "autodiff/parallel.h"
#include "autodiff/product.h"
#include "experiments/common/commands.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/seed_stats.h"
#include "experiments/gan/gan.h"
#include "nn/files.h"

namespace awd {

namespace {

struct PaperOptions {
    std::string out = "runs/gan-paper", parts = "transition,mnist,damping,spectral",
                mnist_settings = "authors,per-sample,earlier";
    int threads = 2, seeds = 10, mnist_seeds = 3, mnist_steps = 1000, mnist_rounds = 3;
    bool full = false;
};

struct Job {
    const GanTarget* target;
    GanConfig config;
    int steps, record_every;
    GanOutcome outcome;  // filled by the run
};

void run_jobs(std::vector<Job>& jobs, int threads, const std::string& what) {
    std::atomic<size_t> done{0};
    std::mutex print;
    const auto t0 = std::chrono::steady_clock::now();
    parallel_for(jobs.size(), threads, [&](size_t i) {
        Job& j = jobs[i];
        GanDynamics dynamics(*j.target, j.config, coupling_kernel(j.config.particles, j.config.g1, j.config.g2));
        j.outcome = run_gan(dynamics, *j.target, j.steps, j.record_every);
        const size_t finished = ++done;
        std::lock_guard<std::mutex> lock(print);
        std::fprintf(stderr, "\r  %s: %zu/%zu runs, %.0f s   ", what.c_str(), finished, jobs.size(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    });
    std::fprintf(stderr, "\n");
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

std::string errors_of(const std::vector<Job>& jobs) {
    std::string e;
    for (const Job& j : jobs)
        if (!j.outcome.error.empty()) e += j.outcome.error + "\n";
    return e;
}

nlohmann::json config_json(const GanConfig& c, const GanTarget& t, int steps) {
    return {{"target", t.name},
            {"particles", c.particles},
            {"g1", c.g1},
            {"lr_g", c.lr_g},
            {"d_steps", c.d_steps},
            {"d_steps_first", c.d_steps_first},
            {"weight_decay", c.weight_decay},
            {"penalty", c.penalty},
            {"penalty_on", penalty_on_name(c.penalty_on)},
            {"penalty_scale", penalty_scale_name(c.penalty_scale)},
            {"objective", gan_objective_name(c.objective)},
            {"discriminator", c.hidden},
            {"activation", activation_name(c.activation)},
            {"dropout", c.dropout},
            {"dropout_after", c.dropout_after},
            {"output_bias", c.output_bias},
            {"optimizer_d", optimizer_name(c.optimizer.kind)},
            {"amsgrad", c.optimizer.amsgrad},
            {"fresh_optimizer_d", c.fresh_optimizer},
            {"init_std", c.init_std},
            {"steps", steps}};
}

// Collapse score against g2/g1 for every lrD: a grid of jobs, averaged over seeds.
struct PhaseDiagram {
    std::vector<double> ratios, lr_d;
    std::vector<std::vector<SeedStats>> score;  // [lr_d][ratio]
    std::vector<double> transition;             // per lr_d: where the mean crosses ln K / 2
};

PhaseDiagram phase_diagram(const GanTarget& target, const GanConfig& base, const std::vector<double>& ratios,
                           const std::vector<double>& lr_d, int seeds, int steps, int threads,
                           const std::string& what) {
    std::vector<Job> jobs;
    for (double lr : lr_d)
        for (double r : ratios)
            for (int s = 0; s < seeds; ++s) {
                GanConfig c = base;
                c.lr_d = lr, c.g2 = r * c.g1, c.seed = (uint64_t)s;
                jobs.push_back({&target, c, steps, steps, {}});
            }
    run_jobs(jobs, threads, what);
    if (const std::string e = errors_of(jobs); !e.empty())
        std::fprintf(stderr, "  runs that stopped early (their last good state counts):\n%s", e.c_str());
    PhaseDiagram d{ratios, lr_d, {}, {}};
    size_t at = 0;
    for (size_t a = 0; a < lr_d.size(); ++a) {
        d.score.emplace_back();
        std::vector<double> means;
        for (size_t b = 0; b < ratios.size(); ++b) {
            std::vector<double> v;
            for (int s = 0; s < seeds; ++s) v.push_back(jobs[at++].outcome.trajectory.back().order.collapse);
            d.score.back().push_back(seed_stats(v));
            means.push_back(d.score.back().back().mean);
        }
        d.transition.push_back(crossing(ratios, means, std::log((double)target.size()) / 2));
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
            " using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.6 title '" + title + "'";
        if (d.transition[a] >= 0) points << d.lr_d[a] << ' ' << d.transition[a] << '\n';
    }
    write_file_atomically(out + "/" + name + ".csv", csv.str());
    char lnk[64];
    std::snprintf(lnk, sizeof lnk, "%.4f", std::log((double)t.size()));
    plot_png(out + "/" + name + ".png",
             "set title '" + t.name + ": collapse score at the end (mean ± s.e. over " + std::to_string(seeds) +
                 " seeds)'\nset xlabel 'coupling ratio g_2 / g_1'\n"
                 "set ylabel 'collapse score ln K − H(p) (nats)'\nset grid\nset key outside right\nset arrow from "
                 "graph 0, first " +
                 lnk + " to graph 1, first " + lnk + " nohead dt 2\n" + plot,
             {{"c", curves.str()}});
    if (!points.str().empty())
        plot_png(
            out + "/" + name + "_point.png",
            "set title '" + t.name +
                ": transition point (mean collapse score crosses ln(K)/2)'\nset xlabel 'discriminator learning "
                "rate lr_D'\n"
                "set ylabel 'g_2 / g_1 at the transition'\nset logscale x\nset grid\nplot $p with linespoints lw 2 "
                "pt 7 notitle",
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

nlohmann::json transition_part(const std::string& out, const PaperOptions& o) {
    static const GanTarget target = make_target("ring8");
    const GanConfig base = mixture_base();
    const int steps = 2000;
    const std::vector<double> ratios = {0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98};
    const PhaseDiagram d = phase_diagram(target, base, ratios, {0.001, 0.003, 0.01, 0.03}, o.seeds, steps, o.threads,
                                         "transition (ring8)");
    write_phase_diagram(out, "transition", d, target, o.seeds);
    nlohmann::json j = phase_json(d);
    j["settings"] = config_json(base, target, steps);
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

// One evaluated cell: g2/g1, the seeds' final scores and end states.
struct Cell {
    double ratio;
    std::vector<double> scores;
    std::vector<EndState> states;
    double mean() const { return seed_stats(scores).mean; }
};

struct Located {
    std::vector<Cell> cells;  // in the order evaluated
    double point = -1;        // interpolated g2/g1 where the seed mean crosses ln K / 2
    std::string verdict;      // "bracketed", "below LO" or "above HI"
};

// For each (setting, lrD): the mean score at g2/g1 = lo and hi, then `rounds` bisections of the
// bracket in log g2/g1; every round runs all open (setting, lrD) pairs' seeds at once. The point
// is interpolated in log g2/g1 within the last bracket.
// on_round sees the state after every round (the points of open pairs still -1), for partial results.
using Grid = std::vector<std::vector<Located>>;
Grid locate_transitions(const GanTarget& target, const std::vector<MnistSetting>& settings,
                        const std::vector<double>& lr_d, int seeds, int steps, int rounds, double lo, double hi,
                        int threads, const std::function<void(const Grid&, bool)>& on_round) {
    const double half = std::log((double)target.size()) / 2;
    std::vector<std::vector<Located>> out(settings.size(), std::vector<Located>(lr_d.size()));
    std::vector<std::vector<std::pair<double, double>>> bracket(
        settings.size(), std::vector<std::pair<double, double>>(lr_d.size(), {lo, hi}));
    auto evaluate = [&](const std::vector<std::tuple<size_t, size_t, double>>& wanted, const std::string& what) {
        std::vector<Job> jobs;
        for (const auto& [a, b, ratio] : wanted)
            for (int s = 0; s < seeds; ++s) {
                GanConfig c = settings[a].base;
                c.lr_d = lr_d[b], c.g2 = ratio * c.g1, c.seed = (uint64_t)s;
                jobs.push_back({&target, c, steps, steps, {}});
            }
        run_jobs(jobs, threads, what);
        if (const std::string e = errors_of(jobs); !e.empty())
            std::fprintf(stderr, "  runs that stopped early (their last good state counts):\n%s", e.c_str());
        std::vector<Cell> cells;
        for (size_t k = 0; k < wanted.size(); ++k) {
            Cell c{std::get<2>(wanted[k]), {}, {}};
            for (int s = 0; s < seeds; ++s) {
                const OrderParameters& o = jobs[k * seeds + s].outcome.trajectory.back().order;
                c.scores.push_back(o.collapse), c.states.push_back(o.end_state);
            }
            out[std::get<0>(wanted[k])][std::get<1>(wanted[k])].cells.push_back(c);
            cells.push_back(c);
        }
        return cells;
    };
    std::vector<std::tuple<size_t, size_t, double>> ends;
    for (size_t a = 0; a < settings.size(); ++a)
        for (size_t b = 0; b < lr_d.size(); ++b) ends.push_back({a, b, lo}), ends.push_back({a, b, hi});
    const std::vector<Cell> first = evaluate(ends, "mnist100 brackets");
    std::vector<std::vector<char>> open(settings.size(), std::vector<char>(lr_d.size(), 0));
    for (size_t k = 0; k < ends.size(); k += 2) {
        const size_t a = std::get<0>(ends[k]), b = std::get<1>(ends[k]);
        Located& l = out[a][b];
        if (first[k].mean() >= half) l.verdict = "below " + std::to_string(lo).substr(0, 5), l.point = lo;
        else if (first[k + 1].mean() < half) l.verdict = "above " + std::to_string(hi).substr(0, 5), l.point = hi;
        else l.verdict = "bracketed", open[a][b] = 1;
    }
    on_round(out, false);
    for (int r = 0; r < rounds; ++r) {
        std::vector<std::tuple<size_t, size_t, double>> mids;
        for (size_t a = 0; a < settings.size(); ++a)
            for (size_t b = 0; b < lr_d.size(); ++b)
                if (open[a][b]) mids.push_back({a, b, std::sqrt(bracket[a][b].first * bracket[a][b].second)});
        if (mids.empty()) break;
        const std::vector<Cell> cells =
            evaluate(mids, "mnist100 bisection " + std::to_string(r + 1) + "/" + std::to_string(rounds));
        for (size_t k = 0; k < mids.size(); ++k) {
            auto& [blo, bhi] = bracket[std::get<0>(mids[k])][std::get<1>(mids[k])];
            (cells[k].mean() >= half ? bhi : blo) = std::get<2>(mids[k]);
        }
        on_round(out, false);
    }
    for (size_t a = 0; a < settings.size(); ++a)
        for (size_t b = 0; b < lr_d.size(); ++b) {
            if (!open[a][b]) continue;
            const auto [blo, bhi] = bracket[a][b];
            double ylo = 0, yhi = 0;
            for (const Cell& c : out[a][b].cells) {
                if (c.ratio == blo) ylo = c.mean();
                if (c.ratio == bhi) yhi = c.mean();
            }
            const double t = (half - ylo) / (yhi - ylo);
            out[a][b].point = std::exp(std::log(blo) + t * (std::log(bhi) - std::log(blo)));
        }
    on_round(out, true);
    return out;
}

nlohmann::json mnist_results(const std::string& out, const GanTarget& target, const std::vector<MnistSetting>& settings,
                             const Grid& located, const std::vector<double>& lr_d, int seeds, int steps, int rounds,
                             double lo, double hi) {
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
            if (l.point > 0) points << lr_d[b] << ' ' << l.point << '\n';
            std::vector<Cell> sorted = l.cells;
            std::sort(sorted.begin(), sorted.end(), [](const Cell& x, const Cell& y) { return x.ratio < y.ratio; });
            for (const Cell& c : sorted) {
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
                " using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.6 lt " + std::to_string(a + 1) + " dt " +
                std::to_string(b + 1) + " title '" + title + "'";
            ++index;
        }
        points << "\n\n";
        sj["end_states_of_collapsed_seeds"] = high_states;
        point_plot += std::string(a ? ", " : "") + "$p index " + std::to_string(a) + " with linespoints lw 2 pt 7 lt " +
            std::to_string(a + 1) + " title '" + settings[a].name + "'";
        j["settings"][settings[a].name] = sj;
    }
    // the authors' published transition, as read off their runs (issue 21): about 0.5 near lrD 1e-4, 0.9 near 1e-3
    point_plot += ", $authors with points pt 6 ps 2 lw 2 lc rgb 'black' title 'authors (approximate)'";
    write_file_atomically(out + "/mnist.csv", csv.str());
    plot_png(out + "/mnist.png",
             "set title 'mnist100: collapse score at T = " + std::to_string(steps) + " (mean ± s.e., " +
                 std::to_string(seeds) +
                 " seeds), cells the bisection evaluated'\nset xlabel 'coupling ratio g_2 / g_1'\nset ylabel 'collapse "
                 "score ln K − H(p) (nats)'\nset "
                 "logscale x\nset grid\nset key outside right\n" +
                 cell_plot,
             {{"c", cells.str()}}, 1200, 600);
    plot_png(
        out + "/mnist_point.png",
        "set title 'mnist100: transition point φ* (mean score crosses ln(K)/2) against lr_D'\nset xlabel "
        "'discriminator learning rate lr_D'\n"
        "set ylabel 'φ* = g_2 / g_1 at the transition'\nset logscale xy\nset yrange [0.005:1.5]\nset grid\nset key "
        "outside right\n" +
            point_plot,
        {{"p", points.str()}, {"authors", "1e-4 0.5\n1e-3 0.9\n"}}, 1000, 550);
    return j;
}

nlohmann::json mnist_part(const std::string& out, const PaperOptions& o) {
    static const GanTarget target = make_target("mnist100");
    const std::vector<MnistSetting> all = mnist_settings();
    std::vector<MnistSetting> settings;
    std::stringstream names(o.mnist_settings);
    for (std::string name; std::getline(names, name, ',');) {
        bool found = false;
        for (const MnistSetting& m : all)
            if (m.name == name) settings.push_back(m), found = true;
        if (!found)
            throw CLI::ValidationError("--mnist-settings",
                                       "unknown setting '" + name + "' (expected authors, per-sample or earlier)");
    }
    const int seeds = o.mnist_seeds, steps = o.mnist_steps, rounds = o.full ? 5 : o.mnist_rounds;
    const std::vector<double> lr_d = log_spaced(1e-4, 2.6e-3, o.full ? 6 : 4);
    const double lo = 0.01, hi = 0.977;
    nlohmann::json result;
    const auto t0 = std::chrono::steady_clock::now();
    // every round rewrites the part's files and its entry in gan_paper.json ("complete": false until the last)
    auto write = [&](const Grid& located, bool complete) {
        result = mnist_results(out, target, settings, located, lr_d, seeds, steps, rounds, lo, hi);
        result["complete"] = complete;
        result["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const std::string report_path = out + "/gan_paper.json";
        nlohmann::json report =
            file_exists(report_path) ? nlohmann::json::parse(read_file(report_path)) : nlohmann::json::object();
        report["mnist"] = result;
        write_json_file(report_path, report);
    };
    locate_transitions(target, settings, lr_d, seeds, steps, rounds, lo, hi, o.threads, write);
    return result;
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

nlohmann::json spectral_part(const std::string& out, const PaperOptions& o) {
    const std::vector<Activation> families = {Activation::Relu, Activation::Tanh};
    nlohmann::json j = {{"activations", {"relu", "tanh"}}};
    // ring8: the transition part's setting at lrD 0.01
    {
        static const GanTarget target = make_target("ring8");
        const std::vector<double> ratios = {0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 0.98};
        nlohmann::json part = {{"g2_over_g1", ratios}, {"lr_d", 0.01}, {"seeds", o.seeds}};
        for (Activation act : families) {
            GanConfig base = mixture_base();
            base.activation = act;
            const PhaseDiagram d = phase_diagram(target, base, ratios, {0.01}, o.seeds, 2000, o.threads,
                                                 std::string("ring8, ") + activation_name(act));
            write_phase_diagram(out, std::string("spectral_ring8_") + activation_name(act), d, target, o.seeds);
            nlohmann::json one = transition_shape(d, 0, std::log((double)target.size()));
            one["collapse_mean"] = phase_json(d)["collapse_mean"][0];
            part[activation_name(act)] = one;
            part["settings"] = config_json(base, target, 2000);
        }
        j["ring8"] = part;
    }
    // mnist100: the project's earlier settings (the preset's cost rules a grid of it out here), lrD 1e-3
    {
        static const GanTarget target = make_target("mnist100");
        const std::vector<double> ratios = {0, 0.01, 0.02, 0.03, 0.046, 0.06, 0.077, 0.1, 0.128, 0.212};
        nlohmann::json part = {{"g2_over_g1", ratios}, {"lr_d", 1e-3}, {"seeds", 2}};
        for (Activation act : families) {
            GanConfig base = mnist_settings()[2].base;
            base.activation = act;
            const PhaseDiagram d = phase_diagram(target, base, ratios, {1e-3}, 2, 1000, o.threads,
                                                 std::string("mnist100, ") + activation_name(act));
            write_phase_diagram(out, std::string("spectral_mnist_") + activation_name(act), d, target, 2);
            nlohmann::json one = transition_shape(d, 0, std::log((double)target.size()));
            one["collapse_mean"] = phase_json(d)["collapse_mean"][0];
            part[activation_name(act)] = one;
            part["settings"] = config_json(base, target, 1000);
        }
        j["mnist100"] = part;
    }
    return j;
}

nlohmann::json damping_part(const std::string& out, const PaperOptions& o) {
    static const GanTarget target = make_target("ring8");
    GanConfig base = mixture_base();
    base.g2 = 0, base.lr_d = 0.01, base.penalty_on = PenaltyOn::Data;
    const int steps = 6000, record_every = 20, seeds = 3;
    const double threshold = 0.05;
    const std::vector<double> alphas = {0, 0.03, 0.1, 0.3, 1, 3, 10, 30};
    std::vector<Job> jobs;
    for (double a : alphas)
        for (int s = 0; s < seeds; ++s) {
            GanConfig c = base;
            c.penalty = a, c.seed = (uint64_t)s;
            jobs.push_back({&target, c, steps, record_every, {}});
        }
    run_jobs(jobs, o.threads, "critical damping (ring8)");
    if (const std::string e = errors_of(jobs); !e.empty())
        std::fprintf(stderr, "  runs that stopped early:\n%s", e.c_str());
    std::ostringstream csv, curves, times;
    csv.precision(10), curves.precision(10), times.precision(10);
    csv << "alpha,step,energy_distance_mean\n";
    nlohmann::json t_mean = nlohmann::json::array(), t_all = nlohmann::json::array();
    std::string plot = "plot ";
    for (size_t a = 0; a < alphas.size(); ++a) {
        const std::vector<GanRecord>& first = jobs[a * seeds].outcome.trajectory;
        std::vector<double> mean(first.size(), 0.0), converge;
        for (int s = 0; s < seeds; ++s) {
            const std::vector<GanRecord>& tr = jobs[a * seeds + s].outcome.trajectory;
            int t = -1;  // first record after which the energy distance stays below the threshold
            for (size_t k = 0; k < tr.size(); ++k) {
                if (k < mean.size()) mean[k] += tr[k].order.energy / seeds;
                if (tr[k].order.energy >= threshold) t = -1;
                else if (t < 0) t = tr[k].step;
            }
            converge.push_back(t < 0 || tr.back().step < steps ? NAN : t);
        }
        for (size_t k = 0; k < first.size(); ++k) {
            csv << alphas[a] << ',' << first[k].step << ',' << mean[k] << '\n';
            curves << first[k].step << ' ' << std::max(mean[k], 1e-6) << '\n';
        }
        curves << "\n\n";
        plot += std::string(a ? ", " : "") + "$c index " + std::to_string(a) +
            " with lines lw 2 title 'α = " + std::to_string(alphas[a]).substr(0, 5) + "'";
        bool all_converged = true;
        for (double t : converge) all_converged &= std::isfinite(t);
        const SeedStats m = all_converged ? seed_stats(converge) : SeedStats{NAN, NAN, NAN};
        if (all_converged) times << std::max(alphas[a], 0.01) << ' ' << m.mean << ' ' << m.standard_error << '\n';
        t_mean.push_back(all_converged ? nlohmann::json(m.mean)
                                       : nlohmann::json("not within " + std::to_string(steps) + " steps"));
        nlohmann::json each = nlohmann::json::array();
        for (double t : converge) each.push_back(std::isfinite(t) ? nlohmann::json(t) : nlohmann::json("none"));
        t_all.push_back(each);
    }
    write_file_atomically(out + "/damping.csv", csv.str());
    plot_png(out + "/damping.png",
             "set title 'ring8, g_2 = 0: energy distance to the target (mean of " + std::to_string(seeds) +
                 " seeds)'\nset xlabel 'generator step'\n"
                 "set ylabel 'energy distance (data units)'\nset logscale y\nset grid\nset key outside right\n" +
                 plot,
             {{"c", curves.str()}}, 1000, 500);
    plot_png(out + "/convergence_time.png",
             "set title 'time for the energy distance to stay below " + std::to_string(threshold).substr(0, 4) +
                 " (α = 0 drawn at 0.01)'\n"
                 "set xlabel 'penalty α'\nset ylabel 'generator steps to converge'\nset logscale x\nset grid\n"
                 "plot $t using 1:2:3 with yerrorlines lw 2 pt 7 notitle",
             {{"t", times.str()}});
    nlohmann::json settings = config_json(base, target, steps);
    return {{"settings", settings},
            {"alpha", alphas},
            {"seeds", seeds},
            {"threshold", threshold},
            {"record_every", record_every},
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

void run(const PaperOptions& o) {
    keep_heap_between_steps();
    set_threads(1);
    make_directories(o.out);
    const std::string report_path = o.out + "/gan_paper.json";
    nlohmann::json report =
        file_exists(report_path) ? nlohmann::json::parse(read_file(report_path)) : nlohmann::json::object();
    std::stringstream parts(o.parts);
    for (std::string part; std::getline(parts, part, ',');) {
        const auto t0 = std::chrono::steady_clock::now();
        std::printf("awd gan-paper: %s\n", part.c_str());
        std::fflush(stdout);
        nlohmann::json j;
        if (part == "transition") j = transition_part(o.out, o);
        else if (part == "mnist") j = mnist_part(o.out, o);
        else if (part == "damping") j = damping_part(o.out, o);
        else if (part == "spectral") j = spectral_part(o.out, o);
        else if (part == "derived") {
            report["derived"] = derived(report);
            write_json_file(report_path, report);
            continue;
        } else
            throw CLI::ValidationError("--parts",
                                       "unknown part '" + part + "' (expected transition, mnist, damping or spectral)");
        j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        j["threads"] = o.threads;
        if (part == "mnist")  // the part rewrote gan_paper.json as it went; keep what other parts wrote since
            report = nlohmann::json::parse(read_file(report_path));
        report[part] = j;
        report["derived"] = derived(report);
        write_json_file(report_path, report);
        std::printf("  %s done in %.0f s\n", part.c_str(), j["seconds"].get<double>());
    }
}

}  // namespace

void add_gan_paper_command(CLI::App& app) {
    auto o = std::make_shared<PaperOptions>();
    CLI::App* cmd = app.add_subcommand(
        "gan-paper", "the effective GAN model's figures: collapse transition, MNIST phase diagram, critical damping");
    cmd->add_option("--out", o->out, "output folder")->capture_default_str();
    cmd->add_option(
           "--parts", o->parts,
           "comma-separated: transition, mnist, damping, spectral (derived: only recompute the derived numbers)")
        ->capture_default_str();
    cmd->add_option("--seeds", o->seeds, "seeds per point of the low-dimensional transition")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--threads", o->threads, "runs in parallel")->check(CLI::PositiveNumber)->capture_default_str();
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
    cmd->callback([o] { run(*o); });
}

}  // namespace awd
