// cmd_continual_table.cpp: `awd continual-table`, the paper's table from a folder of
// `awd continual` runs: mean +- std over seeds of RA, LA and BTI per (stream, method, memory
// size), and RA(MER) - RA(ER) against the memory size (paired by seed) as CSV and a figure.
// With --tasks (the lines of mer_runs.sh) it first runs the runs that are missing, here or as a
// Slurm job array whose report job is this command with --report-only (experiments/common/engine.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <tuple>

#include "experiments/common/commands.h"
#include "experiments/common/engine.h"
#include "experiments/common/flags.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/seed_stats.h"
#include "nn/files.h"

namespace awd {

namespace {

std::string pct(const SeedStats& s, bool sign = false) {
    char text[64];
    std::snprintf(text, sizeof text, sign ? "%+.1f +- %.1f" : "%.1f +- %.1f", 100 * s.mean, 100 * s.std);
    return text;
}

using Key = std::tuple<std::string, std::string, int>;  // stream, method, memories (-1: none)
struct Runs {
    std::map<uint64_t, nlohmann::json> by_seed;
};

void table(const std::string& runs_dir, const std::string& out) {
    std::map<Key, Runs> groups;
    if (!std::filesystem::is_directory(runs_dir)) throw std::runtime_error("--runs: " + runs_dir + " is not a folder");
    for (const auto& entry : std::filesystem::directory_iterator(runs_dir)) {
        const std::string path = entry.path().string() + "/summary.json";
        const std::string name = entry.path().filename().string();
        if (!file_exists(path) || (name.size() >= 8 && name.compare(name.size() - 8, 8, ".partial") == 0))
            continue;  // an unfinished run
        nlohmann::json s = nlohmann::json::parse(read_file(path));
        const nlohmann::json& c = s.at("settings");
        const std::string method = c.at("method");
        const bool uses_memory = method == "er" || method == "mer" || method == "gem";
        const int memories = uses_memory ? (method == "gem" ? c.at("gem-memories").get<int>() * c.at("tasks").get<int>()
                                                            : c.at("memories").get<int>())
                                         : -1;
        groups[{c.at("stream"), method, memories}].by_seed[c.at("seed").get<uint64_t>()] = s;
    }
    if (groups.empty()) throw std::runtime_error("no runs (folders with summary.json) in " + runs_dir);
    std::ostringstream table, numbers;
    table << "| stream | method | memories | seeds | RA (%) | LA (%) | BTI (%) |\n|---|---|---|---|---|---|---|\n";
    // the same numbers as fractions for the claims (experiments/mer/claims.json), with each row's RA
    // above online SGD's on the same stream (empty when the stream has no online run)
    numbers << "stream,method,memories,seeds,RA_mean,RA_std,LA_mean,LA_std,BTI_mean,BTI_std,RA_minus_online\n";
    std::map<std::string, double> online_ra;
    for (const auto& [key, runs] : groups) {
        if (std::get<1>(key) != "online") continue;
        std::vector<double> ra;
        for (const auto& [seed, s] : runs.by_seed) ra.push_back(s["RA"]);
        online_ra[std::get<0>(key)] = seed_stats(ra).mean;
    }
    for (const auto& [key, runs] : groups) {
        std::vector<double> ra, la, bti;
        std::string seeds;
        for (const auto& [seed, s] : runs.by_seed) {
            ra.push_back(s["RA"]), la.push_back(s["LA"]), bti.push_back(s["BTI"]);
            seeds += (seeds.empty() ? "" : ",") + std::to_string(seed);
        }
        const int m = std::get<2>(key);
        const SeedStats r = seed_stats(ra), l = seed_stats(la), b = seed_stats(bti);
        std::string seeds_in_csv = seeds;  // a CSV cell: "1 2"
        std::replace(seeds_in_csv.begin(), seeds_in_csv.end(), ',', ' ');
        table << "| " << std::get<0>(key) << " | " << std::get<1>(key) << " | " << (m < 0 ? "-" : std::to_string(m))
              << " | " << seeds << " | " << pct(r) << " | " << pct(l) << " | " << pct(b, true) << " |\n";
        const auto online = online_ra.find(std::get<0>(key));
        numbers << std::get<0>(key) << ',' << std::get<1>(key) << ',' << (m < 0 ? "-" : std::to_string(m)) << ','
                << seeds_in_csv << ',' << r.mean << ',' << r.std << ',' << l.mean << ',' << l.std << ',' << b.mean
                << ',' << b.std << ',';
        if (online != online_ra.end()) numbers << r.mean - online->second;
        numbers << '\n';
    }
    // RA(MER) - RA(ER) per stream and memory size, over the seeds both have
    std::ostringstream gap, data;
    gap << "stream,memories,seeds,gap_mean,gap_std\n";
    std::map<std::string, std::string> blocks;
    for (const auto& [key, mer] : groups) {
        if (std::get<1>(key) != "mer") continue;
        const auto er = groups.find({std::get<0>(key), "er", std::get<2>(key)});
        if (er == groups.end()) continue;
        std::vector<double> d;
        for (const auto& [seed, s] : mer.by_seed)
            if (er->second.by_seed.count(seed))
                d.push_back(s["RA"].get<double>() - er->second.by_seed.at(seed)["RA"].get<double>());
        if (d.empty()) continue;
        const SeedStats g = seed_stats(d);
        gap << std::get<0>(key) << ',' << std::get<2>(key) << ',' << d.size() << ',' << g.mean << ',' << g.std << '\n';
        blocks[std::get<0>(key)] += std::to_string(std::get<2>(key)) + " " + std::to_string(100 * g.mean) + " " +
            std::to_string(100 * g.std) + "\n";
    }
    make_directories(out);
    write_file_atomically(out + "/table.md", table.str());
    write_file_atomically(out + "/table.csv", numbers.str());
    write_file_atomically(out + "/gap.csv", gap.str());
    std::string plots;
    std::vector<std::pair<std::string, std::string>> named;
    int k = 0;
    for (const auto& [stream, text] : blocks) {
        const std::string name = "g" + std::to_string(k++);
        named.push_back({name, text});
        plots += std::string(plots.empty() ? "plot " : ", ") + "$" + name +
            " using 1:2:3 with yerrorlines lw 2 pt 7 title '" + stream + "'";
    }
    if (!named.empty())
        plot_png(out + "/gap.png",
                 "set title 'RA(MER) - RA(ER) against the memory size (mean ± std over seeds)'\nset xlabel 'memory "
                 "size (examples)'\n"
                 "set ylabel 'RA gap (percentage points)'\nset logscale x\nset grid\nset xrange [150:7000]\n"
                 "set xtics (200, 500, 1000, 2000, 5120)\nset mxtics default\n" +
                     plots,
                 named);
    std::printf("%s\n%s", table.str().c_str(), gap.str().c_str());
}

// The runs of a task list (NAME <tab> COMMAND per line, mer_runs.sh), each writing RUNS/NAME.
std::vector<GridRun> task_runs(const std::string& tasks, const std::string& runs_dir) {
    std::vector<GridRun> runs;
    std::istringstream in(read_file(tasks));
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.empty()) continue;
        const size_t tab = line.find('\t');
        if (tab == std::string::npos || tab == 0 || line.find('/') < tab)
            throw std::runtime_error(tasks + ": line " + std::to_string(number) +
                                     " is not NAME <tab> COMMAND (NAME without '/')");
        const std::string name = line.substr(0, tab), dir = runs_dir + "/" + name;
        runs.push_back({name, dir + ".log", line.substr(tab + 1), file_exists(dir + "/summary.json")});
    }
    if (runs.empty()) throw std::runtime_error(tasks + ": no runs");
    return runs;
}

