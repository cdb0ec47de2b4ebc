// cmd_gan_paper.cpp: `awd gan-paper`, the figures of the effective GAN model (THEORY section 6):
//   1. transition: collapse score against g2/g1 on the 2-D ring of 8 Gaussians, for several
//      discriminator learning rates, seeds averaged (mean +- standard error), and the transition
//      point (where the mean crosses ln(K)/2) against lrD;
//   2. mnist: the same phase diagram on 100 MNIST digits (784 dimensions), coarse by default;
//   3. damping: energy distance to the target against time for several penalty strengths alpha,
//      and the time to converge (the first record after which it stays below a threshold).
// Runs go in parallel on --threads worker threads (BLAS single-threaded in each); every run is
// seeded, so the results do not depend on the thread count. Outputs: CSV + PNG per part and
// gan_paper.json with every setting and the measured numbers, in --out.

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <sstream>

#include "experiments/gan/gan.h"
#include "autodiff/product.h"
#include "nn/files.h"
#include "autodiff/parallel.h"
#include "experiments/common/commands.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/seed_stats.h"

namespace awd {

namespace {

struct PaperOptions {
    std::string out = "runs/gan-paper", parts = "transition,mnist,damping";
    int threads = 2, seeds = 10;
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
        if (y[k - 1] < level && y[k] >= level) return x[k - 1] + (level - y[k - 1]) * (x[k] - x[k - 1]) / (y[k] - y[k - 1]);
    return -1;
}

std::string errors_of(const std::vector<Job>& jobs) {
    std::string e;
    for (const Job& j : jobs)
        if (!j.outcome.error.empty()) e += j.outcome.error + "\n";
    return e;
}

nlohmann::json config_json(const GanConfig& c, const GanTarget& t, int steps) {
    return {{"target", t.name}, {"particles", c.particles}, {"g1", c.g1}, {"lr_g", c.lr_g}, {"d_steps", c.d_steps},
            {"weight_decay", c.weight_decay}, {"penalty", c.penalty}, {"penalty_on", penalty_on_name(c.penalty_on)},
            {"objective", gan_objective_name(c.objective)}, {"discriminator", c.hidden}, {"activation", activation_name(c.activation)},
            {"optimizer_d", optimizer_name(c.optimizer.kind)}, {"init_std", c.init_std}, {"steps", steps}};
}

// Collapse score against g2/g1 for every lrD: a grid of jobs, averaged over seeds.
struct PhaseDiagram {
    std::vector<double> ratios, lr_d;
    std::vector<std::vector<SeedStats>> score;  // [lr_d][ratio]
    std::vector<double> transition;             // per lr_d: where the mean crosses ln K / 2
};

PhaseDiagram phase_diagram(const GanTarget& target, const GanConfig& base, const std::vector<double>& ratios, const std::vector<double>& lr_d,
                           int seeds, int steps, int threads, const std::string& what) {
    std::vector<Job> jobs;
    for (double lr : lr_d)
        for (double r : ratios)
            for (int s = 0; s < seeds; ++s) {
                GanConfig c = base;
                c.lr_d = lr, c.g2 = r * c.g1, c.seed = (uint64_t)s;
                jobs.push_back({&target, c, steps, steps, {}});
            }
    run_jobs(jobs, threads, what);
    if (const std::string e = errors_of(jobs); !e.empty()) std::fprintf(stderr, "  runs that stopped early (their last good state counts):\n%s", e.c_str());
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

void write_phase_diagram(const std::string& out, const std::string& name, const PhaseDiagram& d, const GanTarget& t, int seeds) {
    std::ostringstream csv, curves, points;
    csv.precision(10), curves.precision(10), points.precision(10);
    csv << "lr_d,g2_over_g1,collapse_mean,collapse_standard_error,seeds\n";
    std::string plot = "plot ";
    for (size_t a = 0; a < d.lr_d.size(); ++a) {
        for (size_t b = 0; b < d.ratios.size(); ++b) {
            csv << d.lr_d[a] << ',' << d.ratios[b] << ',' << d.score[a][b].mean << ',' << d.score[a][b].standard_error << ',' << seeds << '\n';
            curves << d.ratios[b] << ' ' << d.score[a][b].mean << ' ' << d.score[a][b].standard_error << '\n';
        }
        curves << "\n\n";
        char title[64];
        std::snprintf(title, sizeof title, "lrD = %.2g", d.lr_d[a]);
        plot += std::string(a ? ", " : "") + "$c index " + std::to_string(a) + " using 1:2:3 with yerrorlines lw 2 pt 7 ps 0.6 title '" + title + "'";
        if (d.transition[a] >= 0) points << d.lr_d[a] << ' ' << d.transition[a] << '\n';
    }
    write_file_atomically(out + "/" + name + ".csv", csv.str());
    char lnk[64];
    std::snprintf(lnk, sizeof lnk, "%.4f", std::log((double)t.size()));
    plot_png(out + "/" + name + ".png",
             "set title '" + t.name + ": collapse score at the end (mean +- s.e. over " + std::to_string(seeds) + " seeds)'\nset xlabel 'g2 / g1'\n"
             "set ylabel 'ln K - H(p)'\nset grid\nset key outside right\nset arrow from graph 0, first " + lnk + " to graph 1, first " + lnk +
                 " nohead dt 2\n" + plot,
             {{"c", curves.str()}});
    if (!points.str().empty())
        plot_png(out + "/" + name + "_point.png",
                 "set title '" + t.name + ": transition point (mean collapse score crosses ln(K)/2)'\nset xlabel 'discriminator learning rate lrD'\n"
                 "set ylabel 'g2 / g1 at the transition'\nset logscale x\nset grid\nplot $p with linespoints lw 2 pt 7 notitle",
                 {{"p", points.str()}});
}

nlohmann::json phase_json(const PhaseDiagram& d) {
    nlohmann::json j = {{"g2_over_g1", d.ratios}, {"lr_d", d.lr_d}, {"collapse_mean", nlohmann::json::array()},
                        {"collapse_standard_error", nlohmann::json::array()}, {"transition_point", nlohmann::json::array()}};
    for (size_t a = 0; a < d.lr_d.size(); ++a) {
        std::vector<double> m, e;
        for (const SeedStats& x : d.score[a]) m.push_back(x.mean), e.push_back(x.standard_error);
        j["collapse_mean"].push_back(m);
        j["collapse_standard_error"].push_back(e);
        j["transition_point"].push_back(d.transition[a] >= 0 ? nlohmann::json(d.transition[a]) : nlohmann::json("none"));
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
    const PhaseDiagram d = phase_diagram(target, base, ratios, {0.001, 0.003, 0.01, 0.03}, o.seeds, steps, o.threads, "transition (ring8)");
    write_phase_diagram(out, "transition", d, target, o.seeds);
    nlohmann::json j = phase_json(d);
    j["settings"] = config_json(base, target, steps);
    j["seeds"] = o.seeds;
    return j;
}

nlohmann::json mnist_part(const std::string& out, const PaperOptions& o) {
    static const GanTarget target = make_target("mnist100");
    GanConfig base;
    base.particles = 100, base.g1 = 1, base.lr_g = 1.0, base.weight_decay = 1e-4, base.penalty = 1.25, base.hidden = {64, 64};
    base.optimizer.kind = OptimizerKind::Adam, base.init_std = 0.1;
    const int steps = 1000, seeds = o.full ? 3 : 1;
    std::vector<double> ratios = {0}, lr_d = log_spaced(1e-4, 2.6e-3, o.full ? 6 : 3);
    for (double r : log_spaced(0.01, 0.977, o.full ? 10 : 4)) ratios.push_back(r);
    const PhaseDiagram d = phase_diagram(target, base, ratios, lr_d, seeds, steps, o.threads, "phase diagram (mnist100)");
    write_phase_diagram(out, "mnist", d, target, seeds);
    nlohmann::json j = phase_json(d);
    j["settings"] = config_json(base, target, steps);
    j["seeds"] = seeds;
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
    if (const std::string e = errors_of(jobs); !e.empty()) std::fprintf(stderr, "  runs that stopped early:\n%s", e.c_str());
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
        plot += std::string(a ? ", " : "") + "$c index " + std::to_string(a) + " with lines lw 2 title 'alpha = " + std::to_string(alphas[a]).substr(0, 5) + "'";
        bool all_converged = true;
        for (double t : converge) all_converged &= std::isfinite(t);
        const SeedStats m = all_converged ? seed_stats(converge) : SeedStats{NAN, NAN, NAN};
        if (all_converged) times << std::max(alphas[a], 0.01) << ' ' << m.mean << ' ' << m.standard_error << '\n';
        t_mean.push_back(all_converged ? nlohmann::json(m.mean) : nlohmann::json("not within " + std::to_string(steps) + " steps"));
        nlohmann::json each = nlohmann::json::array();
        for (double t : converge) each.push_back(std::isfinite(t) ? nlohmann::json(t) : nlohmann::json("none"));
        t_all.push_back(each);
    }
    write_file_atomically(out + "/damping.csv", csv.str());
    plot_png(out + "/damping.png",
             "set title 'ring8, g2 = 0: energy distance to the target (mean of " + std::to_string(seeds) + " seeds)'\nset xlabel 'generator step'\n"
             "set ylabel 'energy distance'\nset logscale y\nset grid\nset key outside right\n" + plot,
             {{"c", curves.str()}}, 1000, 500);
    plot_png(out + "/convergence_time.png",
             "set title 'time for the energy distance to stay below " + std::to_string(threshold).substr(0, 4) + " (alpha = 0 drawn at 0.01)'\n"
             "set xlabel 'penalty alpha'\nset ylabel 'generator steps'\nset logscale x\nset grid\n"
             "plot $t using 1:2:3 with yerrorlines lw 2 pt 7 notitle",
             {{"t", times.str()}});
    nlohmann::json settings = config_json(base, target, steps);
    return {{"settings", settings}, {"alpha", alphas}, {"seeds", seeds}, {"threshold", threshold}, {"record_every", record_every},
            {"time_to_converge_mean", t_mean}, {"time_to_converge_per_seed", t_all}};
}

void run(const PaperOptions& o) {
    keep_heap_between_steps();
    set_threads(1);
    make_directories(o.out);
    const std::string report_path = o.out + "/gan_paper.json";
    nlohmann::json report = file_exists(report_path) ? nlohmann::json::parse(read_file(report_path)) : nlohmann::json::object();
    std::stringstream parts(o.parts);
    for (std::string part; std::getline(parts, part, ',');) {
        const auto t0 = std::chrono::steady_clock::now();
        std::printf("awd gan-paper: %s\n", part.c_str());
        std::fflush(stdout);
        nlohmann::json j;
        if (part == "transition") j = transition_part(o.out, o);
        else if (part == "mnist") j = mnist_part(o.out, o);
        else if (part == "damping") j = damping_part(o.out, o);
        else throw CLI::ValidationError("--parts", "unknown part '" + part + "' (expected transition, mnist or damping)");
        j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        j["threads"] = o.threads;
        report[part] = j;
        write_json_file(report_path, report);
        std::printf("  %s done in %.0f s\n", part.c_str(), j["seconds"].get<double>());
    }
}

}  // namespace

void add_gan_paper_command(CLI::App& app) {
    auto o = std::make_shared<PaperOptions>();
    CLI::App* cmd = app.add_subcommand("gan-paper", "the effective GAN model's figures: collapse transition, MNIST phase diagram, critical damping");
    cmd->add_option("--out", o->out, "output folder")->capture_default_str();
    cmd->add_option("--parts", o->parts, "comma-separated: transition, mnist, damping")->capture_default_str();
    cmd->add_option("--seeds", o->seeds, "seeds per point of the low-dimensional transition")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_option("--threads", o->threads, "runs in parallel")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_flag("--full", o->full, "the full mnist100 grid (11 g2/g1 x 6 lrD x 3 seeds) instead of the coarse one");
    cmd->callback([o] { run(*o); });
}

}  // namespace awd
