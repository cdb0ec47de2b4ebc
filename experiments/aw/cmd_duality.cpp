// cmd_duality.cpp: `awd duality`, the A-W duality analysis of one layer of a trained run:
// duality.json, directions.csv, pairs.csv, two figures, and a short table on the terminal.

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <thread>

#include "analysis/duality.h"
#include "autodiff/product.h"
#include "experiments/common/commands.h"
#include "experiments/common/flags.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/provenance.h"
#include "experiments/common/run_folder.h"
#include "nn/files.h"

namespace awd {

namespace {

struct DualityCommandOptions {
    std::string model, out, pairing = "nearest", variant = "minimal";
    int layer = 1, threads = (int)std::max(1u, std::thread::hardware_concurrency());
    uint64_t seed = 0;
};

std::string directions_csv(const DualityReport& r) {
    std::ostringstream out;
    out.precision(17);
    out << "direction,lambda,sigma_w,sigma_g,c,mu_w,mu_g,contribution\n";
    for (size_t i = 0; i < r.directions.size(); ++i) {
        const Direction& d = r.directions[i];
        out << i << ',' << d.lambda << ',' << d.sigma_w << ',' << d.sigma_g << ',' << d.c << ',' << d.mu_w << ','
            << d.mu_g << ',' << d.contribution << '\n';
    }
    return out.str();
}

std::string pairs_csv(const DualityReport& r) {
    std::ostringstream out;
    out.precision(17);
    out << "test_index,train_index,label,skipped,dl,dual_dl,taylor,dW_norm,verify_double_u,verify_long_double_u\n";
    for (const PairRecord& p : r.pairs)
        out << p.test_index << ',' << p.train_index << ',' << p.label << ',' << p.skipped << ',' << p.dl << ','
            << p.dual_dl << ',' << p.taylor << ',' << p.dW_norm << ',' << p.verify_double_u << ','
            << p.verify_long_double_u << '\n';
    return out.str();
}

nlohmann::json report_json(const DualityReport& r, const DualityCommandOptions& o, const Run& run) {
    nlohmann::json stages = nlohmann::json::object();
    double total = 0;
    for (const auto& [name, seconds] : r.stage_seconds) stages[name] = seconds, total += seconds;
    return {{"model", o.model},
            {"arch", run.net.spec.arch()},
            {"layer", r.layer},
            {"P", r.P},
            {"pairing", o.pairing},
            {"variant", o.variant},
            {"n_pairs", r.n_pairs},
            {"n_skipped", r.n_skipped},
            {"L_train", r.L_train},
            {"L_test", r.L_test},
            {"L_paired", r.L_paired},
            {"gap", r.gap},
            {"gap_paired", r.gap_paired},
            {"identity_estimate", r.identity_estimate},
            {"identity_residual", r.identity_residual},
            {"curvature_estimate", r.curvature_estimate},
            {"taylor_estimate", r.taylor_estimate},
            {"exact_dual_loss", r.exact_dual_loss},
            {"verify_double_u", r.verify_double_u},
            {"verify_long_double_u", r.verify_long_double_u},
            {"sum_sigma_w", r.sum_sigma_w},
            {"sum_sigma_g", r.sum_sigma_g},
            {"weight_norm", r.weight_norm},
            {"activity_weighted_norm", r.activity_weighted_norm},
            {"mean_dW_norm", r.mean_dW_norm},
            {"top_eigenvalue", r.top_eigenvalue},
            {"trace", r.trace},
            {"seconds", total},
            {"stage_seconds", stages},
            {"threads", o.threads}};
}

void plot_figures(const DualityReport& r, const std::string& out) {
    if (r.directions.empty() || r.n_skipped == r.n_pairs) {
        std::fprintf(stderr,
                     "note: no pair has dual weights (a dead layer: every training activity is zero), so no figures\n");
        return;
    }
    std::vector<size_t> order(r.directions.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t p, size_t q) { return r.directions[p].sigma_g > r.directions[q].sigma_g; });
    std::ostringstream contributions, sigmas;
    contributions.precision(12), sigmas.precision(12);
    double cumulative = 0;
    for (size_t rank = 0; rank < order.size(); ++rank) {
        const Direction& d = r.directions[order[rank]];
        cumulative += d.contribution;
        contributions << rank + 1 << ' ' << d.contribution << ' ' << cumulative << '\n';
        if (d.sigma_w > 0 && d.sigma_g > 0) sigmas << d.sigma_w << ' ' << d.sigma_g << ' ' << d.lambda << '\n';
    }
    char lines[256];
    std::snprintf(lines, sizeof lines,
                  "%.10g title 'L_{test} - L_{paired}' dt 2 lc rgb '#009E73', %.10g title 'L_{test} - L_{train}' dt 3 "
                  "lc rgb '#7f7f7f'",
                  r.gap_paired, r.gap);
    plot_png(out + "/contributions.png",
             "set title 'A-W decomposition, layer " + std::to_string(r.layer) +
                 ": contributions of eigendirections, sorted by σ_g'\n"
                 "set xlabel 'direction rank (by σ_g, descending)'\nset ylabel 'loss (nats)'\nset grid\nset key bottom "
                 "right\n"
                 "plot $c using 1:2 with impulses lc rgb '#0072B2' title 'μ_g μ_w + c σ_g σ_w', "
                 "$c using 1:3 with lines lw 2 lc rgb '#D55E00' title 'cumulative sum', " +
                 std::string(lines),
             {{"c", contributions.str()}});
    if (sigmas.str().empty()) {
        std::fprintf(
            stderr,
            "note: no direction has both sigma_w > 0 and sigma_g > 0 (a dead or constant network), so no sigma.png\n");
        return;
    }
    plot_png(out + "/sigma.png",
             "set title 'size of the solution against sharpness, per eigen-direction (layer " +
                 std::to_string(r.layer) +
                 ")'\n"
                 "set xlabel 'σ_w (spread of the dual weights)'\nset ylabel 'σ_g (spread of the gradients)'\nset "
                 "logscale xy\nset format x '10^{%T}'\nset format y '10^{%T}'\nset grid\n"
                 "plot $s using 1:2 with points pt 7 ps 0.5 lc rgb '#0072B2' notitle",
             {{"s", sigmas.str()}});
}

void print_table(const DualityReport& r, const Run& run) {
    std::printf("\n  %-44s %s\n", "stage", "seconds");
    if (run.summary.contains("seconds"))
        std::printf("  %-44s %8.3f\n", "training (awd train, from summary.json)", run.summary["seconds"].get<double>());
    double total = 0;
    for (const auto& [name, seconds] : r.stage_seconds)
        std::printf("  %-44s %8.3f\n", name.c_str(), seconds), total += seconds;
    std::printf("  %-44s %8.3f\n\n", "analysis total", total);
    std::printf("  %-44s %s\n", "quantity", "value");
    std::printf("  %-44s %.6f\n", "gap  L_test - L_train", r.gap);
    std::printf("  %-44s %.6f\n", "gap  L_test - L_paired (= mean dl)", r.gap_paired);
    std::printf("  %-44s %.6f   residual %.1e\n", "identity estimate  sum mu_g mu_w + c s_g s_w", r.identity_estimate,
                r.identity_residual);
    std::printf("  %-44s %.6f\n", "exact dual loss  mean l(x; theta+dtheta) - l", r.exact_dual_loss);
    std::printf("  %-44s %.6f\n", "per-sample Taylor (2nd order) estimate", r.taylor_estimate);
    std::printf("  %-44s %.6f\n", "curvature estimate  sum lambda (s_w^2+mu_w^2)/2", r.curvature_estimate);
    std::printf("  %-44s %.3f u\n", "verification error, double", r.verify_double_u);
    std::printf("  %-44s %.6f u   (ratio %.0f; 2^11 = 2048)\n", "verification error, long double",
                r.verify_long_double_u, r.verify_long_double_u > 0 ? r.verify_double_u / r.verify_long_double_u : 0.0);
    std::printf("  %-44s %.6e\n", "top eigenvalue of the layer Hessian", r.top_eigenvalue);
    std::printf("  %-44s %.4f / %.4f\n", "sum sigma_w / sum sigma_g", r.sum_sigma_w, r.sum_sigma_g);
    std::printf("  %-44s %.4f / %.4f\n", "|W|_F / activity-weighted norm", r.weight_norm, r.activity_weighted_norm);
    std::printf("  %-44s %d of %d\n", "pairs skipped (zero training activity)", r.n_skipped, r.n_pairs);
}

void run(const DualityCommandOptions& o) {
    set_threads(o.threads);
    const Run run = load_run(o.model);
    const Dataset train = run.train.has_noise() ? run.train.clean_subset() : run.train;
    DualityOptions options;
    options.layer = o.layer, options.pairing = parse_pairing(o.pairing),
    options.variant = parse_dual_variant(o.variant), options.seed = o.seed;
    const std::string out = o.out.empty() ? o.model + "/duality-layer" + std::to_string(o.layer) : o.out;
    std::printf("awd duality: layer %d of %s %s%s, %zu training%s / %zu test samples, %s pairing -> %s\n", o.layer,
                run.net.spec.arch().c_str(), activation_name(run.net.spec.activation),
                run.net.spec.bias ? "" : " (no bias)", train.size(), run.train.has_noise() ? " (clean)" : "",
                run.test.size(), o.pairing.c_str(), out.c_str());
    const DualityReport r = analyse_duality(run.net, train, run.test, options);
    make_directories(out);
    write_json_file(out + "/duality.json", with_provenance(report_json(r, o, run)));
    write_file_atomically(out + "/directions.csv", directions_csv(r));
    write_file_atomically(out + "/pairs.csv", pairs_csv(r));
    plot_figures(r, out);
    print_table(r, run);
    if (r.n_skipped > 0)
        std::printf(
            "\n  note: %d training samples of the pairs have a zero activity at layer %d (dead units): their dual "
            "weights are undefined "
            "and they are left out of every mean\n",
            r.n_skipped, o.layer);
}

}  // namespace

