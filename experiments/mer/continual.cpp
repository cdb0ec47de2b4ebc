// continual.cpp: EWC's Fisher, the methods' updates, the stream loop and the checkpoint.
// Every gradient here is the autodiff's, through the learner Model's graph.
#include "experiments/mer/continual.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "autodiff/product.h"
#include "nn/per_sample.h"
#include "optim/optimizer.h"
#include "optim/step.h"
#include "optim/train.h"

namespace awd {

// ---- EWC ----------------------------------------------------------------------------------

std::vector<double> ewc_fisher(Model& net, const Tensor& X, const std::vector<int>& labels) {
    std::vector<double> F(net.size(), 0.0);
    for_each_sample_gradient(net, loss_function(Loss::CrossEntropy), X, labels, [&](int, const Tensor& g) {
        for (size_t k = 0; k < F.size(); ++k) F[k] += g[k] * g[k];
    });
    if (X.rows > 0)
        for (double& f : F) f /= X.rows;
    return F;
}

// ---- methods ------------------------------------------------------------------------------

namespace {

MlpSpec spec_of(const ContinualConfig& c, const TaskStream& stream, int hidden) {
    MlpSpec spec;  // ReLU, biases, cross-entropy
    spec.widths = {stream.inputs()};
    for (int l = 0; l < c.depth; ++l) spec.widths.push_back(hidden);
    spec.widths.push_back(stream.classes());
    return spec;
}

// k draws from the memory's slots: uniform with replacement, or without (partial Fisher-Yates).
const std::vector<int>& draw(const ContinualConfig& c, ContinualState& state, int k, Rng& rng) {
    std::vector<int>& order = state.scratch.order;
    const int n = state.memory.size();
    order.clear();
    if (n == 0 || k <= 0) return order;
    if (!c.without_replacement) {
        for (int j = 0; j < k; ++j) order.push_back((int)rng.index(n));
        return order;
    }
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
    k = std::min(k, n);
    for (int j = 0; j < k; ++j) std::swap(order[j], order[j + rng.index(n - j)]);
    order.resize(k);
    return order;
}

// (rows, inputs) examples stored contiguously at x, as a constant of the graph: read in place.
Var examples(const double* x, int rows, int inputs) { return constant_view(Tensor::read_only_view(x, rows, inputs)); }

// cross-entropy(x, y) of one example, a graph over the net's parameters.
Var example_loss(Model& net, const double* x, int y, int inputs, std::vector<int>& label) {
    label.assign(1, y);
    return cross_entropy(net.forward(examples(x, 1, inputs)), label);
}

// A step's outcome (step.h): a parameter or gradient that is not finite ends the run with its name.
void require_finite(const std::string& failure) {
    if (!failure.empty()) throw std::runtime_error("continual learning diverged: " + failure);
}

// theta = anchor + factor (theta - anchor); factor 1 leaves theta exactly as it is.
void interpolate(Tensor& theta, const std::vector<double>& anchor, double factor) {
    if (factor == 1.0) return;
    double* t = theta.data.data();
    for (size_t k = 0; k < anchor.size(); ++k) t[k] = anchor[k] + factor * (t[k] - anchor[k]);
}

void save(const Tensor& theta, std::vector<double>& to) { to.assign(theta.data.begin(), theta.data.end()); }

// EWC's gradient: the example's cross-entropy plus the penalty
// (lambda/2) sum_t sum_i F_t,i (theta_i - theta*_t,i)^2
//   = lambda sum_i theta_i (F_i theta_i / 2 - (F theta*)_i) + const,
// with F = sum_t F_t and (F theta*) = sum_t F_t theta*_t, differentiated together in one pass.
void ewc_gradient(const ContinualConfig& c, ContinualState& state, Model& net, const double* x, int y, int inputs) {
    if (state.ewc_F.empty()) return net.backward(example_loss(net, x, y, inputs, state.scratch.label));
    const int P = (int)net.size();
    const Var theta = variable(Tensor::view(net.theta().data.data(), P, 1));  // the model's theta, read in place
    const Var F = examples(state.ewc_F.data(), P, 1), Ftheta = examples(state.ewc_Ftheta.data(), P, 1);
    state.scratch.label.assign(1, y);
    const Var loss = cross_entropy(net.forward_at(theta, examples(x, 1, inputs)), state.scratch.label) +
        c.ewc_lambda * sum(theta * (0.5 * (F * theta) - Ftheta));
    net.gradient() = grad(loss, {theta})[0].value();
}

void remember(ContinualState& state, int t, int i, int y, const double* x, Rng& rng) {
    const int slot = state.memory.offer(rng);
    if (slot >= 0) state.memory.store(slot, t, i, y, x);
}

}  // namespace

void mer_update(Model& net, int batches, double beta, double gamma, MerScratch& scratch,
                const std::function<void(int batch)>& batch_steps) {
    if (gamma != 1.0) save(net.theta(), scratch.theta_a);
    for (int b = 0; b < batches; ++b) {
        if (beta != 1.0) save(net.theta(), scratch.theta_w);
        batch_steps(b);
        interpolate(net.theta(), scratch.theta_w, beta);
    }
    interpolate(net.theta(), scratch.theta_a, gamma);
}

ContinualState initial_state(const ContinualConfig& c, const TaskStream& stream) {
    ContinualState state;
    Rng init(stream_seed(c.seed, 0));
    const int nets = c.method == Method::Independent ? stream.tasks() : 1;
    const int hidden = c.method == Method::Independent ? std::max(1, c.hidden / stream.tasks()) : c.hidden;
    for (int k = 0; k < nets; ++k) {
        state.nets.push_back(make_mlp(spec_of(c, stream, hidden)));
        initialize(state.nets.back(), Init::Glorot, 1.0, init);
    }
    state.memory.capacity = c.memories, state.memory.inputs = stream.inputs();
    if (c.method == Method::Gem)
        for (int t = 0; t < stream.tasks(); ++t)
            state.gem.push_back(Reservoir{c.gem_per_task, stream.inputs(), 0, {}, {}, {}, {}});
    return state;
}

void observe(const ContinualConfig& c, const TaskStream& stream, ContinualState& state, int t, const double* x, int y,
             int i, Rng& rng) {
    auto& s = state.scratch;
    const int inputs = stream.inputs();
    Model& net = state.nets[c.method == Method::Independent ? t : 0];
    Optimizer sgd(OptimizerConfig{}, net);  // plain SGD: theta -= lr gradient
    switch (c.method) {
        case Method::Online:
        case Method::Independent:
            require_finite(optimizer_step(net, sgd, example_loss(net, x, y, inputs, s.label), c.lr));
            break;
        case Method::Er: {  // the mean loss of the incoming example and the memory draws, one batch
            const std::vector<int>& slots = draw(c, state, c.replay, rng);
            const int rows = 1 + (int)slots.size();
            if (s.batch.rows != rows || s.batch.cols != inputs) s.batch = Tensor::uninitialized(rows, inputs);
            std::copy(x, x + inputs, s.batch.data.data());
            s.labels.assign(1, y);
            for (size_t j = 0; j < slots.size(); ++j) {
                std::copy(state.memory.input(slots[j]), state.memory.input(slots[j]) + inputs,
                          &s.batch.data[(j + 1) * inputs]);
                s.labels.push_back(state.memory.label[slots[j]]);
            }
            require_finite(
                optimizer_step(net, sgd, cross_entropy(net.forward(constant_view(s.batch)), s.labels), c.lr));
            remember(state, t, i, y, x, rng);
            break;
        }
        case Method::Mer:
            mer_update(net, c.batches, c.beta, c.gamma, s.mer, [&](int) {
                const std::vector<int>& slots = draw(c, state, c.replay, rng);
                require_finite(optimizer_step(net, sgd, example_loss(net, x, y, inputs, s.label), c.lr));
                for (int slot : slots) {
                    const Var loss =
                        example_loss(net, state.memory.input(slot), state.memory.label[slot], inputs, s.label);
                    require_finite(optimizer_step(net, sgd, loss, c.lr));
                }
            });
            remember(state, t, i, y, x, rng);
            break;
        case Method::Ewc:
            ewc_gradient(c, state, net, x, y, inputs);
            require_finite(step_from_gradient(net, sgd, c.lr));
            break;
        case Method::Gem: {
            const int P = (int)net.size();
            Tensor G(t, P);  // row k: the gradient of the mean loss over task k's memory
            for (int k = 0; k < t; ++k) {
                const Reservoir& m = state.gem[k];
                if (m.size() == 0) continue;
                net.backward(cross_entropy(net.forward(examples(m.x.data(), m.size(), inputs)), m.label));
                std::copy(net.gradient().data.begin(), net.gradient().data.end(), &G.data[(size_t)k * P]);
            }
            net.backward(example_loss(net, x, y, inputs, s.label));
            double* g = net.gradient().data.data();
            bool violated = false;
            for (int k = 0; k < t; ++k) violated = violated || cblas_ddot(P, &G.data[(size_t)k * P], 1, g, 1) < 0;
            if (violated) {
                const std::vector<double> projected =
                    gem_project(G, std::vector<double>(g, g + P), c.margin, c.gem_eps);
                std::copy(projected.begin(), projected.end(), g);
            }
            require_finite(step_from_gradient(net, sgd, c.lr));
            Reservoir& mine = state.gem[t];  // a ring buffer: the most recent examples of the task
            const int slot = (int)(mine.age++ % (uint64_t)mine.capacity);
            mine.store(slot, t, i, y, x);
            break;
        }
    }
}

namespace {

void end_task(const ContinualConfig& c, const TaskStream& stream, ContinualState& state, int t) {
    if (c.method != Method::Ewc) return;
    const int m = std::min(c.fisher_examples, stream.per_task());
    Tensor X(m, stream.inputs());
    std::vector<int> labels(m);
    for (int i = 0; i < m; ++i) labels[i] = stream.example(t, i, &X.data[(size_t)i * X.cols]);
    Model& net = state.nets[0];
    const std::vector<double> F = ewc_fisher(net, X, labels);
    if (state.ewc_F.empty()) state.ewc_F.assign(F.size(), 0.0), state.ewc_Ftheta.assign(F.size(), 0.0);
    for (size_t k = 0; k < F.size(); ++k) state.ewc_F[k] += F[k], state.ewc_Ftheta[k] += F[k] * net.theta()[k];
}

// Test accuracy of the net that answers for `task`, evaluation mode, no graph recorded.
double accuracy(const ContinualConfig& c, const ContinualState& state, int task, const Tensor& X,
                const std::vector<int>& labels) {
    return evaluate(state.nets[c.method == Method::Independent ? task : 0], loss_function(Loss::CrossEntropy), X,
                    labels)
        .accuracy;
}

}  // namespace

void run_stream(const ContinualConfig& c, const TaskStream& stream, ContinualState& state,
                const std::function<bool(const ContinualState&)>& after_task) {
    const Tensor first_test = stream.test_inputs(0);
    std::vector<double>& x = state.scratch.x;
    x.resize(stream.inputs());
    for (int t = state.tasks_done; t < stream.tasks(); ++t) {
        Rng rng(stream_seed(c.seed, 1000 + t));
        for (int i = 0; i < stream.per_task(); ++i) {
            const int y = stream.example(t, i, x.data());
            observe(c, stream, state, t, x.data(), y, i, rng);
            if (++state.examples_seen % (uint64_t)c.curve_every == 0)
                state.curve.push_back(accuracy(c, state, 0, first_test, stream.test_labels()));
        }
        end_task(c, stream, state, t);
        std::vector<double> row(stream.tasks());
        for (int j = 0; j < stream.tasks(); ++j)
            row[j] = accuracy(c, state, j, j == 0 ? first_test : stream.test_inputs(j), stream.test_labels());
        state.R.push_back(row);
        state.tasks_done = t + 1;
        if (!after_task(state)) return;
    }
}

Summary summarize(const std::vector<std::vector<double>>& R) {
    Summary s;
    const size_t T = R.size();
    if (T == 0) return s;
    for (size_t j = 0; j < R.back().size(); ++j) s.RA += R.back()[j];
    s.RA /= R.back().size();
    for (size_t j = 0; j < T; ++j) s.LA += R[j][j];
    s.LA /= T;
    s.BTI = s.RA - s.LA;
    return s;
}

// ---- checkpoint ---------------------------------------------------------------------------

namespace {

constexpr char kMagic[8] = {'A', 'W', 'D', 'C', 'O', 'N', 'T', '1'};

struct Writer {
    std::string bytes;
    template <class T>
    void put(const T& v) {
        bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
    }
    template <class T>
    void put(const std::vector<T>& v) {
        put((uint64_t)v.size());
        bytes.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    }
    void put(const Tensor& t) {  // as a std::vector<double>: the layout of earlier checkpoints
        put((uint64_t)t.size());
        bytes.append(reinterpret_cast<const char*>(t.data.data()), t.size() * sizeof(double));
    }
    void put(const Reservoir& m) { put(m.capacity), put(m.age), put(m.task), put(m.index), put(m.label); }
};

struct Reader {
    const std::string& bytes;
    size_t at = 0;
    void need(size_t n) {
        if (at + n > bytes.size()) throw std::runtime_error("checkpoint is truncated");
    }
    template <class T>
    void get(T& v) {
        need(sizeof v), std::memcpy(&v, bytes.data() + at, sizeof v), at += sizeof v;
    }
    template <class T>
    void get(std::vector<T>& v) {
        uint64_t n = 0;
        get(n);
        if (n > (bytes.size() - at) / sizeof(T))
            throw std::runtime_error("checkpoint is truncated");  // before n * size can overflow
        v.resize(n);
        if (n) std::memcpy(v.data(), bytes.data() + at, n * sizeof(T)), at += n * sizeof(T);
    }
    void get(Reservoir& m, const TaskStream& stream) {
        get(m.capacity), get(m.age), get(m.task), get(m.index), get(m.label);
        if (m.task.size() != m.label.size() || m.index.size() != m.label.size())
            throw std::runtime_error("checkpoint: inconsistent memory");
        m.inputs = stream.inputs();
        m.x.resize(m.label.size() * (size_t)m.inputs);
        for (size_t k = 0; k < m.label.size(); ++k) {  // the inputs are rebuilt, not stored
            if (m.task[k] < 0 || m.task[k] >= stream.tasks() || m.index[k] < 0 || m.index[k] >= stream.per_task())
                throw std::runtime_error("checkpoint: memory refers to an example outside the stream");
            if (stream.example(m.task[k], m.index[k], &m.x[k * m.inputs]) != m.label[k])
                throw std::runtime_error(
                    "checkpoint: memory label does not match the stream (another data set or seed?)");
        }
    }
};

}  // namespace

std::string serialize_state(const ContinualState& state) {
    Writer w;
    w.bytes.assign(kMagic, sizeof kMagic);
    w.put(state.tasks_done), w.put(state.examples_seen);
    w.put((uint64_t)state.nets.size());
    for (const Model& net : state.nets) w.put(net.theta());
    w.put(state.memory);
    w.put(state.ewc_F), w.put(state.ewc_Ftheta);
    w.put((uint64_t)state.gem.size());
    for (const Reservoir& m : state.gem) w.put(m);
    w.put((uint64_t)state.R.size());
    for (const auto& row : state.R) w.put(row);
    w.put(state.curve);
    return w.bytes;
}

ContinualState deserialize_state(const std::string& bytes, const ContinualConfig& config, const TaskStream& stream) {
    if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
        throw std::runtime_error("not a continual-learning checkpoint (bad magic)");
    ContinualState state = initial_state(config, stream);
    Reader r{bytes, sizeof kMagic};
    r.get(state.tasks_done), r.get(state.examples_seen);
    uint64_t n = 0;
    r.get(n);
    if (n != state.nets.size())
        throw std::runtime_error("checkpoint holds " + std::to_string(n) + " networks, the method needs " +
                                 std::to_string(state.nets.size()));
    std::vector<double> theta;
    for (Model& net : state.nets) {
        r.get(theta);
        if (theta.size() != net.size())
            throw std::runtime_error("checkpoint: parameter count does not match the architecture");
        std::copy(theta.begin(), theta.end(), net.theta().data.begin());
    }
    r.get(state.memory, stream);
    r.get(state.ewc_F), r.get(state.ewc_Ftheta);
    r.get(n);
    if (n != state.gem.size()) throw std::runtime_error("checkpoint: GEM memories do not match the method");
    for (Reservoir& m : state.gem) r.get(m, stream);
    r.get(n);
    state.R.resize(n);
    for (auto& row : state.R) r.get(row);
    r.get(state.curve);
    if (r.at != bytes.size() || state.tasks_done != (int)state.R.size() || state.tasks_done > stream.tasks())
        throw std::runtime_error("checkpoint: inconsistent contents");
    return state;
}

}  // namespace awd
