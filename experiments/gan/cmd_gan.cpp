// cmd_gan.cpp: `awd gan`, one run of the effective GAN model (THEORY section 6): N particles
// coupled by K = g1 I + g2 (1 1^T - I) (or a kernel file) against an MLP discriminator.
//
// The run folder (written aside as DIR.partial, then renamed) holds summary.json (final order
// parameters and every setting), trajectory.csv (order parameters over time), particles.npy
// (final, (N, d)), particles_start.npy, and PNG figures: particles_stepT.png snapshots and
// trajectory.png. A run whose state becomes non-finite keeps its last good state, writes the
// folder with the step that failed in summary.json, and exits 1 naming that step.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "experiments/gan/gan.h"
#include "autodiff/product.h"
#include "nn/files.h"
#include "experiments/common/commands.h"
#include "experiments/common/flags.h"
#include "experiments/gan/gan_plots.h"
#include "experiments/common/json_file.h"
#include "experiments/common/provenance.h"

namespace awd {

namespace {

struct GanOptions {
    std::string target = "ring8", kernel, out, objective = "gan", penalty_on = "data", hidden = "64,64", activation = "relu", optimizer = "sgd";
    int particles = 100, d_steps = 1, steps = 1000, batch = 0, record_every = 10, snapshots = 4, threads = 1;
    double g1 = 1, g2 = 0.5, lr_g = 1e-4, lr_d = 1e-3, penalty = 0, weight_decay = 0, momentum = 0, init_std = 0.1;
    bool allow_g2_above_g1 = false;
    uint64_t seed = 0;
};

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
        if (used != item.size() || w <= 0) throw CLI::ValidationError("--hidden", "'" + item + "' is not a positive width (e.g. --hidden 64,64)");
        widths.push_back(w);
    }
    return widths;
}

// The flags that depend on each other or on files; each error names its flag (exit code 2).
GanConfig checked_config(const GanOptions& o) {
    if (o.g2 > o.g1 && !o.allow_g2_above_g1)
        throw CLI::ValidationError("--g2", "g2 = " + std::to_string(o.g2) + " exceeds g1 = " + std::to_string(o.g1) +
                                               " (cross coupling above self coupling); pass --allow-g2-above-g1 to run it anyway");
    GanConfig c;
    c.particles = o.particles, c.g1 = o.g1, c.g2 = o.g2, c.lr_g = o.lr_g, c.lr_d = o.lr_d, c.d_steps = o.d_steps;
    c.weight_decay = o.weight_decay, c.penalty = o.penalty, c.batch = o.batch, c.init_std = o.init_std, c.seed = o.seed;
    c.hidden = parse_widths(o.hidden);
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
        throw CLI::ValidationError("--kernel", o.kernel + " is " + K.shape() + " but --particles " + std::to_string(o.particles) + " needs (" +
                                                   std::to_string(o.particles) + " x " + std::to_string(o.particles) + ")");
    return K;
}

nlohmann::json settings_json(const GanOptions& o, const GanConfig& c, const GanTarget& t) {
    return {{"target", o.target}, {"target_points", t.size()}, {"dimension", t.dim()}, {"target_width", t.width},
            {"assignment_distance", t.cosine ? "cosine" : "euclidean"}, {"particles", c.particles},
            {"kernel", o.kernel.empty() ? nlohmann::json("g1 I + g2 (11^T - I)") : nlohmann::json(o.kernel)}, {"g1", c.g1}, {"g2", c.g2},
            {"g2_over_g1", c.g1 != 0 ? c.g2 / c.g1 : 0.0}, {"lr_g", c.lr_g}, {"lr_d", c.lr_d}, {"d_steps", c.d_steps},
            {"weight_decay", c.weight_decay}, {"penalty", c.penalty}, {"penalty_on", penalty_on_name(c.penalty_on)},
            {"objective", gan_objective_name(c.objective)}, {"discriminator", c.hidden}, {"activation", activation_name(c.activation)},
            {"optimizer_d", optimizer_name(c.optimizer.kind)}, {"momentum_d", c.optimizer.momentum}, {"batch", c.batch},
            {"init_std", c.init_std}, {"steps", o.steps}, {"seed", o.seed}, {"record_every", o.record_every}, {"threads", o.threads}};
}