void add_duality_command(CLI::App& app) {
    auto o = std::make_shared<DualityCommandOptions>();
    CLI::App* cmd = app.add_subcommand(
        "duality", "A-W duality analysis of one layer: dual weights, verification, gap decomposition");
    cmd->add_option("--model", o->model, "run folder written by awd train")->required();
    cmd->add_option("--layer", o->layer,
                    "the dense layer whose weights carry the dual (1 = hidden-to-hidden of 784-30-30-10)")
        ->check(integer_in(0, kIntMax))
        ->capture_default_str();
    cmd->add_option(
           "--pairing", o->pairing,
           "nearest (same label, input space) | random (same label) | activity (same label, layer-l activity space)")
        ->capture_default_str();
    cmd->add_option("--variant", o->variant, "minimal (W only, bias fixed) | bias (W and b together, bias absorbed)")
        ->capture_default_str();
    cmd->add_option("--seed", o->seed, "seed of the random pairing")->check(seed_range())->capture_default_str();
    cmd->add_option("--threads", o->threads, "threads for matrix products")
        ->check(integer_in(1, 1024))
        ->capture_default_str();
    cmd->add_option("--out", o->out, "output folder (default: RUN/duality-layerL)");
    cmd->callback([o] { run(*o); });
}

}  // namespace awd
