// cmd_hessian.cpp: `awd hessian`, the exact Hessian of a trained run's training loss, its
// spectrum, and for nets too big to store it, the top eigenpairs from Hessian-vector products.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "analysis/hessian.h"
#include "analysis/spectrum.h"
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

struct HessianOptions {
    std::string model, out, method = "fast";
    int layer = -1, top = 0, threads = (int)std::max(1u, std::thread::hardware_concurrency()), hutchinson = 100;
    bool all = false, with_bias = false, eig = false, density = false;
    double memory_limit_gb = 0;  // 0: half the physical memory
    uint64_t seed = 0;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<double> first(const std::vector<double>& v, size_t k) {
    return std::vector<double>(v.begin(), v.begin() + std::min(k, v.size()));
}

void plot_spectrum(const std::string& path, const std::vector<double>& eigenvalues, const std::string& title) {
    if (std::all_of(eigenvalues.begin(), eigenvalues.end(),
                    [](double v) { return v == 0; })) {  // nothing for a log scale to show
        std::fprintf(
            stderr,
            "note: every eigenvalue is exactly 0 (a dead or constant network: no unit's output depends on these "
            "parameters), so no %s\n",
            path.c_str());
        return;
    }
    std::ostringstream data;
    data.precision(17);
    for (size_t i = 0; i < eigenvalues.size(); ++i) data << i + 1 << ' ' << eigenvalues[i] << '\n';
    plot_png(path,
             "set title '" + title +
                 "'\nset xlabel 'rank i'\nset ylabel '|λ_i|'\nset logscale y\nset format y '10^{%T}'\nset grid\n"
                 "plot $eig using 1:($2 > 0 ? $2 : 1/0) with points pt 7 ps 0.4 lc rgb '#0072B2' title 'λ > 0', "
                 "$eig using 1:($2 < 0 ? -$2 : 1/0) with points pt 7 ps 0.4 lc rgb '#D55E00' title 'λ < 0'",
             {{"eig", data.str()}});
}

// The SLQ spectral density on a grid from below the smallest node to above the top eigenvalue,
// smoothed with a Gaussian of 1/100 of that range: density.csv and density.png.
void write_density(const std::string& out, const SpectralDensity& d, double top) {
    const double lo = std::min(*std::min_element(d.nodes.begin(), d.nodes.end()), 0.0), hi = std::max(top, lo + 1e-300);
    const double sigma = (hi - lo) / 100;
    std::ostringstream csv;
    csv.precision(12);
    csv << "lambda,density\n";
    std::ostringstream data;
    double peak = 0;
    for (int k = 0; k <= 400; ++k) {
        const double lambda = lo - 3 * sigma + (hi - lo + 6 * sigma) * k / 400, rho = d.density_at(lambda, sigma);
        csv << lambda << ',' << rho << '\n';
        data << lambda << ' ' << rho << '\n';
        peak = std::max(peak, rho);
    }
    char range[96];  // six decades below the peak: the gaps between isolated eigenvalues fall far lower
    std::snprintf(range, sizeof range, "set yrange [%g:%g]\n", peak * 1e-6, peak * 2);
    write_file_atomically(out + "/density.csv", csv.str());
    plot_png(out + "/density.png",
             "set title 'Hessian spectral density (stochastic Lanczos quadrature, 10 vectors × 80 steps)'\nset xlabel "
             "'eigenvalue λ'\n"
             "set ylabel 'density'\nset logscale y\nset format y '10^{%T}'\nset grid\n" +
                 std::string(range) + "plot $d using 1:2 with lines lw 2 lc rgb '#0072B2' notitle",
             {{"d", data.str()}});
}

void run(const HessianOptions& o) {
    if (o.all == (o.layer >= 0)) throw std::invalid_argument("choose exactly one of --layer L and --all");
    if (o.method != "fast" && o.method != "plain")
        throw std::invalid_argument("--method must be fast or plain, not '" + o.method + "'");
    set_threads(o.threads);
    const Run run = load_run(o.model);
    const Dataset data = run.train.has_noise() ? run.train.clean_subset() : run.train;
    const std::vector<size_t> idx =
        o.all ? all_indices(run.net.spec) : layer_indices(run.net.spec, o.layer, o.with_bias);
    const size_t P = idx.size();
    const std::string out = o.out.empty()
        ? o.model + "/hessian" + (o.all ? std::string("-all") : "-layer" + std::to_string(o.layer))
        : o.out;
    const double limit = o.memory_limit_gb > 0 ? o.memory_limit_gb * 1e9 : physical_memory_bytes() / 2;
    const bool matrix_free = o.top > 0 && !o.eig;
    nlohmann::json report = {{"P", P},
                             {"N", data.size()},
                             {"layer", o.all ? nlohmann::json("all") : nlohmann::json(o.layer)},
                             {"with_bias", o.with_bias},
                             {"threads", o.threads},
                             {"model", o.model}};
    if (matrix_free) {  // Lanczos basis (up to `steps` vectors of P) and the K eigenvectors
        const int steps = (int)std::min<size_t>(P, std::max(200, 10 * o.top));
        check_memory((double)(steps + o.top) * P * 8, limit,
                     "Lanczos on the " + std::to_string(P) + "-parameter Hessian");
    } else {
        char what[160];
        std::snprintf(what, sizeof what, "the dense %zu x %zu Hessian%s", P, P,
                      o.eig ? " with its eigen-decomposition" : "");
        try {
            check_memory(dense_hessian_bytes(P, o.eig), limit, what);
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(
                std::string(e.what()) +
                "; use --layer L for one layer's block, or --top K for the top eigenpairs by Lanczos");
        }
    }
    make_directories(out);
    std::printf(
        "awd hessian: %s, %s, P = %zu parameters, N = %zu training samples -> %s\n", run.net.spec.arch().c_str(),
        o.all ? "all parameters"
              : ("layer " + std::to_string(o.layer) + (o.with_bias ? " (weights and bias)" : " (weights)")).c_str(),
        P, data.size(), out.c_str());
    const auto t0 = std::chrono::steady_clock::now();
    HessianVectorProduct hvp(run.net, data.X, data.y, idx);
    if (matrix_free) {
        const int steps = (int)std::min<size_t>(P, std::max(200, 10 * o.top));
        const LanczosResult lz = lanczos_top(hvp, P, o.top, steps, 1e-10, o.seed);
        const Estimate trace = hutchinson_trace(hvp, P, o.hutchinson, o.seed + 1);
        write_npy(out + "/eigenvalues.npy", lz.pairs.values);
        write_npy(out + "/eigenvectors.npy", lz.pairs.vectors);
        report.update({{"method", "lanczos"},
                       {"top_eigenvalues", lz.pairs.values},
                       {"residuals", lz.residuals},
                       {"lanczos_steps", lz.steps},
                       {"trace", trace.value},
                       {"trace_standard_error", trace.standard_error},
                       {"trace_method", "hutchinson"},
                       {"hutchinson_samples", o.hutchinson}});
        plot_spectrum(out + "/spectrum.png", lz.pairs.values,
                      "top " + std::to_string(o.top) + " Hessian eigenvalues (Lanczos)");
        if (o.density)
            write_density(out, stochastic_lanczos_quadrature(hvp, P, 10, 80, o.seed + 2), lz.pairs.values[0]);
        std::printf("  top eigenvalue %.10e (Lanczos, %d HVPs); trace ~ %.6e +- %.1e (Hutchinson)\n",
                    lz.pairs.values[0], lz.steps, trace.value, trace.standard_error);
    } else {
        HessianStats stats;
        const auto t_h = std::chrono::steady_clock::now();
        const Tensor H = o.method == "fast" ? hessian_fast(run.net, data.X, data.y, idx, &stats)
                                            : hessian_plain(run.net, data.X, data.y, idx);
        const double seconds_hessian = seconds_since(t_h);
        write_npy(out + "/H.npy", H);
        // an independent check on every run: H v against one autodiff Hessian-vector product
        Rng rng(o.seed);
        std::vector<double> v(P), Hv(P, 0.0);
        for (double& x : v) x = rng.normal();
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)P, (int)P, 1.0, H.data.data(), (int)P, v.data(), 1, 0.0,
                    Hv.data(), 1);
        const std::vector<double> reference = hvp(v);
        double trace = 0;
        for (size_t i = 0; i < P; ++i) trace += H((int)i, (int)i);
        const auto t_e = std::chrono::steady_clock::now();
        const EigenPairs eig = symmetric_eigen(H, o.eig);
        const double seconds_eigen = seconds_since(t_e);
        write_npy(out + "/eigenvalues.npy", eig.values);
        if (o.eig) write_npy(out + "/eigenvectors.npy", eig.vectors);
        report.update({{"method", o.method},
                       {"symmetry_residual", symmetry_residual(H)},
                       {"hvp_residual", relative_difference(Tensor((int)P, 1, Hv), Tensor((int)P, 1, reference))},
                       {"top_eigenvalues", first(eig.values, std::max(10, o.top))},
                       {"trace", trace},
                       {"seconds_hessian", seconds_hessian},
                       {"seconds_eigen", seconds_eigen},
                       {"gemm_gflops", stats.gemm_flops / 1e9},
                       {"memory_bytes_estimate", dense_hessian_bytes(P, o.eig)}});
        plot_spectrum(out + "/spectrum.png", eig.values,
                      "Hessian spectrum, " + run.net.spec.arch() +
                          (o.all ? ", all parameters" : ", layer " + std::to_string(o.layer)));
        std::printf("  Hessian %.3f s (%s), eigenvalues %.3f s; top eigenvalue %.10e, trace %.10e\n", seconds_hessian,
                    o.method.c_str(), seconds_eigen, eig.values[0], trace);
        std::printf("  symmetry residual %.1e, |H v - hvp(v)| / |hvp(v)| = %.1e\n",
                    report["symmetry_residual"].get<double>(), report["hvp_residual"].get<double>());
    }
    report["seconds"] = seconds_since(t0);
    write_json_file(out + "/hessian.json", with_provenance(report));
}

}  // namespace

