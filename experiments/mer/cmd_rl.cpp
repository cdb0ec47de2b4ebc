// cmd_rl.cpp: `awd rl`, one learner (dqn, dqn-er, dqn-mer) on one non-stationary game (catcher,
// flappy) into a run folder: summary.json (the scores matrix over versions trained x versions
// played, its summaries and every setting), scores.csv, curve.csv, rl.png.
//
// The folder is written aside in DIR.partial (with checkpoint/ after every game version) and
// renamed to DIR at the end; started again with the same settings, an interrupted run resumes
// from its last checkpoint and ends with the same bytes as an uninterrupted one.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "autodiff/product.h"
#include "experiments/common/commands.h"
#include "experiments/common/flags.h"
#include "experiments/common/json_file.h"
#include "experiments/common/plot.h"
#include "experiments/common/run_dir.h"
#include "experiments/mer/dqn.h"
#include "nn/files.h"

namespace awd {

namespace {

struct RlOptions {
    std::string game = "catcher", method = "dqn-mer", out = "runs/rl";
    DqnConfig dqn;
    StreamSettings stream;
    double base = 0, step = 0;  // 0 and 0: the game's default schedule
    int versions = 6, stop_after = 0;
};

nlohmann::json settings_json(const RlOptions& o) {
    const DqnConfig& c = o.dqn;
    const StreamSettings& s = o.stream;
    return {{"game", o.game},
            {"method", o.method},
            {"versions", s.schedule.versions},
            {"parameter-base", s.schedule.base},
            {"parameter-step", s.schedule.step},
            {"frames-per-version", s.frames_per_version},
            {"hidden", c.hidden},
            {"depth", c.depth},
            {"lr", c.lr},
            {"discount", c.discount},
            {"memories", c.memories},
            {"replay", c.replay},
            {"batches", c.batches},
            {"beta", c.beta},
            {"gamma", c.gamma},
            {"target-every", c.target_every},
            {"epsilon-start", c.epsilon_start},
            {"epsilon-end", c.epsilon_end},
            {"epsilon-frames", c.epsilon_frames},
            {"eval-episodes", s.eval_episodes},
            {"eval-frames", s.eval_frames},
            {"curve-every", s.curve_every},
            {"curve-episodes", s.curve_episodes},
            {"seed", c.seed}};
}

std::string csv(const std::string& header, const std::vector<std::vector<double>>& rows) {
    std::ostringstream out;
    out.precision(17);
    out << header << '\n';
    for (const auto& row : rows)
        for (size_t j = 0; j < row.size(); ++j) out << row[j] << (j + 1 < row.size() ? ',' : '\n');
    return out.str();
}

// The scores matrix's summaries, as the supervised R matrix's: the final policy's mean over all
// versions (RA), the mean of the diagonal (each version just after it was trained, LA), and the
// forgetting BTI = RA - LA (negative: scores lost on versions trained earlier).
nlohmann::json summaries(const std::vector<std::vector<double>>& S) {
    const Summary m = summarize(S);
    const std::vector<double>& last = S.back();
    double forgetting = 0;  // mean over the earlier versions j of max_i S[i][j] - S[T-1][j]
    for (size_t j = 0; j + 1 < S.size(); ++j) {
        double best = S[j][j];
        for (size_t i = j; i < S.size(); ++i) best = std::max(best, S[i][j]);
        forgetting += (best - last[j]) / (S.size() - 1);
    }
    return {{"final_mean_score", m.RA},
            {"just_trained_mean_score", m.LA},
            {"BTI", m.BTI},
            {"forgetting", forgetting},
            {"final_scores", last}};
}

void plot(const std::string& dir, const RlOptions& o, const DqnState& s, const std::string& title) {
    const int V = o.stream.schedule.versions;
    std::ostringstream matrix, curve, plots;
    for (size_t i = 0; i < s.scores.size(); ++i)
        for (int j = 0; j < V; ++j) matrix << j << ' ' << i << ' ' << s.scores[i][j] << '\n';
    for (const auto& row : s.curve) {
        for (double v : row) curve << v << ' ';
        curve << '\n';
    }
    for (int j = 0; j < V; ++j)
        plots << (j ? ", " : "") << "$c using 1:" << 4 + j << " with lines lw 2 lc palette frac "
              << (V > 1 ? (double)j / (V - 1) : 0.0) << " title 'version " << j << "'";
    std::ostringstream switches;
    for (int v = 1; v < V; ++v)
        switches << "set arrow from " << (double)v * o.stream.frames_per_version << ", graph 0 to "
                 << (double)v * o.stream.frames_per_version << ", graph 1 nohead dt 2 lc rgb '#888888'\n";
    plot_png(dir + "/rl.png",
             "set multiplot layout 1,2 title '" + title +
                 "'\n"
                 "set palette defined (0 '#440154', 0.5 '#21918c', 1 '#fde725')\n"
                 "set title 'greedy score on version j after training version i'\nset xlabel 'version j played'\nset "
                 "ylabel 'after version i'\n"
                 "set xrange [-0.5:" +
                 std::to_string(V) + "-0.5]\nset yrange [" + std::to_string(V) +
                 "-0.5:-0.5]\nset size ratio -1\n"
                 "plot $S using 1:2:3 with image notitle\n"
                 "set size noratio\nset autoscale\nset title 'greedy score on each version during training'\nset "
                 "xlabel 'frames'\n"
                 "set ylabel 'score'\nset grid\nset key left top\nunset colorbox\n" +
                 switches.str() + "plot " + plots.str() + "\nunset multiplot",
             {{"S", matrix.str()}, {"c", curve.str()}}, 1300, 520);
}

void run(RlOptions o) {
    set_threads(1);
    const auto started = std::chrono::steady_clock::now();
    const GameKind kind = parse_game(o.game);
    GameSchedule& schedule = o.stream.schedule;
    schedule = default_schedule(kind);
    schedule.versions = o.versions;
    if (o.base != 0) schedule.base = o.base;
    if (o.step != 0) schedule.step = o.step;
    o.dqn.method = parse_rl_method(o.method);
    for (int v = 0; v < schedule.versions; ++v) make_game(schedule, v, 0);  // every version's parameter is valid
    const auto probe = make_game(schedule, 0, 0);
    const int n = probe->observations(), A = probe->actions();
    const std::string settings_text = settings_json(o).dump(2) + "\n";

    const ResumableRunFolder folder(o.out, settings_text, "checkpoint/state.json");
    const std::string& partial = folder.dir();
    DqnState state = initial_dqn_state(o.dqn, n, A);
    if (folder.resuming()) {
        state = load_dqn_state(partial + "/checkpoint", o.dqn, n, A);
        std::fprintf(stderr, "  resuming from %s/checkpoint after version %d\n", partial.c_str(), state.versions_done);
    }
    std::printf("awd rl: %s on %s, %d versions x %d frames, %zu parameters -> %s\n", o.method.c_str(), o.game.c_str(),
                schedule.versions, o.stream.frames_per_version, state.net.size(), o.out.c_str());
    std::fflush(stdout);
    run_game_stream(o.dqn, o.stream, state, [&](const DqnState& s) {
        std::filesystem::remove_all(partial + "/checkpoint.new");
        save_dqn_state(partial + "/checkpoint.new", s);
        std::filesystem::remove_all(partial + "/checkpoint");
        std::filesystem::rename(partial + "/checkpoint.new", partial + "/checkpoint");
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::fprintf(stderr, "  version %d/%d: score on it %.2f, on version 0 %.2f, %.1f s\n", s.versions_done,
                     schedule.versions, s.scores.back()[s.versions_done - 1], s.scores.back()[0], seconds);
        return o.stop_after == 0 || s.versions_done < o.stop_after;
    });
    if (state.versions_done < schedule.versions) {
        std::printf("stopped after version %d (--stop-after); run again with the same settings to resume\n",
                    state.versions_done);
        return;
    }
    const nlohmann::json sums = summaries(state.scores);
    std::vector<double> parameters;
    for (int v = 0; v < schedule.versions; ++v) parameters.push_back(schedule.parameter(v));
    write_json_file(partial + "/summary.json",
                    {{"scores", state.scores},
                     {"summary", sums},
                     {"parameters", parameters},
                     {"parameter", kind == GameKind::Catcher ? "pellet speed, pixels a frame" : "pipe gap, pixels"},
                     {"n_params", state.net.size()},
                     {"frames", state.frames},
                     {"settings", settings_json(o)}});
    std::string header = "after_version";
    for (int j = 0; j < schedule.versions; ++j) header += ",version_" + std::to_string(j);
    std::vector<std::vector<double>> rows = state.scores;
    for (size_t i = 0; i < rows.size(); ++i) rows[i].insert(rows[i].begin(), (double)i);
    write_file_atomically(partial + "/scores.csv", csv(header, rows));
    header = "frame,epsilon,reward_per_frame";
    for (int j = 0; j < schedule.versions; ++j) header += ",score_version_" + std::to_string(j);
    write_file_atomically(partial + "/curve.csv", csv(header, state.curve));
    char title[200];
    std::snprintf(title, sizeof title, "%s on %s: final mean score %.2f, forgetting %.2f", o.method.c_str(),
                  o.game.c_str(), sums["final_mean_score"].get<double>(), sums["forgetting"].get<double>());
    plot(partial, o, state, title);
    std::filesystem::remove_all(partial + "/checkpoint");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    write_json_file(partial + "/timing.json", {{"seconds", seconds}});  // apart, so that summary.json is reproducible
    folder.publish();
    std::printf("final mean score %.3f, forgetting %.3f (%.1f s)\n", sums["final_mean_score"].get<double>(),
                sums["forgetting"].get<double>(), seconds);
}

}  // namespace

void add_rl_command(CLI::App& app) {
    auto o = std::make_shared<RlOptions>();
    DqnConfig& c = o->dqn;
    StreamSettings& s = o->stream;
    CLI::App* cmd = app.add_subcommand(
        "rl", "continual reinforcement learning on a changing game (DQN, DQN-ER, DQN-MER): scores matrix, curves");
    cmd->add_option("--game", o->game,
                    "catcher (the pellet falls faster each version) | flappy (the pipe gap shrinks each version)")
        ->check(CLI::IsMember({"catcher", "flappy"}))
        ->capture_default_str();
    cmd->add_option("--method", o->method,
                    "dqn (FIFO replay) | dqn-er (reservoir replay) | dqn-mer (MER on the Q-learning loss)")
        ->check(CLI::IsMember({"dqn", "dqn-er", "dqn-mer"}))
        ->capture_default_str();
    cmd->add_option("--versions", o->versions, "game versions, each trained in turn")
        ->check(integer_in(1, 1000))
        ->capture_default_str();
    cmd->add_option("--parameter-base", o->base,
                    "version 0's pellet speed (px/frame) or pipe gap (px); 0: 2.027 or 100")
        ->check(real_in(0, 1e4))
        ->capture_default_str();
    cmd->add_option("--parameter-step", o->step, "change per version; 0: +0.5 (catcher) or -8 (flappy)")
        ->check(real_in(-1e4, 1e4))
        ->capture_default_str();
    cmd->add_option("--frames-per-version", s.frames_per_version, "training frames on each version")
        ->check(integer_in(1, 100000000))
        ->capture_default_str();
    cmd->add_option("--hidden", c.hidden, "hidden width of the Q-network")
        ->check(integer_in(1, 100000))
        ->capture_default_str();
    cmd->add_option("--depth", c.depth, "hidden layers")->check(integer_in(1, 100))->capture_default_str();
    cmd->add_option("--lr", c.lr, "SGD learning rate")->check(real_in(0, 1e3, Ends::LowOpen))->capture_default_str();
    cmd->add_option("--discount", c.discount, "reward discount of the Q-learning target")
        ->check(real_in(0, 1))
        ->capture_default_str();
    cmd->add_option("--memories", c.memories, "replay buffer size")
        ->check(integer_in(0, 100000000))
        ->capture_default_str();
    cmd->add_option("--replay", c.replay, "k-1: memory draws per update (per batch for dqn-mer)")
        ->check(integer_in(0, 1000000))
        ->capture_default_str();
    cmd->add_option("--batches", c.batches, "s: batches per frame (dqn-mer)")
        ->check(integer_in(1, 100000))
        ->capture_default_str();
    cmd->add_option("--beta", c.beta, "within-batch Reptile interpolation (dqn-mer)")
        ->check(real_in(0, 1, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--gamma", c.gamma, "across-batch interpolation (dqn-mer)")
        ->check(real_in(0, 1, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--target-every", c.target_every, "frames between target-network refreshes")
        ->check(integer_in(1, 100000000))
        ->capture_default_str();
    cmd->add_option("--epsilon-start", c.epsilon_start, "exploration at frame 0")
        ->check(real_in(0, 1))
        ->capture_default_str();
    cmd->add_option("--epsilon-end", c.epsilon_end, "exploration after --epsilon-frames")
        ->check(real_in(0, 1))
        ->capture_default_str();
    cmd->add_option("--epsilon-frames", c.epsilon_frames, "frames of linear decay (over the whole stream)")
        ->check(integer_in(1, 100000000))
        ->capture_default_str();
    cmd->add_option("--eval-episodes", s.eval_episodes, "greedy episodes per version for the scores matrix")
        ->check(integer_in(1, 100000))
        ->capture_default_str();
    cmd->add_option("--eval-frames", s.eval_frames, "an evaluation episode is cut at this many frames")
        ->check(integer_in(1, 100000000))
        ->capture_default_str();
    cmd->add_option("--curve-every", s.curve_every, "a learning-curve row every this many frames")
        ->check(integer_in(1, 100000000))
        ->capture_default_str();
    cmd->add_option("--curve-episodes", s.curve_episodes, "greedy episodes per version per curve row")
        ->check(integer_in(1, 100000))
        ->capture_default_str();
    cmd->add_option("--seed", c.seed, "seed of the initialisation, exploration, memory draws and games")
        ->check(seed_range())
        ->capture_default_str();
    cmd->add_option("--stop-after", o->stop_after,
                    "stop after this many versions, leaving a checkpoint (0: run to the end)")
        ->check(integer_in(0, 1000))
        ->capture_default_str();
    cmd->add_option("--out", o->out, "run folder to write")->capture_default_str();
    cmd->callback([o] { run(*o); });
}

}  // namespace awd
