// cmd_overview.cpp: `awd overview`, the Results of all sweeps of one data set: a table of which
// determinant moved and where the gap went, against the paper's expectations (experiments/aw/README.md), and two
// figures (the trends of every sweep; every run's measured gap against its estimates), and the
// same numbers as DATA-trends.json for the claims scorecard (experiments/aw/claims.json), with the
// worst identity residual and verification errors over every run's duality.json.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "experiments/aw/sweep.h"
#include "experiments/common/commands.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/run_dir.h"
#include "nn/files.h"

namespace awd {

namespace {

struct
    Expectation {  // sign the paper states (experiments/aw/README.md) as the value grows: +1, -1, or 0 (nothing stated)
    const char* param;
    int gap, sigma_g, sigma_w, dual_norm;
    const char* statement;
};

const Expectation kExpected[] = {
    {"lr", -1, -1, 0, 0, "larger learning rates give flatter solutions (sigma_g falls), which generalize better"},
    {"batch", +1, +1, 0, 0, "smaller batches give flatter solutions, which generalize better"},
    {"init", +1, 0, +1, +1, "smaller initialisation gives smaller solutions (sigma_w falls), which generalize better"},
    {"dropout", 0, 0, 0, 0, "no direction stated"},
    {"wd", -1, 0, -1, -1, "weight decay gives smaller solutions, which generalize better"},
    {"noise", +1, 0, 0, 0, "label noise raises the gap"},
    {"size", 0, 0, -1, -1, "more data shrinks the dual weights"},
    {"width", 0, 0, 0, 0, "no direction stated"},
};

std::string verdict(int expected, const Trend& t) {
    if (!t.defined) return "no data";
    const char* way = t.spearman >= 0.5 ? "up" : t.spearman <= -0.5 ? "down" : "flat";
    char moved[64];
    std::snprintf(moved, sizeof moved, "%s (%+.2f, %+.0f%%)", way, t.spearman, 100 * t.relative_change);
    if (expected == 0) return moved;
    const bool agrees = expected * t.spearman >= 0.5, disagrees = expected * t.spearman <= -0.5;
    return std::string(moved) + (agrees ? " agrees" : disagrees ? " **disagrees**" : " weak");
}

// The x axis of a sweep's panel: what was swept, in its unit.
std::string axis_label(const std::string& param) {
    static const std::map<std::string, std::string> labels = {{"lr", "learning rate η"},
                                                              {"batch", "batch size B (samples)"},
                                                              {"init", "initial scale s"},
                                                              {"dropout", "dropout probability p"},
                                                              {"wd", "weight decay β"},
                                                              {"noise", "label-noise fraction ρ"},
                                                              {"size", "training images per class"},
                                                              {"width", "hidden width (units)"}};
    const auto it = labels.find(param);
    return it == labels.end() ? param : it->second;
}

nlohmann::json trend_json(const Trend& t) {
    if (!t.defined) return nullptr;
    return {{"spearman", t.spearman},
            {"first_mean", t.first_mean},
            {"last_mean", t.last_mean},
            {"relative_change", t.relative_change}};
}

// The worst of each check over the analysed runs of a sweep, read from each run's duality.json.
struct Checks {
    double identity_residual = 0, verify_double_u = 0, verify_long_double_u = 0, min_ratio = INFINITY;
    int runs = 0;
    void add(const std::string& duality_json) {
        const nlohmann::json d = nlohmann::json::parse(read_file(duality_json));
        const double r = d.at("identity_residual"), v = d.at("verify_double_u"), vl = d.at("verify_long_double_u");
        identity_residual = std::max(identity_residual, std::abs(r)), verify_double_u = std::max(verify_double_u, v);
        verify_long_double_u = std::max(verify_long_double_u, vl),
        min_ratio = std::min(min_ratio, vl > 0 ? v / vl : INFINITY);
        ++runs;
    }
};

void run(const std::string& data, const std::string& root, const std::string& out) {
    if (!file_exists(root)) throw std::runtime_error("--root " + root + " does not exist");
    const std::vector<std::string> stale = stale_temporaries(root);
    if (!stale.empty()) {
        std::printf(
            "temporaries left by interrupted writers under %s (the next writer of each removes it; safe to delete when "
            "no process is named):\n",
            root.c_str());
        for (const std::string& t : stale) std::printf("  %s\n", t.c_str());
    }
    int found = 0;
    std::ostringstream table, trends, estimates;
    table
        << "| swept (values) | converged | gap | sum sigma_g (sharpness) | sum sigma_w (size) | mean abs dW | paper |\n"
           "|---|---|---|---|---|---|---|\n";
    std::string plots;
    int panel = 0;
    nlohmann::json sweeps = nlohmann::json::object();
    Checks checks;
    for (const Expectation& e : kExpected) {
        const std::string path = root + "/sweep-" + data + "-" + e.param + "/sweep.csv";
        if (!file_exists(path)) {
            std::printf("  (no %s: run awd sweep --param %s --data %s first)\n", path.c_str(), e.param, data.c_str());
            continue;
        }
        const std::vector<SweepRow> rows = read_sweep_csv(path);
        ++found;
        std::string values;
        int converged = 0;
        for (const SweepRow& r : rows) {
            if (r.seed == 0) values += (values.empty() ? "" : ", ") + r.value;
            converged += r.status == "converged";
        }
        const Trend gap = trend(rows, &SweepRow::gap), sg = trend(rows, &SweepRow::sum_sigma_g),
                    sw = trend(rows, &SweepRow::sum_sigma_w);
        const Trend dual = trend(rows, &SweepRow::mean_dW_norm);
        int capped = 0;
        std::vector<std::string> value_list;
        for (const SweepRow& r : rows) {
            capped += r.status == "max_epochs";
            if (r.seed == 0) value_list.push_back(r.value);
            if (r.analysed)
                checks.add(root + "/sweep-" + data + "-" + e.param + "/" + e.param + "=" + r.value + "/seed" +
                           std::to_string(r.seed) + "/duality-layer1/duality.json");
        }
        sweeps[e.param] = {{"values", value_list},
                           {"runs", rows.size()},
                           {"converged", converged},
                           {"max_epochs", capped},
                           {"gap", trend_json(gap)},
                           {"sum_sigma_g", trend_json(sg)},
                           {"sum_sigma_w", trend_json(sw)},
                           {"mean_dW_norm", trend_json(dual)},
                           {"weight_norm", trend_json(trend(rows, &SweepRow::weight_norm))},
                           {"test_accuracy", trend_json(trend(rows, &SweepRow::test_accuracy))},
                           {"train_loss", trend_json(trend(rows, &SweepRow::train_loss))},
                           {"statement", e.statement}};
        // the same trends over the runs that met the stop rule: whether runs stopped at the epoch cap drive a trend
        std::vector<SweepRow> converged_rows;
        for (const SweepRow& r : rows)
            if (r.status == "converged") converged_rows.push_back(r);
        sweeps[e.param]["converged_only"] = {
            {"gap", trend_json(trend(converged_rows, &SweepRow::gap))},
            {"sum_sigma_g", trend_json(trend(converged_rows, &SweepRow::sum_sigma_g))},
            {"sum_sigma_w", trend_json(trend(converged_rows, &SweepRow::sum_sigma_w))},
            {"mean_dW_norm", trend_json(trend(converged_rows, &SweepRow::mean_dW_norm))}};
        table << "| " << e.param << " (" << values << ") | " << converged << "/" << rows.size() << " | "
              << verdict(e.gap, gap) << " | " << verdict(e.sigma_g, sg) << " | " << verdict(e.sigma_w, sw) << " | "
              << verdict(e.dual_norm, dual) << " | " << e.statement << " |\n";
        // per value: mean over seeds of each quantity relative to its mean at the first value
        std::map<double, std::array<double, 4>> sums;  // gap, sigma_g, sigma_w, count
        for (const SweepRow& r : rows) {
            if (!r.analysed) continue;
            auto& s = sums[std::stod(r.value)];
            s[0] += r.gap, s[1] += r.sum_sigma_g, s[2] += r.sum_sigma_w, s[3] += 1;
        }
        if (sums.size() < 2) continue;
        const auto& base = sums.begin()->second;
        std::ostringstream block;
        block.precision(10);
        bool positive = true;
        for (const auto& [value, s] : sums) {
            block << value << ' ' << (s[0] / s[3]) / (base[0] / base[3]) << ' ' << (s[1] / s[3]) / (base[1] / base[3])
                  << ' ' << (s[2] / s[3]) / (base[2] / base[3]) << '\n';
            positive = positive && value > 0;
        }
        const std::string name = std::string("d") + e.param;
        trends << "$" << name << " << EOD\n" << block.str() << "EOD\n";
        const bool log_x = positive && sums.rbegin()->first / sums.begin()->first >= 10;
        plots += std::string(log_x ? "set logscale x\n" : "unset logscale x\n") + "set title '" + e.param +
            "'\nset xlabel '" + axis_label(e.param) + "'\nplot $" + name +
            " using 1:2 with linespoints pt 7 lc rgb '#009E73' title 'gap', $" + name +
            " using 1:3 with linespoints pt 7 lc rgb '#D55E00' title 'Σ σ_g', $" + name +
            " using 1:4 with linespoints pt 7 lc rgb '#0072B2' title 'Σ σ_w'\n";
        ++panel;
        for (const SweepRow& r : rows)
            if (r.analysed) estimates << r.gap << ' ' << r.identity_estimate << ' ' << r.curvature_estimate << '\n';
    }
    if (found == 0)
        throw std::runtime_error("no sweep results for " + data + " under " + root + " (sweep-" + data +
                                 "-PARAM/sweep.csv): run awd sweep first");
    make_directories(out);
    const std::string md = "Results on " + data + " (" + root +
        "): direction as the swept value grows (Spearman's rho over all runs, change of the mean from the "
        "first value to the last); converged: runs that met the stop rule within the epoch limit\n\n" +
        table.str();
    write_file_atomically(out + "/" + data + "-trends.md", md);
    write_json_file(out + "/" + data + "-trends.json",
                    {{"data", data},
                     {"sweeps", sweeps},
                     {"all_runs",
                      {{"analysed", checks.runs},
                       {"max_identity_residual", checks.identity_residual},
                       {"max_verify_double_u", checks.verify_double_u},
                       {"max_verify_long_double_u", checks.verify_long_double_u},
                       {"min_verify_ratio",
                        std::isfinite(checks.min_ratio) ? nlohmann::json(checks.min_ratio) : nlohmann::json()}}}});
    std::printf("%s", md.c_str());
    if (panel == 0) return;
    // the data blocks go first, as script text: plot_png's data blocks are named pairs, these are many
    plot_png(out + "/" + data + "-overview.png",
             trends.str() + "set multiplot layout 2,4 title 'A-W sweeps on " + data +
                 ": mean over seeds, relative to the first value'\n"
                 "set grid\nset key top left font ',8'\nset ylabel 'relative to first value'\n" +
                 plots + "unset multiplot",
             {}, 1280, 700);
    plot_png(out + "/" + data + "-estimates.png",
             "set title 'every run of every sweep (" + data +
                 "): measured gap against its estimates'\nset xlabel 'L_{test} - L_{train} (nats)'\n"
                 "set ylabel 'estimate of the gap (nats)'\nset grid\nset key top left\n"
                 "plot x title 'y = x' lc rgb '#7f7f7f' dt 2, $e using 1:2 with points pt 7 ps 0.8 lc rgb '#0072B2' "
                 "title 'identity (3a) = L_{test} - L_{paired}', "
                 "$e using 1:3 with points pt 5 ps 0.8 lc rgb '#D55E00' title 'curvature form (3b)'",
             {{"e", estimates.str()}});
}

}  // namespace

void add_overview_command(CLI::App& app) {
    auto data = std::make_shared<std::string>("mnist"), root = std::make_shared<std::string>("runs"),
         out = std::make_shared<std::string>("experiments/aw/results");
    CLI::App* cmd = app.add_subcommand("overview",
                                       "summarise every sweep of a data set: trends against the paper's expectations "
                                       "(experiments/aw/README.md), two figures");
    cmd->add_option("--data", *data, "mnist | fashion")->capture_default_str();
    cmd->add_option("--root", *root, "folder holding the sweep-DATA-PARAM folders")->capture_default_str();
    cmd->add_option("--out", *out, "where the table and figures go")->capture_default_str();
    cmd->callback([data, root, out] { run(*data, *root, *out); });
}

}  // namespace awd