void add_hessian_command(CLI::App& app) {
    auto o = std::make_shared<HessianOptions>();
    CLI::App* cmd =
        app.add_subcommand("hessian", "exact Hessian of a run's training loss, its spectrum, or its top eigenpairs");
    cmd->add_option("--model", o->model, "run folder written by awd train")->required();
    cmd->add_option("--layer", o->layer, "Hessian of this layer's weights (W^L, n_out x n_in, row-major)")
        ->check(integer_in(0, kIntMax));
    cmd->add_flag("--all", o->all, "Hessian of all parameters (theta order: W0, b0, W1, b1, ...)");
    cmd->add_flag("--with-bias", o->with_bias, "with --layer: the layer's bias too (after its weights)");
    cmd->add_flag("--eig", o->eig, "full eigen-decomposition: eigenvectors.npy (P x P, row i for eigenvalue i)");
    cmd->add_option("--top", o->top, "top K eigenpairs; without --eig by Lanczos from HVPs, no dense Hessian")
        ->check(integer_in(1, kIntMax));
    cmd->add_flag("--density", o->density, "with --top: the spectral density by SLQ too (density.csv, density.png)");
    cmd->add_option("--method", o->method, "fast (layer-structured) | plain (reverse-over-reverse, slow)")
        ->capture_default_str();
    cmd->add_option("--memory-limit", o->memory_limit_gb,
                    "refuse dense Hessians above this many GB (default: half the physical memory)")
        ->check(real_in(0, kNoLimit, Ends::LowOpen));
    cmd->add_option("--hutchinson", o->hutchinson, "with --top: Rademacher vectors for the trace estimate")
        ->check(integer_in(1, kIntMax))
        ->capture_default_str();
    cmd->add_option("--threads", o->threads, "threads for matrix products")
        ->check(integer_in(1, 1024))
        ->capture_default_str();
    cmd->add_option("--seed", o->seed, "seed of the random vectors (checks, Lanczos, Hutchinson)")
        ->check(seed_range())
        ->capture_default_str();
    cmd->add_option("--out", o->out, "output folder (default: RUN/hessian-layerL or RUN/hessian-all)");
    cmd->callback([o] { run(*o); });
}

}  // namespace awd
