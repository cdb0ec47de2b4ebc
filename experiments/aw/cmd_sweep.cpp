// cmd_sweep.cpp: `awd sweep`, one parameter of the A-W experiments over its values and seeds.
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "nn/files.h"
#include "experiments/common/commands.h"
#include "experiments/common/flags.h"
#include "experiments/aw/sweep.h"

namespace awd {

namespace {

// The --values validator has already refused anything but finite numbers.
std::vector<std::string> split_values(const std::string& text) {
    std::vector<std::string> values;
    std::stringstream in(text);
    for (std::string v; std::getline(in, v, ',');) values.push_back(v);
    return values;
}

void run(SweepOptions o, const std::string& values) {
    if (!values.empty()) o.values = split_values(values);
    if (o.out.empty()) o.out = "runs/sweep-" + o.data + "-" + o.param;
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<std::string> shown = o.values.empty() ? default_values(o.param, o.data) : o.values;
    std::string list;
    for (const std::string& v : shown) list += (list.empty() ? "" : ", ") + v;
    std::printf("awd sweep: %s in {%s} on %s, %d seeds, %d jobs -> %s\n", o.param.c_str(), list.c_str(), o.data.c_str(), o.repeats, o.jobs, o.out.c_str());
    std::fflush(stdout);
    make_directories(o.out);
    const std::vector<SweepRow> rows = run_sweep(o);
    write_sweep_outputs(o, rows);
    std::printf("sweep %s on %s: %.1f s\n", o.param.c_str(), o.data.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::string logs;
    int failed = 0;
    for (const SweepRow& r : rows)
        if (r.status == "failed") ++failed, logs += "\n  " + sweep_run_dir(o, r.value, r.seed) + ".{train,duality}.log";
    if (failed)
        throw std::runtime_error(std::to_string(failed) + " of " + std::to_string(rows.size()) + " runs failed; their logs:" + logs);
}

}  // namespace

void add_sweep_command(CLI::App& app) {
    auto o = std::make_shared<SweepOptions>();
    auto values = std::make_shared<std::string>();
    o->jobs = (int)std::max(1u, std::thread::hardware_concurrency());
    CLI::App* cmd = app.add_subcommand("sweep", "train the reference setup over the values of one parameter and analyse every run");
    cmd->add_option("--param", o->param, "lr | batch | init | dropout | wd | noise | size | width")->required();
    cmd->add_option("--values", *values, "comma-separated values (default: the paper's, see the README)")->check(finite_number_list());
    cmd->add_option("--repeats", o->repeats, "seeds per value")->check(integer_in(1, 1000))->capture_default_str();
    cmd->add_option("--data", o->data, "mnist | fashion")->capture_default_str();
    cmd->add_option("--jobs", o->jobs, "runs at a time (each with one BLAS thread)")->check(integer_in(1, 1024))->capture_default_str();
    cmd->add_option("--train-args", o->train_args, "extra awd train flags for every run, e.g. \"--epochs 300\"");
    cmd->add_option("--out", o->out, "sweep folder (default runs/sweep-DATA-PARAM); finished runs in it are reused");
    cmd->callback([o, values] { run(*o, *values); });
}

}  // namespace awd
