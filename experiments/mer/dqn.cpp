// dqn.cpp: the Q-learning loss and targets, the three learners' updates, greedy evaluation,
// the stream loop over game versions, and the checkpoint.
#include "experiments/mer/dqn.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "autodiff/names.h"
#include "experiments/common/json_file.h"
#include "nn/files.h"
#include "optim/optimizer.h"

namespace awd {

RlMethod parse_rl_method(const std::string& name) {
    const RlMethod all[] = {RlMethod::Dqn, RlMethod::DqnEr, RlMethod::DqnMer};
    return parse_name(name, all, rl_method_name, "method");
}

const char* rl_method_name(RlMethod m) {
    switch (m) {
        case RlMethod::Dqn: return "dqn";
        case RlMethod::DqnEr: return "dqn-er";
        case RlMethod::DqnMer: return "dqn-mer";
    }
    return "?";
}

double epsilon_at(const DqnConfig& c, uint64_t frame) {
    if (frame >= (uint64_t)c.epsilon_frames) return c.epsilon_end;
    return c.epsilon_start + (c.epsilon_end - c.epsilon_start) * (double)frame / c.epsilon_frames;
}

DqnState initial_dqn_state(const DqnConfig& c, int observations, int actions) {
    MlpSpec spec;  // ReLU, biases
    spec.widths = {observations};
    for (int l = 0; l < c.depth; ++l) spec.widths.push_back(c.hidden);
    spec.widths.push_back(actions);
    DqnState state;
    state.net = make_mlp(spec);
    Rng init(stream_seed(c.seed, 0));
    initialize(state.net, Init::Glorot, 1.0, init);
    state.target = state.net;
    state.memory.capacity = c.memories, state.memory.inputs = 2 * observations + 2;
    return state;
}

std::vector<double> q_targets(const Model& target, const double* transitions, int rows, int n, double discount) {
    const int width = 2 * n + 2;
    Tensor next = Tensor::uninitialized(rows, n);
    for (int i = 0; i < rows; ++i)
        std::copy(transitions + (size_t)i * width + n, transitions + (size_t)i * width + 2 * n,
                  &next.data[(size_t)i * n]);
    NoGradGuard inference;
    const Var out = target.forward(constant_view(next));
    const Tensor& q = out.value();  // (rows, actions)
    std::vector<double> y(rows);
    for (int i = 0; i < rows; ++i) {
        const double* row = &q.data[(size_t)i * q.cols];
        const double reward = transitions[(size_t)i * width + 2 * n], done = transitions[(size_t)i * width + 2 * n + 1];
        y[i] = reward + (done != 0 ? 0.0 : discount * *std::max_element(row, row + q.cols));
    }
    return y;
}

void q_loss_gradient(Model& net, const Tensor& states, const std::vector<int>& actions,
                     const std::vector<double>& targets, DqnState::Scratch& s) {
    const int N = states.rows, A = (int)net.parameters().back().size();  // the last bias has one entry per action
    s.Y = Tensor(N, A), s.mask = Tensor(N, A);                           // Y: y_i in column a_i; mask: 1 there
    for (int i = 0; i < N; ++i) s.Y(i, actions[i]) = targets[i], s.mask(i, actions[i]) = 1.0;
    const Var q = net.forward(constant_view(states));
    net.backward(sum(square((q - constant_view(s.Y)) * constant_view(s.mask))) * (0.5 / N));
}

int greedy_action(const Model& net, const double* observation, int n) {
    NoGradGuard inference;
    const Var out = net.forward(constant_view(Tensor::read_only_view(observation, 1, n)));
    const Tensor& q = out.value();
    return (int)(std::max_element(q.data.begin(), q.data.end()) - q.data.begin());
}

namespace {

// Copies the packed rows (the incoming transition, then the memory slots) into states, actions
// and targets for one Q-learning step.
void gather(const DqnConfig& c, DqnState& state, const double* transition, int action, const std::vector<int>& slots,
            int n) {
    auto& s = state.scratch;
    const int width = 2 * n + 2, rows = 1 + (int)slots.size();
    s.transition.resize((size_t)rows * width);
    s.actions.assign(1, action);
    std::copy(transition, transition + width, s.transition.begin());
    for (size_t j = 0; j < slots.size(); ++j) {
        std::copy(state.memory.input(slots[j]), state.memory.input(slots[j]) + width, &s.transition[(j + 1) * width]);
        s.actions.push_back(state.memory.label[slots[j]]);
    }
    s.targets = q_targets(state.target, s.transition.data(), rows, n, c.discount);
    if (s.states.rows != rows || s.states.cols != n) s.states = Tensor::uninitialized(rows, n);
    for (int i = 0; i < rows; ++i)
        std::copy(&s.transition[(size_t)i * width], &s.transition[(size_t)i * width + n],
                  &s.states.data[(size_t)i * n]);
}

const std::vector<int>& draw(const DqnConfig& c, DqnState& state, Rng& rng) {
    std::vector<int>& slots = state.scratch.slots;
    slots.clear();
    const int size = state.memory.size();
    if (size > 0)
        for (int j = 0; j < c.replay; ++j) slots.push_back((int)rng.index(size));
    return slots;
}

}  // namespace

void learn(const DqnConfig& c, DqnState& state, const double* transition, int action, int version, int frame, int n,
           Rng& rng) {
    auto& s = state.scratch;
    Optimizer sgd(OptimizerConfig{}, state.net);  // plain SGD: theta -= lr gradient
    if (c.method == RlMethod::DqnMer) {
        mer_update(state.net, c.batches, c.beta, c.gamma, s.mer, [&](int) {
            const std::vector<int> slots = draw(c, state, rng);
            for (int j = -1; j < (int)slots.size(); ++j) {  // the incoming transition, then each draw
                if (j < 0) gather(c, state, transition, action, {}, n);
                else gather(c, state, state.memory.input(slots[j]), state.memory.label[slots[j]], {}, n);
                q_loss_gradient(state.net, s.states, s.actions, s.targets, s);
                sgd.step(c.lr);
            }
        });
    } else {
        gather(c, state, transition, action, draw(c, state, rng), n);
        q_loss_gradient(state.net, s.states, s.actions, s.targets, s);
        sgd.step(c.lr);
    }
    Reservoir& m = state.memory;
    int slot = -1;
    if (c.method == RlMethod::Dqn) {
        if (m.capacity > 0) slot = (int)(m.age++ % (uint64_t)m.capacity);  // FIFO: the oldest row is overwritten
    } else {
        slot = m.offer(rng);
    }
    if (slot >= 0) m.store(slot, version, frame, action, transition);
}

double greedy_score(const Model& net, const GameSchedule& schedule, int version, int episodes, int max_frames,
                    uint64_t seed) {
    double total = 0;
    std::vector<double> obs;
    for (int e = 0; e < episodes; ++e) {
        const auto game = make_game(schedule, version, stream_seed(seed, 5000 + version) + e);
        obs.resize(game->observations());
        for (int f = 0; f < max_frames; ++f) {
            game->observe(obs.data());
            if (game->step(greedy_action(net, obs.data(), (int)obs.size())).over) break;
        }
        total += game->score();
    }
    return total / std::max(episodes, 1);
}

void run_game_stream(const DqnConfig& c, const StreamSettings& st, DqnState& state,
                     const std::function<bool(const DqnState&)>& after_version) {
    const int V = st.schedule.versions;
    for (int v = state.versions_done; v < V; ++v) {
        Rng rng(stream_seed(c.seed, 1000 + v));
        const auto game = make_game(st.schedule, v, stream_seed(c.seed, 2000 + v));
        const int n = game->observations(), A = game->actions(), width = 2 * n + 2;
        std::vector<double> transition(width);
        game->observe(transition.data());
        for (int f = 0; f < st.frames_per_version; ++f) {
            const double eps = epsilon_at(c, state.frames);
            const int action = rng.uniform() < eps ? (int)rng.index(A) : greedy_action(state.net, transition.data(), n);
            const StepResult r = game->step(action);
            game->observe(&transition[n]);
            transition[2 * n] = r.reward, transition[2 * n + 1] = r.over ? 1.0 : 0.0;
            learn(c, state, transition.data(), action, v, (int)state.frames, n, rng);
            state.reward_since_row += r.reward;
            if (r.over) {
                game->reset();
                game->observe(transition.data());
            } else {
                std::copy(&transition[n], &transition[2 * n], transition.begin());
            }
            ++state.frames;
            if (state.frames % (uint64_t)c.target_every == 0) state.target.theta() = state.net.theta();
            if (state.frames % (uint64_t)st.curve_every == 0) {
                std::vector<double> row = {(double)state.frames, eps, state.reward_since_row / st.curve_every};
                for (int j = 0; j < V; ++j)
                    row.push_back(greedy_score(state.net, st.schedule, j, st.curve_episodes, st.eval_frames, c.seed));
                state.curve.push_back(row);
                state.reward_since_row = 0;
            }
        }
        std::vector<double> row(V);
        for (int j = 0; j < V; ++j)
            row[j] = greedy_score(state.net, st.schedule, j, st.eval_episodes, st.eval_frames, c.seed + 1);
        state.scores.push_back(row);
        state.versions_done = v + 1;
        if (!after_version(state)) return;
    }
}

// ---- checkpoint ---------------------------------------------------------------------------
// DIR/state.json: the counters, the scores and curve rows, the memory's capacity and age;
// DIR/theta.npy, DIR/target.npy: the two networks; DIR/memory.npy (size, 2n+2) and
// DIR/memory_tags.npy (3 size: version, frame, action of each row) when the memory is not empty.

void save_dqn_state(const std::string& dir, const DqnState& s) {
    make_directories(dir);
    write_npy(dir + "/theta.npy", s.net.theta());
    write_npy(dir + "/target.npy", s.target.theta());
    const Reservoir& m = s.memory;
    if (m.size() > 0) {
        Tensor x = Tensor::uninitialized(m.size(), m.inputs);
        std::copy(m.x.begin(), m.x.end(), x.data.begin());
        write_npy(dir + "/memory.npy", x);
        std::vector<int64_t> tags;
        for (const auto* v : {&m.task, &m.index, &m.label}) tags.insert(tags.end(), v->begin(), v->end());
        write_npy(dir + "/memory_tags.npy", tags);
    }
    write_json_file(dir + "/state.json",
                    {{"versions_done", s.versions_done},
                     {"frames", s.frames},
                     {"reward_since_row", s.reward_since_row},
                     {"memory_size", m.size()},
                     {"memory_age", m.age},
                     {"scores", s.scores},
                     {"curve", s.curve}});
}

DqnState load_dqn_state(const std::string& dir, const DqnConfig& c, int observations, int actions) {
    DqnState s = initial_dqn_state(c, observations, actions);
    const auto j = nlohmann::json::parse(read_file(dir + "/state.json"));
    s.versions_done = j.at("versions_done"), s.frames = j.at("frames"), s.reward_since_row = j.at("reward_since_row");
    s.scores = j.at("scores").get<std::vector<std::vector<double>>>(),
    s.curve = j.at("curve").get<std::vector<std::vector<double>>>();
    const int size = j.at("memory_size");
    s.memory.age = j.at("memory_age");
    for (auto [file, net] : {std::pair{"/theta.npy", &s.net}, std::pair{"/target.npy", &s.target}}) {
        const Tensor theta = read_npy_matrix(dir + file);
        if (theta.size() != net->size())
            throw std::runtime_error(dir + file + ": " + std::to_string(theta.size()) +
                                     " parameters, the network has " + std::to_string(net->size()));
        std::copy(theta.data.begin(), theta.data.end(), net->theta().data.begin());
    }
    if (size > 0) {
        const Tensor x = read_npy_matrix(dir + "/memory.npy");
        const std::vector<int64_t> tags = read_npy_int64(dir + "/memory_tags.npy");
        if (x.rows != size || x.cols != s.memory.inputs || (int64_t)tags.size() != 3 * (int64_t)size ||
            size > c.memories)
            throw std::runtime_error(dir + "/memory.npy: shape " + x.shape() + " does not match " +
                                     std::to_string(size) + " memories of width " + std::to_string(s.memory.inputs));
        for (int k = 0; k < size; ++k)
            s.memory.store(k, (int)tags[k], (int)tags[size + k], (int)tags[2 * size + k], &x.data[(size_t)k * x.cols]);
    }
    return s;
}

}  // namespace awd
