// cmd_sgd_noise.cpp: `awd sgd-noise`, SGD noise against the exact Hessian at a trained solution
// (experiments/sgd/README.md, real networks): the Hessian's top eigenvalues (Lanczos) and trace
// (Hutchinson), the noise covariance C from exact per-sample gradients, the overlap of their top
// eigenvectors, and C_ii against H_ii as a power law. `--collect ROOT` gathers the runs of a grid
// and reports flatness against lr/B with Spearman rank correlations.
#include <cblas.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "analysis/hessian.h"
#include "analysis/rank_correlation.h"
#include "analysis/sgd_noise.h"
#include "analysis/spectrum.h"
#include "autodiff/product.h"
#include "experiments/common/commands.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/run_folder.h"
#include "nn/files.h"
#include "nn/per_sample.h"

namespace awd {

namespace {

struct SgdNoiseOptions {
    std::string model, collect;
    int top = 10, diagonal = 200, hutchinson = 30, threads = 1;
    uint64_t seed = 0;
};

void analyse(const SgdNoiseOptions& o) {
    set_threads(o.threads);
    const auto t0 = std::chrono::steady_clock::now();
    const Run run = load_run(o.model);
    const Dataset& data = run.train;
    const size_t P = run.net.spec.n_params();
    HessianVectorProduct hvp(run.net, data.X, data.y, all_indices(run.net.spec));
    const LanczosResult lz = lanczos_top(hvp, P, o.top, std::max(100, 8 * o.top), 1e-8, o.seed);
    const Estimate trace = hutchinson_trace(hvp, P, o.hutchinson, o.seed + 1);
    Model model = run.net.model;  // per_sample_gradients leaves a gradient in it
    const Tensor G = per_sample_gradients(model, loss_function(run.net.spec.loss), data.X, data.y);
    const NoiseCovariance C = noise_covariance(G, o.top);
    // subspace overlap of the top eigenvectors: |V_C V_H^T|_F^2 / k, 1 = the same subspace
    const int k = std::min<int>(o.top, (int)lz.pairs.values.size());
    double overlap = 0;
    for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j)
            overlap += std::pow(cblas_ddot((int)P, C.eigenvectors.data.data() + (size_t)i * P, 1,
                                           lz.pairs.vectors.data.data() + (size_t)j * P, 1),
                                2);
    overlap /= k;
    // exact H_ii on a seeded random subset of coordinates: H e_i
    Rng rng(stream_seed(o.seed, 2));
    std::vector<double> h_diag, c_diag;
    for (int m = 0; m < o.diagonal; ++m) {
        const size_t i = rng.index(P);
        std::vector<double> e(P, 0.0);
        e[i] = 1;
        h_diag.push_back(hvp(e)[i]), c_diag.push_back(C.diagonal[i]);
    }
    const PowerLawFit fit = fit_power_law(h_diag, c_diag);
    const nlohmann::json config = run.summary.contains("config") ? run.summary["config"] : nlohmann::json::object();
    const double lr = config.value("lr", 0.0);
    const int batch = config.value("batch", 0);
    nlohmann::json report = {{"model", o.model},
                             {"arch", run.net.spec.arch()},
                             {"n_train", data.size()},
                             {"P", P},
                             {"lr", lr},
                             {"batch", batch},
                             {"lr_over_B", batch > 0 ? lr / batch : 0.0},
                             {"train_loss", run.summary.value("train_loss", 0.0)},
                             {"hessian_top_eigenvalues", lz.pairs.values},
                             {"lanczos_residuals", lz.residuals},
                             {"hessian_trace", trace.value},
                             {"hessian_trace_stderr", trace.standard_error},
                             {"noise_top_eigenvalues", C.eigenvalues},
                             {"noise_trace", C.trace},
                             {"top_eigenvector_overlap", overlap},
                             {"diagonal_points", fit.points},
                             {"diagonal_power_law_exponent", fit.exponent},
                             {"diagonal_power_law_ci95",
                              {fit.exponent - 1.96 * fit.exponent_stderr, fit.exponent + 1.96 * fit.exponent_stderr}},
                             {"diagonal_power_law_prefactor", fit.prefactor}};
    report["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_json_file(o.model + "/sgd-noise.json", report);
    std::ostringstream pts;
    pts.precision(10);
    for (size_t m = 0; m < h_diag.size(); ++m)
        if (h_diag[m] > 0 && c_diag[m] > 0) pts << h_diag[m] << ' ' << c_diag[m] << '\n';
    char title[160];
    std::snprintf(title, sizeof title, "C_ii against H_ii (%d coordinates): exponent %.3f +- %.3f (95%%)", fit.points,
                  fit.exponent, 1.96 * fit.exponent_stderr);
    if (fit.points >= 3)
        plot_png(o.model + "/sgd-noise-diagonal.png",
                 std::string("set title '") + title +
                     "'\nset xlabel 'H_ii'\nset ylabel 'C_ii'\nset logscale xy\nset grid\n" +
                     "plot $p using 1:2 with points pt 7 ps 0.5 notitle, " + std::to_string(fit.prefactor) + " * x**" +
                     std::to_string(fit.exponent) + " with lines lw 2 title 'fit'",
                 {{"p", pts.str()}});
    std::printf(
        "awd sgd-noise %s: lr %g B %d: lambda_max %.4e, tr H %.4e +- %.1e, C top %.4e, tr C %.4e, overlap %.3f, C_ii ~ "
        "H_ii^%.3f (+- %.3f), %.1f s\n",
        o.model.c_str(), lr, batch, lz.pairs.values[0], trace.value, trace.standard_error, C.eigenvalues[0], C.trace,
        overlap, fit.exponent, 1.96 * fit.exponent_stderr, report["seconds"].get<double>());
}

// Every ROOT/*/sgd-noise.json: flatness against lr/B, with Spearman rank correlations.
void collect(const SgdNoiseOptions& o) {
    std::vector<nlohmann::json> runs;
    for (const auto& entry : std::filesystem::directory_iterator(o.collect))
        if (file_exists(entry.path().string() + "/sgd-noise.json"))
            runs.push_back(nlohmann::json::parse(read_file(entry.path().string() + "/sgd-noise.json")));
    if (runs.size() < 3)
        throw std::runtime_error("--collect " + o.collect + ": found " + std::to_string(runs.size()) +
                                 " runs with sgd-noise.json, need 3");
    std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) {
        return a["lr_over_B"].template get<double>() < b["lr_over_B"].template get<double>();
    });
    std::vector<double> x, top, trace, overlap;
    std::ostringstream pts;
    pts.precision(10);
    nlohmann::json table = nlohmann::json::array();
    for (const auto& r : runs) {
        x.push_back(r["lr_over_B"]), top.push_back(r["hessian_top_eigenvalues"][0]),
            trace.push_back(r["hessian_trace"]), overlap.push_back(r["top_eigenvector_overlap"]);
        pts << x.back() << ' ' << top.back() << ' ' << trace.back() << '\n';
        table.push_back({{"lr", r["lr"]},
                         {"batch", r["batch"]},
                         {"lr_over_B", r["lr_over_B"]},
                         {"lambda_max", r["hessian_top_eigenvalues"][0]},
                         {"trace", r["hessian_trace"]},
                         {"overlap", r["top_eigenvector_overlap"]},
                         {"diagonal_exponent", r["diagonal_power_law_exponent"]},
                         {"train_loss", r["train_loss"]}});
    }
    const nlohmann::json report = {{"runs", table},
                                   {"spearman_lambda_max_vs_lr_over_B", spearman(x, top)},
                                   {"spearman_trace_vs_lr_over_B", spearman(x, trace)}};
    write_json_file(o.collect + "/flatness.json", report);
    plot_png(o.collect + "/flatness.png",
             "set title 'flatness against lr/B (MLP 784-50-50-10, 100 digits per class)'\nset xlabel 'η / B (learning "
             "rate per sample)'\nset ylabel 'λ_{max} (top Hessian eigenvalue)'\nset y2label 'tr H'\n"
             "set logscale xyy2\nset ytics nomirror\nset y2tics\nset grid\nplot $p using 1:2 with points pt 7 title "
             "'λ_{max}', $p using 1:3 axes x1y2 with points pt 5 title 'tr H'",
             {{"p", pts.str()}});
    std::printf(
        "awd sgd-noise --collect %s: %zu runs; Spearman(lambda_max, lr/B) = %.3f, Spearman(trace, lr/B) = %.3f\n",
        o.collect.c_str(), runs.size(), report["spearman_lambda_max_vs_lr_over_B"].get<double>(),
        report["spearman_trace_vs_lr_over_B"].get<double>());
}

}  // namespace