void write_trajectory_csv(const std::string& path, const std::vector<GanRecord>& trajectory) {
    std::ostringstream csv;
    csv.precision(12);
    csv << "step,collapse_score,mean_min_distance,spread,energy_distance,occupied_targets,objective,penalty\n";
    for (const GanRecord& r : trajectory)
        csv << r.step << ',' << r.order.collapse << ',' << r.order.mean_min_distance << ',' << r.order.spread << ',' << r.order.energy << ','
            << r.order.occupied << ',' << r.objective << ',' << r.penalty << '\n';
    write_file_atomically(path, csv.str());
}

void run(const GanOptions& o) {
    keep_heap_between_steps();
    const GanConfig config = checked_config(o);
    const Tensor kernel = checked_kernel(o);
    GanTarget target;
    try {
        target = make_target(o.target);
    } catch (const std::invalid_argument& e) {
        throw CLI::ValidationError("--target", e.what());
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
    std::printf("awd gan: %s (K = %d targets in %d dimensions), N = %d particles, g2/g1 = %g, lr_g %g, lr_d %g, %s, penalty %g on %s -> %s\n",
                o.target.c_str(), target.size(), target.dim(), config.particles, config.g1 != 0 ? config.g2 / config.g1 : 0.0, config.lr_g,
                config.lr_d, gan_objective_name(config.objective), config.penalty, penalty_on_name(config.penalty_on), out.c_str());
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> snapshots;
    auto on_record = [&](const GanDynamics& d, const GanRecord& r) {
        if (snapshot_every > 0 && (r.step % snapshot_every == 0 || r.step == o.steps)) {
            const std::string name = "particles_step" + std::to_string(r.step) + ".png";
            if (plot_particles(partial + "/" + name, d.particles(), target, o.target + ", step " + std::to_string(r.step) + ", collapse score " +
                                                                               std::to_string(r.order.collapse)))
                snapshots.push_back(name);
        }
        if (terminal)
            std::fprintf(stderr, "\r  step %d/%d  collapse %.4f  occupied %d/%d  mean min distance %.4g  energy %.4g   ", r.step, o.steps,
                         r.order.collapse, r.order.occupied, target.size(), r.order.mean_min_distance, r.order.energy);
    };
    const GanOutcome outcome = run_gan(dynamics, target, o.steps, std::max(1, o.record_every), on_record);
    if (terminal) std::fprintf(stderr, "\n");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // the final state: recorded again when the run stopped between records
    const OrderParameters final_order = order_parameters(dynamics.particles(), target);

    write_npy(partial + "/particles.npy", dynamics.particles());
    write_npy(partial + "/discriminator_theta.npy", dynamics.discriminator().theta());
    write_trajectory_csv(partial + "/trajectory.csv", outcome.trajectory);
    plot_trajectory(partial + "/trajectory.png", outcome.trajectory, o.target + ", g2/g1 = " + std::to_string(config.g2 / config.g1));
    nlohmann::json summary = settings_json(o, config, target);
    summary.update({{"collapse_score", final_order.collapse}, {"max_collapse_score", std::log((double)target.size())},
                    {"mean_min_distance", final_order.mean_min_distance}, {"spread", final_order.spread},
                    {"energy_distance", final_order.energy}, {"occupied_targets", final_order.occupied}, {"steps_done", dynamics.steps_done()},
                    {"status", outcome.error.empty() ? "finished" : "stopped"}, {"seconds", seconds}, {"snapshots", snapshots}});
    if (!outcome.error.empty()) summary["error"] = outcome.error;
    write_json_file(partial + "/summary.json", with_provenance(summary));
    std::filesystem::remove_all(out);
    std::filesystem::rename(partial, out);
    std::printf("  %d steps in %.2f s: collapse score %.4f of ln K = %.4f, %d of %d targets occupied, mean min distance %.4g, energy distance %.4g\n",
                dynamics.steps_done(), seconds, final_order.collapse, std::log((double)target.size()), final_order.occupied, target.size(),
                final_order.mean_min_distance, final_order.energy);
    if (!outcome.error.empty()) throw std::runtime_error(outcome.error + "; the last good state is in " + out);
}


}  // namespace

