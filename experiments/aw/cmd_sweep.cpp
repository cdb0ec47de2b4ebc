// cmd_sweep.cpp: `awd sweep`, one parameter of the A-W experiments over its values and seeds,
// on this machine or as a Slurm job array (experiments/common/engine.h).
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "experiments/aw/sweep.h"
#include "experiments/common/commands.h"
#include "experiments/common/engine.h"
#include "experiments/common/flags.h"
#include "nn/files.h"

namespace awd {

namespace {

// The --values validator has already refused anything but finite numbers.
std::vector<std::string> split_values(const std::string& text) {
    std::vector<std::string> values;
    std::stringstream in(text);
    for (std::string v; std::getline(in, v, ',');) values.push_back(v);
    return values;
}

// `awd sweep` with the flags that name the sweep's runs: the start of every per-run and report command.
std::string sweep_command(const SweepOptions& o) {
    std::string values;
    for (const std::string& v : sweep_values(o)) values += (values.empty() ? "" : ",") + v;
    return shell_quote(awd_binary()) + " sweep --param " + shell_quote(o.param) + " --data " + shell_quote(o.data) +
        " --values " + values + " --repeats " + std::to_string(o.repeats) + " --out " + shell_quote(o.out) +
        " --train-args " + shell_quote(o.train_args);
}

std::vector<GridRun> grid_runs(const SweepOptions& o) {
    std::vector<GridRun> runs;
    for (const std::string& v : sweep_values(o))
        for (int seed = 0; seed < o.repeats; ++seed) {
            const std::string dir = sweep_run_dir(o, v, seed),
                              name = o.param + "=" + v + "/seed" + std::to_string(seed);
            runs.push_back({name, dir + ".run.log", sweep_command(o) + " --run " + v + ":" + std::to_string(seed),
                            sweep_run_complete(o, v, seed)});
        }
    return runs;
}

void run_one(const SweepOptions& o, const std::string& which) {
    const size_t colon = which.rfind(':');
    const std::string value = which.substr(0, colon);
    if (colon == std::string::npos || value.empty() ||
        which.find_first_not_of("0123456789", colon + 1) != std::string::npos || colon + 1 == which.size())
        throw std::invalid_argument("--run: expected VALUE:SEED, e.g. 0.01:0, not '" + which + "'");
    SweepRow row;
    const std::string note = run_sweep_run(o, value, std::stoi(which.substr(colon + 1)), row);
    std::printf("%s=%s seed %s: %s, %s, %d epochs\n", o.param.c_str(), value.c_str(), which.substr(colon + 1).c_str(),
                note.c_str(), row.status.c_str(), row.epochs);
    if (row.status == "failed") throw std::runtime_error("the run failed: " + note);
}

void run(SweepOptions o, const std::string& values, const EngineOptions& engine, const std::string& one) {
    check_engine_options(engine);
    if (!values.empty()) o.values = split_values(values);
    if (o.out.empty()) o.out = "runs/sweep-" + o.data + "-" + o.param;
    if (!one.empty()) return run_one(o, one);
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<std::string> shown = sweep_values(o);
    std::string list;
    for (const std::string& v : shown) list += (list.empty() ? "" : ", ") + v;
    std::printf("awd sweep: %s in {%s} on %s, %d seeds, %s -> %s\n", o.param.c_str(), list.c_str(), o.data.c_str(),
                o.repeats,
                engine.report_only             ? "report only"
                    : engine.engine == "slurm" ? "Slurm"
                                               : (std::to_string(o.jobs) + " jobs").c_str(),
                o.out.c_str());
    std::fflush(stdout);
    make_directories(o.out);
    if (engine.engine == "slurm" && !engine.report_only)
        return run_slurm(o.out, grid_runs(o), sweep_command(o) + " --report-only", engine);
    const std::vector<SweepRow> rows = engine.report_only ? read_sweep_runs(o) : run_sweep(o);
    write_sweep_outputs(o, rows);
    std::printf("sweep %s on %s: %.1f s\n", o.param.c_str(), o.data.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::string logs;  // what failed: the local engine's logs, or what the Slurm tasks recorded
    int failed = 0;
    if (engine.report_only) {
        for (const std::string& line : missing_runs(o.out, grid_runs(o))) ++failed, logs += "\n  " + line;
    } else {
        for (const SweepRow& r : rows)
            if (r.status == "failed")
                ++failed, logs += "\n  " + sweep_run_dir(o, r.value, r.seed) + ".{train,duality}.log";
    }
    if (failed)
        throw std::runtime_error(std::to_string(failed) + " of " + std::to_string(rows.size()) +
                                 " runs failed; their logs:" + logs);
}

}  // namespace

void add_sweep_command(CLI::App& app) {
    auto o = std::make_shared<SweepOptions>();
    auto values = std::make_shared<std::string>();
    auto engine = std::make_shared<EngineOptions>();
    auto one = std::make_shared<std::string>();
    o->jobs = (int)std::max(1u, std::thread::hardware_concurrency());
    CLI::App* cmd =
        app.add_subcommand("sweep", "train the reference setup over the values of one parameter and analyse every run");
    cmd->add_option("--param", o->param, "lr | batch | init | dropout | wd | noise | size | width")->required();
    cmd->add_option("--values", *values, "comma-separated values (default: the paper's, see the README)")
        ->check(finite_number_list());
    cmd->add_option("--repeats", o->repeats, "seeds per value")->check(integer_in(1, 1000))->capture_default_str();
    cmd->add_option("--data", o->data, "mnist | fashion")->capture_default_str();
    cmd->add_option("--jobs", o->jobs, "runs at a time (each with one BLAS thread)")
        ->check(integer_in(1, 1024))
        ->capture_default_str();
    cmd->add_option("--train-args", o->train_args, "extra awd train flags for every run, e.g. \"--epochs 300\"");
    cmd->add_option("--out", o->out, "sweep folder (default runs/sweep-DATA-PARAM); finished runs in it are reused");
    add_engine_options(cmd, *engine);
    cmd->add_option("--run", *one, "only the run VALUE:SEED (what each Slurm array task runs), no report");
    cmd->callback([o, values, engine, one] { run(*o, *values, *engine, *one); });
}

}  // namespace awd
