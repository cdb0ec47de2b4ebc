// cmd_gan.cpp: `awd gan`, one run of the effective GAN model (experiments/gan/README.md): N
// particles coupled by K = g1 I + g2 (1 1^T - I) (or a kernel file) against an MLP discriminator.
// `--preset authors` sets the authors' mnist100 setup (authors_mnist100_config); flags given
// explicitly override it.
//
// The run folder (written aside as DIR.partial, then renamed) holds summary.json (final order
// parameters, the end state, every setting, and the energy distance at each record exactly),
// trajectory.csv (order parameters over time), particles.npy
// (final, (N, d)), particles_start.npy, and PNG figures: particles_stepT.png snapshots and
// trajectory.png (not drawn with --trajectory-figure false, as gan-paper's grid runs ask). A run
// whose state becomes non-finite keeps its last good state, writes the folder with the step that
// failed in summary.json, and exits 1 naming that step.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <sstream>

#include "autodiff/product.h"
#include "experiments/common/commands.h"
#include "experiments/common/flags.h"
#include "experiments/common/json_file.h"
#include "experiments/common/provenance.h"
#include "experiments/gan/gan.h"
#include "experiments/gan/gan_grid.h"
#include "experiments/gan/gan_plots.h"
#include "nn/files.h"

namespace awd {

namespace {

// The defaults show the collapse transition on the low-dimensional targets within the default
// steps: g2/g1 = 0.98 collapses, g2 = 0 spreads (measured in the README).
struct GanOptions {
    std::string preset, target = "ring8", kernel, out, objective = "gan", penalty_on = "data",
                        penalty_scale = "per-sample", hidden = "64,64", activation = "relu", optimizer = "sgd", assign;
    int particles = 100, d_steps = 1, d_steps_first = 0, dropout_after = 1, steps = 2000, batch = 0, record_every = 10,
        snapshots = 4, threads = 1;
    double g1 = 1, g2 = 0.5, lr_g = 0.01, lr_d = 0.01, penalty = 0, weight_decay = 0, momentum = 0, init_std = 0.1,
           dropout = 0;
    bool allow_g2_above_g1 = false, output_bias = true, amsgrad = false, fresh_optimizer = false,
         trajectory_figure = true;
    uint64_t seed = 0;
};

std::string joined(const std::vector<int>& widths) {
    std::string s;
    for (size_t k = 0; k < widths.size(); ++k) s += (k ? "," : "") + std::to_string(widths[k]);
    return s;
}

// --preset authors: every option the authors' setup fixes, unless its flag was given.
void apply_preset(GanOptions& o, const CLI::App& cmd) {
    if (o.preset.empty()) return;
    if (o.preset != "authors")
        throw CLI::ValidationError("--preset", "unknown preset '" + o.preset + "' (expected authors)");
    const GanConfig a = authors_mnist100_config();
    const std::pair<const char*, std::function<void()>> settings[] = {
        {"--target", [&] { o.target = "mnist100"; }},
        {"--particles", [&] { o.particles = a.particles; }},
        {"--g1", [&] { o.g1 = a.g1; }},
        {"--lr-g", [&] { o.lr_g = a.lr_g; }},
        {"--lr-d", [&] { o.lr_d = a.lr_d; }},
        {"--d-steps", [&] { o.d_steps = a.d_steps; }},
        {"--d-steps-first", [&] { o.d_steps_first = a.d_steps_first; }},
        {"--penalty", [&] { o.penalty = a.penalty; }},
        {"--penalty-on", [&] { o.penalty_on = penalty_on_name(a.penalty_on); }},
        {"--penalty-scale", [&] { o.penalty_scale = penalty_scale_name(a.penalty_scale); }},
        {"--objective", [&] { o.objective = gan_objective_name(a.objective); }},
        {"--hidden", [&] { o.hidden = joined(a.hidden); }},
        {"--activation", [&] { o.activation = activation_name(a.activation); }},
        {"--dropout", [&] { o.dropout = a.dropout; }},
        {"--dropout-after", [&] { o.dropout_after = a.dropout_after; }},
        {"--output-bias", [&] { o.output_bias = a.output_bias; }},
        {"--optimizer-d", [&] { o.optimizer = optimizer_name(a.optimizer.kind); }},
        {"--amsgrad", [&] { o.amsgrad = a.optimizer.amsgrad; }},
        {"--fresh-optimizer-d", [&] { o.fresh_optimizer = a.fresh_optimizer; }},
        {"--weight-decay", [&] { o.weight_decay = a.weight_decay; }},
        {"--init-std", [&] { o.init_std = a.init_std; }},
        {"--steps", [&] { o.steps = 1000; }},
        {"--g2", [&] { o.g2 = a.g2; }},
    };
    for (const auto& [flag, set] : settings)
        if (cmd.count(flag) == 0) set();
}

std::vector<int> parse_widths(const std::string& text) {
    std::vector<int> widths;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
        size_t used = 0;
        int w = 0;
        try {
            w = std::stoi(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used != item.size() || w <= 0)
            throw CLI::ValidationError("--hidden", "'" + item + "' is not a positive width (e.g. --hidden 64,64)");
        widths.push_back(w);
    }
    return widths;
}

// The flags that depend on each other or on files; each error names its flag (exit code 2).
GanConfig checked_config(const GanOptions& o) {
    if (o.g2 > o.g1 && !o.allow_g2_above_g1)
        throw CLI::ValidationError(
            "--g2",
            "g2 = " + std::to_string(o.g2) + " exceeds g1 = " + std::to_string(o.g1) +
                " (cross coupling above self coupling); pass --allow-g2-above-g1 to run it anyway");
    GanConfig c;
    c.particles = o.particles, c.g1 = o.g1, c.g2 = o.g2, c.lr_g = o.lr_g, c.lr_d = o.lr_d, c.d_steps = o.d_steps;
    c.weight_decay = o.weight_decay, c.penalty = o.penalty, c.batch = o.batch, c.init_std = o.init_std, c.seed = o.seed;
    c.d_steps_first = o.d_steps_first, c.dropout = o.dropout, c.dropout_after = o.dropout_after,
    c.output_bias = o.output_bias;
    c.fresh_optimizer = o.fresh_optimizer, c.optimizer.amsgrad = o.amsgrad;
    c.hidden = parse_widths(o.hidden);
    if (c.dropout > 0 && (c.dropout_after < 1 || c.dropout_after > (int)c.hidden.size()))
        throw CLI::ValidationError("--dropout-after",
                                   std::to_string(c.dropout_after) + " is not a hidden layer of --hidden " + o.hidden +
                                       " (1.." + std::to_string(c.hidden.size()) + ")");
    try {
        c.penalty_scale = parse_penalty_scale(o.penalty_scale);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--penalty-scale", e.what());
    }
    try {
        c.objective = parse_gan_objective(o.objective);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--objective", e.what());
    }
    try {
        c.penalty_on = parse_penalty_on(o.penalty_on);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--penalty-on", e.what());
    }
    try {
        c.activation = parse_activation(o.activation);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--activation", e.what());
    }
    try {
        c.optimizer.kind = parse_optimizer(o.optimizer);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--optimizer-d", e.what());
    }
    c.optimizer.momentum = o.momentum;
    if (c.optimizer.amsgrad && c.optimizer.kind == OptimizerKind::Sgd)
        throw CLI::ValidationError("--amsgrad", "amsgrad needs --optimizer-d adam or adamw");
    return c;
}

Tensor checked_kernel(const GanOptions& o) {
    if (o.kernel.empty()) return coupling_kernel(o.particles, o.g1, o.g2);
    Tensor K;
    try {
        K = read_npy_matrix(o.kernel);
        require_finite(K, o.kernel);
    } catch (const std::exception& e) {
        throw CLI::ValidationError("--kernel", e.what());
    }
    if (K.rows != o.particles || K.cols != o.particles)
        throw CLI::ValidationError("--kernel",
                                   o.kernel + " is " + K.shape() + " but --particles " + std::to_string(o.particles) +
                                       " needs (" + std::to_string(o.particles) + " x " + std::to_string(o.particles) +
                                       ")");
    return K;
}

nlohmann::json settings_json(const GanOptions& o, const GanConfig& c, const GanTarget& t) {
    nlohmann::json j = gan_config_json(c);
    j.update({{"target", o.target},
              {"target_points", t.size()},
              {"dimension", t.dim()},
              {"target_width", t.width},
              {"assignment_distance", t.cosine ? "cosine" : "euclidean"},
              {"kernel", o.kernel.empty() ? nlohmann::json("g1 I + g2 (11^T - I)") : nlohmann::json(o.kernel)},
              {"g2", c.g2},
              {"g2_over_g1", c.g1 != 0 ? c.g2 / c.g1 : 0.0},
              {"lr_d", c.lr_d},
              {"momentum_d", c.optimizer.momentum},
              {"batch", c.batch},
              {"steps", o.steps},
              {"seed", o.seed},
              {"record_every", o.record_every},
              {"threads", o.threads},
              {"preset", o.preset.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.preset)}});
    return j;
}

void write_trajectory_csv(const std::string& path, const std::vector<GanRecord>& trajectory) {
    std::ostringstream csv;
    csv.precision(12);
    csv << "step,collapse_score,mean_min_distance,spread,energy_distance,occupied_targets,objective,penalty,centroid_"
           "norm,shape_change,end_state\n";
    for (const GanRecord& r : trajectory)
        csv << r.step << ',' << r.order.collapse << ',' << r.order.mean_min_distance << ',' << r.order.spread << ','
            << r.order.energy << ',' << r.order.occupied << ',' << r.objective << ',' << r.penalty << ','
            << r.order.centroid_norm << ',' << r.order.shape_change << ',' << end_state_name(r.order.end_state) << '\n';
    write_file_atomically(path, csv.str());
}

void run(GanOptions o, const CLI::App& cmd) {
    keep_heap_between_steps();
    apply_preset(o, cmd);
    const GanConfig config = checked_config(o);
    const Tensor kernel = checked_kernel(o);
    GanTarget target;
    try {
        target = make_target(o.target);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--target", e.what());
    }
    if (!o.assign.empty()) {
        if (o.assign != "cosine" && o.assign != "euclidean")
            throw CLI::ValidationError("--assign",
                                       "'" + o.assign + "' is not a distance (expected cosine or euclidean)");
        target.cosine = o.assign == "cosine";
    }
    set_threads(o.threads);
    const std::string out = o.out.empty() ? "runs/gan-" + std::filesystem::path(o.target).filename().string() : o.out;
    if (std::filesystem::exists(out) && !std::filesystem::exists(out + "/summary.json"))
        throw std::runtime_error(out + " exists and is not a gan run folder; refusing to replace it");
    const std::string partial = out + ".partial";
    std::filesystem::remove_all(partial);
    make_directories(partial);

    GanDynamics dynamics(target, config, kernel);
    write_npy(partial + "/particles_start.npy", dynamics.particles());
    const bool terminal = isatty(fileno(stderr));
    const int snapshot_every = o.snapshots > 0 ? std::max(1, o.steps / o.snapshots) : 0;
    std::printf(
        "awd gan: %s (K = %d targets in %d dimensions), N = %d particles, g2/g1 = %g, lr_g %g, lr_d %g, %s, penalty %g "
        "on %s -> %s\n",
        o.target.c_str(), target.size(), target.dim(), config.particles, config.g1 != 0 ? config.g2 / config.g1 : 0.0,
        config.lr_g, config.lr_d, gan_objective_name(config.objective), config.penalty,
        penalty_on_name(config.penalty_on), out.c_str());
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> snapshots;
    auto on_record = [&](const GanDynamics& d, const GanRecord& r) {
        if (snapshot_every > 0 && (r.step % snapshot_every == 0 || r.step == o.steps)) {
            const std::string name = "particles_step" + std::to_string(r.step) + ".png";
            if (plot_particles(partial + "/" + name, d.particles(), target,
                               o.target + ", step " + std::to_string(r.step) + ", collapse score " +
                                   std::to_string(r.order.collapse)))
                snapshots.push_back(name);
        }
        if (terminal)
            std::fprintf(
                stderr, "\r  step %d/%d  collapse %.4f  occupied %d/%d  mean min distance %.4g  energy %.4g   ", r.step,
                o.steps, r.order.collapse, r.order.occupied, target.size(), r.order.mean_min_distance, r.order.energy);
    };
    const GanOutcome outcome = run_gan(dynamics, target, o.steps, std::max(1, o.record_every), on_record);
    if (terminal) std::fprintf(stderr, "\n");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // the final state: recorded again when the run stopped between records
    const OrderParameters final_order = order_parameters(dynamics.particles(), target, &dynamics.start());

    write_npy(partial + "/particles.npy", dynamics.particles());
    write_npy(partial + "/discriminator_theta.npy", dynamics.discriminator().theta());
    write_trajectory_csv(partial + "/trajectory.csv", outcome.trajectory);
    if (o.trajectory_figure)
        plot_trajectory(partial + "/trajectory.png", outcome.trajectory,
                        o.target + ", g_2/g_1 = " + std::to_string(config.g2 / config.g1));
    nlohmann::json summary = settings_json(o, config, target);
    summary.update({{"collapse_score", final_order.collapse},
                    {"max_collapse_score", std::log((double)target.size())},
                    {"mean_min_distance", final_order.mean_min_distance},
                    {"spread", final_order.spread},
                    {"start_spread", order_parameters(dynamics.start(), target).spread},
                    {"centroid_norm", final_order.centroid_norm},
                    {"shape_change", final_order.shape_change},
                    {"end_state", end_state_name(final_order.end_state)},
                    {"energy_distance", final_order.energy},
                    {"occupied_targets", final_order.occupied},
                    {"steps_done", dynamics.steps_done()},
                    {"status", outcome.error.empty() ? "finished" : "stopped"},
                    {"seconds", seconds},
                    {"snapshots", snapshots}});
    // the records of trajectory.csv at full precision, for the reports that average them (gan-paper's damping)
    nlohmann::json steps = nlohmann::json::array(), energies = nlohmann::json::array();
    for (const GanRecord& r : outcome.trajectory) steps.push_back(r.step), energies.push_back(r.order.energy);
    summary["trajectory"] = {{"step", steps}, {"energy_distance", energies}};
    if (!outcome.error.empty()) summary["error"] = outcome.error;
    write_json_file(partial + "/summary.json", with_provenance(summary));
    std::filesystem::remove_all(out);
    std::filesystem::rename(partial, out);
    std::printf(
        "  %d steps in %.2f s: collapse score %.4f of ln K = %.4f, %d of %d targets occupied, mean min distance %.4g, "
        "energy distance %.4g\n"
        "  spread %.4g, centroid norm %.4g, end state: %s\n",
        dynamics.steps_done(), seconds, final_order.collapse, std::log((double)target.size()), final_order.occupied,
        target.size(), final_order.mean_min_distance, final_order.energy, final_order.spread, final_order.centroid_norm,
        end_state_name(final_order.end_state));
    if (!outcome.error.empty()) throw std::runtime_error(outcome.error + "; the last good state is in " + out);
}

}  // namespace