void add_sgd_noise_command(CLI::App& app) {
    auto o = std::make_shared<SgdNoiseOptions>();
    CLI::App* cmd = app.add_subcommand(
        "sgd-noise", "SGD noise covariance (exact per-sample gradients) against the exact Hessian of a trained run");
    auto* model = cmd->add_option("--model", o->model, "trained run folder (awd train); writes sgd-noise.json into it");
    auto* gather =
        cmd->add_option("--collect", o->collect, "folder of run folders already analysed: flatness against lr/B");
    model->excludes(gather);
    cmd->add_option("--top", o->top, "eigenpairs of H and C")->check(CLI::Range(1, 200))->capture_default_str();
    cmd->add_option("--diagonal", o->diagonal, "random coordinates for the C_ii against H_ii fit")
        ->check(CLI::Range(3, 100000))
        ->capture_default_str();
    cmd->add_option("--hutchinson", o->hutchinson, "probe vectors of the trace estimate")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    cmd->add_option("--threads", o->threads, "threads for matrix products")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--seed", o->seed, "seed of Lanczos, Hutchinson and the coordinate subset")->capture_default_str();
    cmd->callback([o] {
        if (o->model.empty() == o->collect.empty())
            throw CLI::ValidationError("--model/--collect", "give exactly one of --model RUN and --collect ROOT");
        if (!o->model.empty()) analyse(*o);
        else collect(*o);
    });
}

}  // namespace awd
