// dqn.h: deep Q-learning on a non-stationary game (issue 25): DQN, DQN-ER and DQN-MER, the
// three learners of the MER paper's reinforcement-learning experiments, and the stream loop
// that plays a game whose version changes on a schedule.
//
// The Q-network is an ordinary Model (nn/mlp.h's make_mlp: observations -> hidden -> ... ->
// one Q value per action, ReLU, Glorot); every gradient is the autodiff's, of the Q-learning
// loss (1/2N) sum_i (Q(s_i, a_i) - y_i)^2 with the targets
//   y_i = r_i + discount (1 - done_i) max_a' Qtarget(s'_i, a')
// from a target network (a copy of theta refreshed every target_every frames); every update is
// a plain-SGD Optimizer step. Each frame the agent acts epsilon-greedily, stores the transition
// and learns from it at once (one update per frame, as the supervised MER learns from each
// incoming example):
//   dqn      one SGD step on the batch {incoming transition} + replay draws from a FIFO buffer
//            of the most recent `memories` transitions (Mnih et al.'s replay memory);
//   dqn-er   the same with a reservoir over the whole stream (continual.h's Reservoir);
//   dqn-mer  MER's update (continual.h's mer_update) on the Q-learning loss: `batches` batches,
//            each the incoming transition then `replay` reservoir draws, one single-transition
//            SGD step each, Reptile interpolations beta (within) and gamma (across).
// A transition is stored as one reservoir row [s, s', r, done] with the action as its label.
//
// Randomness: version v's frames use Rng(stream_seed(seed, 1000 + v)) for exploration and
// memory draws and a fresh game seeded stream_seed(seed, 2000 + v); evaluation games are seeded
// stream_seed(seed, 5000 + version) + episode. So the state at a version boundary is all a
// checkpoint needs, and a resumed run ends with the same bytes as an uninterrupted one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "experiments/mer/continual.h"
#include "experiments/mer/games.h"
#include "nn/mlp.h"

namespace awd {

enum class RlMethod { Dqn, DqnEr, DqnMer };
RlMethod parse_rl_method(const std::string& name);  // dqn | dqn-er | dqn-mer
const char* rl_method_name(RlMethod m);

struct DqnConfig {
    RlMethod method = RlMethod::DqnMer;
    int hidden = 100, depth = 2;
    double lr = 0.05, discount = 0.95;
    int memories = 10000, replay = 15;  // buffer size; draws per update (k - 1)
    int batches = 2;                    // dqn-mer: s
    double beta = 0.1, gamma = 1.0;     // dqn-mer: Reptile interpolations
    int target_every = 200;             // frames between target-network refreshes
    double epsilon_start = 1.0, epsilon_end = 0.05;
    int epsilon_frames = 5000;  // linear decay over the first this many frames
    uint64_t seed = 1;
};

double epsilon_at(const DqnConfig& c, uint64_t frame);  // frame counted from 0 over the whole stream

struct StreamSettings {
    GameSchedule schedule;
    int frames_per_version = 30000;
    int eval_episodes = 5, eval_frames = 1000;  // greedy episodes per version, each cut at eval_frames
    int curve_every = 3000;                     // a learning-curve row every this many frames
    int curve_episodes = 2;
};

struct DqnState {
    Model net, target;
    Reservoir memory;  // rows [s, s', r, done], label = action
    int versions_done = 0;
    uint64_t frames = 0;
    double reward_since_row = 0;              // training reward since the last curve row
    std::vector<std::vector<double>> scores;  // scores[i][j]: greedy score on version j after version i
    std::vector<std::vector<double>>
        curve;        // rows: frame, epsilon, mean training return since last row, score on each version
    struct Scratch {  // buffers only
        Tensor states, next, Y, mask;
        std::vector<int> actions, slots;
        std::vector<double> transition, targets;
        MerScratch mer;
    } scratch;
};

DqnState initial_dqn_state(const DqnConfig& config, int observations, int actions);

// y_i = r_i + discount (1 - done_i) max_a' Qtarget(s'_i, a') for `rows` packed transitions of
// width 2 n + 2 stored contiguously at `transitions` (n observations).
std::vector<double> q_targets(const Model& target, const double* transitions, int rows, int n, double discount);
// gradient() of (1/2N) sum_i (Q(s_i, a_i) - y_i)^2 over the rows of `states` (N, n).
void q_loss_gradient(Model& net, const Tensor& states, const std::vector<int>& actions,
                     const std::vector<double>& targets, DqnState::Scratch& scratch);

// The greedy action (the first of equal maxima).
int greedy_action(const Model& net, const double* observation, int n);

// Learns from one incoming transition (packed, width 2n+2) of game version `version` at frame
// `frame` (the index of the transition in the stream); every method's update, then the storing.
void learn(const DqnConfig& config, DqnState& state, const double* transition, int action, int version, int frame,
           int n, Rng& rng);

// The mean greedy score over `episodes` games of `version`, each cut at `max_frames` frames.
double greedy_score(const Model& net, const GameSchedule& schedule, int version, int episodes, int max_frames,
                    uint64_t seed);

// Plays versions state.versions_done .. versions-1, calling after_version(state) after each
// (its scores row filled); stops early when after_version returns false.
void run_game_stream(const DqnConfig& config, const StreamSettings& settings, DqnState& state,
                     const std::function<bool(const DqnState&)>& after_version);

// Checkpoint: the state as a JSON text (exact doubles) plus the arrays it names; see dqn.cpp.
void save_dqn_state(const std::string& dir, const DqnState& state);
DqnState load_dqn_state(const std::string& dir, const DqnConfig& config, int observations, int actions);

}  // namespace awd