void add_gan_command(CLI::App& app) {
    auto o = std::make_shared<GanOptions>();
    CLI::App* cmd = app.add_subcommand(
        "gan", "the effective GAN model: N coupled particles against an MLP discriminator (experiments/gan/README.md)");
    cmd->add_option("--preset", o->preset, "authors: the authors' mnist100 setup (explicit flags override it)")
        ->check(CLI::IsMember({"authors"}));
    cmd->add_option(
           "--target", o->target,
           "gauss1d | ring8 | grid25 | mnist100 (the first 100 training images) | mnist100-balanced | points:FILE.npy")
        ->capture_default_str();
    cmd->add_option("--assign", o->assign,
                    "distance for the nearest target: cosine | euclidean (default: cosine for MNIST, else euclidean)")
        ->check(CLI::IsMember({"cosine", "euclidean"}));
    cmd->add_option("--particles", o->particles, "number of particles N")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--g1", o->g1, "kernel self coupling")->check(real_in(0, kNoLimit))->capture_default_str();
    cmd->add_option("--g2", o->g2, "kernel cross coupling (<= g1 unless --allow-g2-above-g1)")
        ->check(real_in(-kNoLimit, kNoLimit))
        ->capture_default_str();
    cmd->add_flag("--allow-g2-above-g1", o->allow_g2_above_g1, "run with g2 > g1 anyway");
    cmd->add_option("--kernel", o->kernel, "an (N x N) float64 .npy kernel instead of g1, g2 (e.g. an empirical NTK)");
    cmd->add_option("--lr-g", o->lr_g, "particle learning rate eta_G")
        ->check(real_in(0, kNoLimit))
        ->capture_default_str();
    cmd->add_option("--lr-d", o->lr_d, "discriminator learning rate")
        ->check(real_in(0, kNoLimit))
        ->capture_default_str();
    cmd->add_option("--d-steps", o->d_steps, "discriminator steps per generator step")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--d-steps-first", o->d_steps_first,
                    "discriminator steps before the first generator step (0: --d-steps)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--penalty", o->penalty, "gradient regulariser alpha E|grad_x D|^2")
        ->check(real_in(0, kNoLimit))
        ->capture_default_str();
    cmd->add_option("--penalty-on", o->penalty_on, "samples the penalty averages over: data | particles | both")
        ->capture_default_str();
    cmd->add_option("--penalty-scale", o->penalty_scale,
                    "per-sample | batch-mean (the gradient of the batch's mean f: 1/B^2 of per-sample)")
        ->capture_default_str();
    cmd->add_option("--objective", o->objective, "gan (log D) | wasserstein (E_data D - E_particles D)")
        ->capture_default_str();
    cmd->add_option("--hidden", o->hidden, "discriminator hidden widths, e.g. 64,64")->capture_default_str();
    cmd->add_option("--activation", o->activation,
                    "discriminator activation: relu | tanh | sigmoid | softplus | identity")
        ->capture_default_str();
    cmd->add_option("--dropout", o->dropout, "dropout probability in critic steps")
        ->check(real_in(0, 1, Ends::HighOpen))
        ->capture_default_str();
    cmd->add_option("--dropout-after", o->dropout_after, "the hidden layer dropout follows (1 = the first)")
        ->capture_default_str();
    cmd->add_option("--output-bias", o->output_bias, "the discriminator's output layer has a bias (true | false)")
        ->capture_default_str();
    cmd->add_option("--optimizer-d", o->optimizer, "discriminator optimizer: sgd | adam | adamw")
        ->capture_default_str();
    cmd->add_option("--amsgrad", o->amsgrad, "Adam's amsgrad variant (true | false)")->capture_default_str();
    cmd->add_option("--fresh-optimizer-d", o->fresh_optimizer,
                    "a new discriminator optimizer at every generator step (true | false)")
        ->capture_default_str();
    cmd->add_option("--momentum-d", o->momentum, "discriminator SGD momentum")
        ->check(CLI::Range(0.0, 0.999999))
        ->capture_default_str();
    cmd->add_option("--weight-decay", o->weight_decay, "discriminator weight decay (added to its gradient)")
        ->check(real_in(0, kNoLimit))
        ->capture_default_str();
    cmd->add_option("--batch", o->batch, "data samples per discriminator step (0: N; point sets use all points)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--init-std", o->init_std, "particles start as N(0, s^2) per coordinate")
        ->check(real_in(0, kNoLimit))
        ->capture_default_str();
    cmd->add_option("--steps", o->steps, "generator steps T")->check(CLI::NonNegativeNumber)->capture_default_str();
    cmd->add_option("--record-every", o->record_every, "order parameters every this many steps")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--snapshots", o->snapshots, "particle figures over the run (0: none)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    cmd->add_option("--trajectory-figure", o->trajectory_figure,
                    "draw trajectory.png (true | false; trajectory.csv is written either way)")
        ->capture_default_str();
    cmd->add_option("--threads", o->threads, "threads for matrix products")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    cmd->add_option("--seed", o->seed, "seed of the particles, the discriminator and the data samples")
        ->capture_default_str();
    cmd->add_option("--out", o->out, "run folder (default runs/gan-TARGET)");
    cmd->callback([o, cmd] { run(*o, *cmd); });
}

}  // namespace awd
