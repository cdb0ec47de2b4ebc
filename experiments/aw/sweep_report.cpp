// sweep_report.cpp: sweep.csv, the sweep's figures and the summary of its trends.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "analysis/rank_correlation.h"
#include "experiments/aw/sweep.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/provenance.h"
#include "nn/files.h"

namespace awd {

namespace {

std::string csv(const std::vector<SweepRow>& rows) {
    std::ostringstream out;
    out.precision(12);
    out << "param,value,seed,status,epochs,train_loss,test_loss,test_accuracy,gap,gap_paired,identity_estimate,"
           "curvature_estimate,"
           "sum_sigma_w,sum_sigma_g,top_eigenvalue,trace,weight_norm,mean_dW_norm,seconds\n";
    for (const SweepRow& r : rows) {
        out << r.param << ',' << r.value << ',' << r.seed << ',' << r.status << ',' << r.epochs << ',' << r.train_loss
            << ',' << r.test_loss << ',' << r.test_accuracy << ',';
        if (r.analysed) {  // left empty when the run was not analysed (diverged or failed)
            out << r.gap << ',' << r.gap_paired << ',' << r.identity_estimate << ',' << r.curvature_estimate << ','
                << r.sum_sigma_w << ',' << r.sum_sigma_g << ',' << r.top_eigenvalue << ',' << r.trace << ','
                << r.weight_norm << ',' << r.mean_dW_norm;
        } else {
            out << ",,,,,,,,,";
        }
        out << ',' << r.seconds << '\n';
    }
    return out.str();
}

struct Quantity {
    const char* name;
    double SweepRow::*field;
};
const Quantity kQuantities[] = {{"gap", &SweepRow::gap},
                                {"sum_sigma_g", &SweepRow::sum_sigma_g},
                                {"sum_sigma_w", &SweepRow::sum_sigma_w},
                                {"test_accuracy", &SweepRow::test_accuracy},
                                {"weight_norm", &SweepRow::weight_norm},
                                {"mean_dW_norm", &SweepRow::mean_dW_norm},
                                {"top_eigenvalue", &SweepRow::top_eigenvalue}};

// Per value (ascending), mean / min / max of a quantity over the analysed seeds.
std::map<double, std::vector<double>> by_value(const std::vector<SweepRow>& rows, double SweepRow::*field) {
    std::map<double, std::vector<double>> m;
    for (const SweepRow& r : rows)
        if (r.analysed) m[std::stod(r.value)].push_back(r.*field);
    return m;
}

std::string band(const std::vector<SweepRow>& rows, double SweepRow::*field) {
    std::ostringstream out;
    out.precision(12);
    for (const auto& [value, xs] : by_value(rows, field)) {
        double mean = 0;
        for (double x : xs) mean += x / xs.size();
        out << value << ' ' << mean << ' ' << *std::min_element(xs.begin(), xs.end()) << ' '
            << *std::max_element(xs.begin(), xs.end()) << '\n';
    }
    return out.str();
}

bool log_axis(const std::vector<SweepRow>& rows) {
    double lo = 1e300, hi = 0;
    for (const SweepRow& r : rows) lo = std::min(lo, std::stod(r.value)), hi = std::max(hi, std::stod(r.value));
    return lo > 0 && hi / lo >= 10;
}

void figures(const SweepOptions& o, const std::vector<SweepRow>& rows) {
    const std::string title = o.param + " sweep (" + o.data + ")";
    std::ostringstream points;
    points.precision(12);
    double lo = 1e300, hi = -1e300;
    for (const SweepRow& r : rows) {
        if (!r.analysed) continue;
        points << r.gap << ' ' << r.identity_estimate << ' ' << r.curvature_estimate << '\n';
        for (double v : {r.gap, r.identity_estimate, r.curvature_estimate}) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (lo > hi) return;  // nothing analysed
    char range[128];
    std::snprintf(range, sizeof range, "set xrange [%g:%g]\nset yrange [%g:%g]\n", lo - 0.05 * (hi - lo + 1e-3),
                  hi + 0.05 * (hi - lo + 1e-3), lo - 0.05 * (hi - lo + 1e-3), hi + 0.05 * (hi - lo + 1e-3));
    plot_png(o.out + "/gap_vs_estimates.png",
             "set title '" + title +
                 ": measured gap against its estimates'\nset xlabel 'L_{test} - L_{train} (nats)'\nset ylabel "
                 "'estimate of the gap (nats)'\nset grid\n"
                 "set key top left\n" +
                 range +
                 "plot x title 'y = x' lc rgb '#7f7f7f' dt 2, $p using 1:2 with points pt 7 lc rgb '#0072B2' title "
                 "'identity (3a)', "
                 "$p using 1:3 with points pt 5 lc rgb '#D55E00' title 'curvature form (3b)'",
             {{"p", points.str()}});
    const std::string x_axis =
        std::string(log_axis(rows) ? "set logscale x\n" : "") + "set xlabel '" + o.param + "'\nset grid\n";
    plot_png(
        o.out + "/determinants.png",
        "set multiplot layout 1,3 title '" + title + ": mean over seeds, bars from min to max'\n" + x_axis +
            "set title 'L_{test} - L_{train}'\nplot $gap using 1:2:3:4 with yerrorlines pt 7 lc rgb '#009E73' notitle\n"
            "set title 'sum sigma_g (sharpness)'\nplot $sg using 1:2:3:4 with yerrorlines pt 7 lc rgb '#D55E00' "
            "notitle\n"
            "set title 'sum sigma_w (size)'\nplot $sw using 1:2:3:4 with yerrorlines pt 7 lc rgb '#0072B2' "
            "notitle\nunset multiplot",
        {{"gap", band(rows, &SweepRow::gap)},
         {"sg", band(rows, &SweepRow::sum_sigma_g)},
         {"sw", band(rows, &SweepRow::sum_sigma_w)}},
        1200, 400);
    std::vector<std::pair<std::string, std::string>> spectra;
    std::string plot = "plot ";
    for (const SweepRow& r : rows) {
        if (!r.analysed || r.seed != 0 || r.sigma_g.empty()) continue;
        std::vector<double> s = r.sigma_g;
        std::sort(s.rbegin(), s.rend());
        std::ostringstream d;
        for (size_t i = 0; i < s.size(); ++i)
            if (s[i] > 0) d << i + 1 << ' ' << s[i] << '\n';
        const std::string name = "s" + std::to_string(spectra.size());
        spectra.push_back({name, d.str()});
        plot += (spectra.size() > 1 ? ", $" : "$") + name + " using 1:2 with lines lw 2 title '" + o.param + " = " +
            r.value + "'";
    }
    if (!spectra.empty())
        plot_png(o.out + "/sigma_g_spectrum.png",
                 "set title '" + title +
                     ": σ_g per eigendirection, sorted (seed 0)'\nset xlabel 'rank'\nset ylabel 'σ_g'\nset logscale y\n"
                     "set format y '10^{%T}'\nset grid\n" +
                     plot,
                 spectra);
}

}  // namespace

Trend trend(const std::vector<SweepRow>& rows, double SweepRow::*quantity) {
    Trend t;
    const auto groups = by_value(rows, quantity);
    if (groups.size() < 2) return t;
    std::vector<double> x, y;
    for (const SweepRow& r : rows)
        if (r.analysed) x.push_back(std::stod(r.value)), y.push_back(r.*quantity);
    auto mean = [](const std::vector<double>& v) {
        double m = 0;
        for (double e : v) m += e / v.size();
        return m;
    };
    t.defined = true;
    t.first_mean = mean(groups.begin()->second), t.last_mean = mean(groups.rbegin()->second);
    t.spearman = spearman(x, y);
    t.relative_change = t.first_mean != 0 ? (t.last_mean - t.first_mean) / std::fabs(t.first_mean) : 0.0;
    return t;
}

void write_sweep_outputs(const SweepOptions& o, const std::vector<SweepRow>& rows) {
    write_file_atomically(o.out + "/sweep.csv", csv(rows));
    figures(o, rows);
    nlohmann::json summary = {{"param", o.param}, {"data", o.data}, {"runs", rows.size()}};
    int analysed = 0;
    for (const SweepRow& r : rows) analysed += r.analysed;
    summary["analysed"] = analysed;
    std::printf("\n  %-16s %10s %14s   (over %d analysed runs)\n", "quantity", "spearman", "first -> last", analysed);
    for (const Quantity& q : kQuantities) {
        const Trend t = trend(rows, q.field);
        if (!t.defined) continue;
        summary["trends"][q.name] = {{"spearman", t.spearman},
                                     {"first_mean", t.first_mean},
                                     {"last_mean", t.last_mean},
                                     {"relative_change", t.relative_change}};
        std::printf("  %-16s %10.2f %+13.1f%%\n", q.name, t.spearman, 100 * t.relative_change);
    }
    write_json_file(o.out + "/sweep_summary.json", with_provenance(summary));
}

std::vector<SweepRow> read_sweep_csv(const std::string& path) {
    std::istringstream in(read_file(path));
    std::string line;
    std::getline(in, line);
    if (line.rfind("param,value,seed,status,epochs,", 0) != 0)
        throw std::runtime_error(path + ": not a sweep.csv (unexpected header)");
    std::vector<SweepRow> rows;
    for (int number = 2; std::getline(in, line); ++number) {
        std::vector<std::string> f;
        std::istringstream fields(line);
        for (std::string field; std::getline(fields, field, ',');) f.push_back(field);
        if (!line.empty() && line.back() == ',') f.push_back("");
        if (f.size() != 19)
            throw std::runtime_error(path + ": line " + std::to_string(number) + " has " + std::to_string(f.size()) +
                                     " fields, not 19");
        SweepRow r;
        r.param = f[0], r.value = f[1], r.seed = std::stoi(f[2]), r.status = f[3], r.epochs = std::stoi(f[4]);
        r.train_loss = std::stod(f[5]), r.test_loss = std::stod(f[6]), r.test_accuracy = std::stod(f[7]);
        r.analysed = !f[8].empty();
        if (r.analysed) {
            double* targets[] = {&r.gap,         &r.gap_paired,  &r.identity_estimate, &r.curvature_estimate,
                                 &r.sum_sigma_w, &r.sum_sigma_g, &r.top_eigenvalue,    &r.trace,
                                 &r.weight_norm, &r.mean_dW_norm};
            for (int k = 0; k < 10; ++k) *targets[k] = std::stod(f[8 + k]);
        }
        r.seconds = std::stod(f[18]);
        rows.push_back(r);
    }
    return rows;
}

}  // namespace awd