struct TableOptions {
    std::string runs = "runs/mer", out = "runs/mer", tasks;
    int jobs = 2;
    EngineOptions engine;
};

void run(const TableOptions& o) {
    check_engine_options(o.engine);
    if (o.tasks.empty()) return table(o.runs, o.out);
    make_directories(o.runs);
    std::vector<GridRun> runs = task_runs(o.tasks, o.runs);
    if (o.engine.engine == "slurm" && !o.engine.report_only)
        return run_slurm(o.runs, runs,
                         shell_quote(awd_binary()) + " continual-table --tasks " + shell_quote(o.tasks) + " --runs " +
                             shell_quote(o.runs) + " --out " + shell_quote(o.out) + " --report-only",
                         o.engine);
    if (!o.engine.report_only) {
        run_local(runs, o.jobs);
        runs = task_runs(o.tasks, o.runs);
    }
    const std::vector<std::string> missing = missing_runs(o.runs, runs);
    if (missing.size() < runs.size()) table(o.runs, o.out);
    std::string lines;
    for (const std::string& line : missing) lines += "\n  " + line;
    if (!missing.empty())
        throw std::runtime_error(std::to_string(missing.size()) + " of " + std::to_string(runs.size()) +
                                 " runs failed or are missing:" + lines);
}

}  // namespace

void add_continual_table_command(CLI::App& app) {
    auto o = std::make_shared<TableOptions>();
    CLI::App* cmd = app.add_subcommand(
        "continual-table", "table (mean +- std of RA, LA, BTI) and MER-ER gap from a folder of awd continual runs");
    cmd->add_option("--runs", o->runs, "folder whose subfolders are awd continual runs")->capture_default_str();
    cmd->add_option("--out", o->out, "where table.md, table.csv, gap.csv and gap.png go")->capture_default_str();
    cmd->add_option("--tasks", o->tasks,
                    "first run the runs of this list that are missing (NAME <tab> COMMAND per line, see mer_runs.sh) "
                    "into RUNS/NAME");
    cmd->add_option("--jobs", o->jobs, "with --tasks, local engine: runs at a time")
        ->check(integer_in(1, 1024))
        ->capture_default_str();
    add_engine_options(cmd, o->engine);
    cmd->callback([o] { run(*o); });
}

}  // namespace awd