void add_gan_command(CLI::App& app) {
    auto o = std::make_shared<GanOptions>();
    CLI::App* cmd = app.add_subcommand("gan", "the effective GAN model: N coupled particles against an MLP discriminator (THEORY section 6)");
    cmd->add_option("--target", o->target, "gauss1d | ring8 | grid25 | mnist100 | points:FILE.npy (rows are target points)")->capture_default_str();
    cmd->add_option("--particles", o->particles, "number of particles N")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_option("--g1", o->g1, "kernel self coupling")->check(real_in(0, kNoLimit))->capture_default_str();
    cmd->add_option("--g2", o->g2, "kernel cross coupling (<= g1 unless --allow-g2-above-g1)")->check(real_in(-kNoLimit, kNoLimit))->capture_default_str();
    cmd->add_flag("--allow-g2-above-g1", o->allow_g2_above_g1, "run with g2 > g1 anyway");
    cmd->add_option("--kernel", o->kernel, "an (N x N) float64 .npy kernel instead of g1, g2 (e.g. an empirical NTK)");
    cmd->add_option("--lr-g", o->lr_g, "particle learning rate eta_G")->check(real_in(0, kNoLimit))->capture_default_str();
    cmd->add_option("--lr-d", o->lr_d, "discriminator learning rate")->check(real_in(0, kNoLimit))->capture_default_str();
    cmd->add_option("--d-steps", o->d_steps, "discriminator steps per generator step")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_option("--penalty", o->penalty, "gradient regulariser alpha E|grad_x D|^2")->check(real_in(0, kNoLimit))->capture_default_str();
    cmd->add_option("--penalty-on", o->penalty_on, "samples the penalty averages over: data | particles | both")->capture_default_str();
    cmd->add_option("--objective", o->objective, "gan (log D) | wasserstein (E_data D - E_particles D)")->capture_default_str();
    cmd->add_option("--hidden", o->hidden, "discriminator hidden widths, e.g. 64,64")->capture_default_str();
    cmd->add_option("--activation", o->activation, "discriminator activation: relu | tanh | sigmoid | softplus | identity")->capture_default_str();
    cmd->add_option("--optimizer-d", o->optimizer, "discriminator optimizer: sgd | adam | adamw")->capture_default_str();
    cmd->add_option("--momentum-d", o->momentum, "discriminator SGD momentum")->check(CLI::Range(0.0, 0.999999))->capture_default_str();
    cmd->add_option("--weight-decay", o->weight_decay, "discriminator weight decay (added to its gradient)")->check(real_in(0, kNoLimit))->capture_default_str();
    cmd->add_option("--batch", o->batch, "data samples per discriminator step (0: N; point sets use all points)")->check(CLI::NonNegativeNumber)->capture_default_str();
    cmd->add_option("--init-std", o->init_std, "particles start as N(0, s^2) per coordinate")->check(real_in(0, kNoLimit))->capture_default_str();
    cmd->add_option("--steps", o->steps, "generator steps T")->check(CLI::NonNegativeNumber)->capture_default_str();
    cmd->add_option("--record-every", o->record_every, "order parameters every this many steps")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_option("--snapshots", o->snapshots, "particle figures over the run (0: none)")->check(CLI::NonNegativeNumber)->capture_default_str();
    cmd->add_option("--threads", o->threads, "threads for matrix products")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_option("--seed", o->seed, "seed of the particles, the discriminator and the data samples")->capture_default_str();
    cmd->add_option("--out", o->out, "run folder (default runs/gan-TARGET)");
    cmd->callback([o] { run(*o); });
}

}  // namespace awd
