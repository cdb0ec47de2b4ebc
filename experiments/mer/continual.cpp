// continual.cpp: the reservoir, GEM's QP, EWC's Fisher, the methods' updates and the stream loop.
// Every gradient here is the autodiff's, through the learner Model's graph.
#include "experiments/mer/continual.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "autodiff/names.h"
#include "autodiff/product.h"
#include "nn/per_sample.h"
#include "optim/optimizer.h"
#include "optim/train.h"

namespace awd {

Method parse_method(const std::string& name) {
    const Method all[] = {Method::Online, Method::Er, Method::Mer, Method::Ewc, Method::Gem, Method::Independent};
    return parse_name(name, all, method_name, "method");
}

const char* method_name(Method m) {
    switch (m) {
        case Method::Online: return "online";
        case Method::Er: return "er";
        case Method::Mer: return "mer";
        case Method::Ewc: return "ewc";
        case Method::Gem: return "gem";
        case Method::Independent: return "independent";
    }
    return "?";
}

// ---- reservoir ----------------------------------------------------------------------------

int Reservoir::offer(Rng& rng) {
    int slot = -1;
    if (size() < capacity) {
        slot = size();
    } else if (capacity > 0) {
        const uint64_t p = rng.index(age + 1);  // uniform in [0, age]
        if (p < (uint64_t)capacity) slot = (int)p;
    }
    ++age;
    return slot;
}

void Reservoir::store(int slot, int t, int i, int y, const double* in) {
    if (slot == size()) {
        task.push_back(t), index.push_back(i), label.push_back(y);
        x.insert(x.end(), in, in + inputs);
    } else {
        task[slot] = t, index[slot] = i, label[slot] = y;
        std::copy(in, in + inputs, &x[(size_t)slot * inputs]);
    }
}

// ---- the non-negative QP ------------------------------------------------------------------

namespace {

// Solves A z = b for the symmetric positive definite A restricted to the index set F.
std::vector<double> solve_spd(const Tensor& P, const std::vector<int>& F, const std::vector<double>& b) {
    const int m = (int)F.size();
    std::vector<double> L((size_t)m * m, 0.0), z(m);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = P(F[i], F[j]);
            for (int k = 0; k < j; ++k) s -= L[i * m + k] * L[j * m + k];
            if (i == j) {
                if (!(s > 0)) throw std::runtime_error("GEM QP: the Gram matrix of the memory gradients is not positive definite");
                L[i * m + i] = std::sqrt(s);
            } else {
                L[i * m + j] = s / L[j * m + j];
            }
        }
    for (int i = 0; i < m; ++i) {  // L y = b, then L^T z = y
        double s = b[i];
        for (int k = 0; k < i; ++k) s -= L[i * m + k] * z[k];
        z[i] = s / L[i * m + i];
    }
    for (int i = m - 1; i >= 0; --i) {
        double s = z[i];
        for (int k = i + 1; k < m; ++k) s -= L[k * m + i] * z[k];
        z[i] = s / L[i * m + i];
    }
    return z;
}

std::vector<double> qp_gradient(const Tensor& P, const std::vector<double>& c, const std::vector<double>& u) {
    std::vector<double> g(c);
    for (size_t i = 0; i < c.size(); ++i)
        for (size_t j = 0; j < c.size(); ++j) g[i] += P(i, j) * u[j];
    return g;
}

}  // namespace

std::vector<double> solve_nonnegative_qp(const Tensor& P, const std::vector<double>& c) {
    const int n = (int)c.size();
    if (P.rows != n || P.cols != n) throw std::invalid_argument("solve_nonnegative_qp: P " + P.shape() + " does not match c");
    double scale = 1e-300;
    for (int i = 0; i < n; ++i) scale = std::max(scale, std::abs(c[i]));
    const double tol = 1e-13 * scale;
    std::vector<double> u(n, 0.0);
    std::vector<char> passive(n, 0);
    for (int outer = 0; outer < 10 * n + 10; ++outer) {
        const std::vector<double> g = qp_gradient(P, c, u);
        int j = -1;
        for (int i = 0; i < n; ++i)
            if (!passive[i] && -g[i] > tol && (j < 0 || -g[i] > -g[j])) j = i;
        if (j < 0) break;  // KKT hold: every active variable has a non-negative gradient
        passive[j] = 1;
        for (int inner = 0; inner < 10 * n + 10; ++inner) {
            std::vector<int> F;
            std::vector<double> rhs;
            for (int i = 0; i < n; ++i)
                if (passive[i]) F.push_back(i), rhs.push_back(-c[i]);
            const std::vector<double> zF = solve_spd(P, F, rhs);
            std::vector<double> z(n, 0.0);
            for (size_t k = 0; k < F.size(); ++k) z[F[k]] = zF[k];
            bool feasible = true;
            for (int i : F) feasible = feasible && z[i] > 0;
            if (feasible) {
                u = z;
                break;
            }
            if (z[j] <= 0 && u[j] == 0 && inner == 0) {  // rounding: the entering variable cannot grow
                passive[j] = 0;
                return u;
            }
            double alpha = 1.0;  // the longest step towards z that keeps u >= 0; its blocking variable leaves
            int blocking = -1;
            for (int i : F)
                if (z[i] <= 0 && u[i] / (u[i] - z[i]) < alpha) alpha = u[i] / (u[i] - z[i]), blocking = i;
            for (int i = 0; i < n; ++i) u[i] += alpha * (z[i] - u[i]);
            for (int i : F)
                if (i == blocking || u[i] <= 0) passive[i] = 0, u[i] = 0.0;
        }
    }
    return u;
}

double nonnegative_qp_kkt_violation(const Tensor& P, const std::vector<double>& c, const std::vector<double>& u) {
    const std::vector<double> g = qp_gradient(P, c, u);
    double u_max = 1e-300, worst = 0;
    for (double v : u) u_max = std::max(u_max, std::abs(v));
    for (size_t i = 0; i < c.size(); ++i) {
        double size = std::abs(c[i]) + 1e-300;
        for (size_t j = 0; j < c.size(); ++j) size += std::abs(P(i, j) * u[j]);
        const double ui = u[i] / u_max, gi = g[i] / size;
        worst = std::max({worst, -ui, -gi, std::min(std::abs(ui), std::abs(gi))});
    }
    return worst;
}

std::vector<double> gem_project(const Tensor& G, const std::vector<double>& g, double margin, double eps) {
    const int n = G.rows, P = G.cols;
    if ((int)g.size() != P) throw std::invalid_argument("gem_project: gradient length does not match G " + G.shape());
    Tensor K(n, n);
    product(false, true, n, n, P, 1.0, G.data.data(), P, G.data.data(), P, 0.0, K.data.data(), n);
    for (int i = 0; i < n; ++i) K(i, i) += eps;
    std::vector<double> c(n);
    for (int i = 0; i < n; ++i) {  // c = G g + K (margin 1): the dual shifted by v = u + margin
        c[i] = cblas_ddot(P, &G.data[(size_t)i * P], 1, g.data(), 1);
        for (int j = 0; j < n; ++j) c[i] += K(i, j) * margin;
    }
    const std::vector<double> u = solve_nonnegative_qp(K, c);
    std::vector<double> out(g);
    for (int i = 0; i < n; ++i) cblas_daxpy(P, u[i] + margin, &G.data[(size_t)i * P], 1, out.data(), 1);
    return out;
}

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

// net.gradient() = d cross-entropy(x, y) / d theta: one example's backward pass.
void example_gradient(Model& net, const double* x, int y, int inputs, std::vector<int>& label) {
    label.assign(1, y);
    net.backward(cross_entropy(net.forward(examples(x, 1, inputs)), label));
}

// theta = anchor + factor (theta - anchor); factor 1 leaves theta exactly as it is.
void interpolate(Tensor& theta, const std::vector<double>& anchor, double factor) {
    if (factor == 1.0) return;
    double* t = theta.data.data();
    for (size_t k = 0; k < anchor.size(); ++k) t[k] = anchor[k] + factor * (t[k] - anchor[k]);
}

void save(const Tensor& theta, std::vector<double>& to) { to.assign(theta.data.begin(), theta.data.end()); }

// EWC's gradient: the example's cross-entropy plus the penalty
// (lambda/2) sum_t sum_i F_t,i (theta_i - theta*_t,i)^2 = lambda sum_i theta_i (F_i theta_i / 2 - (F theta*)_i) + const,
// with F = sum_t F_t and (F theta*) = sum_t F_t theta*_t, differentiated together in one pass.
void ewc_gradient(const ContinualConfig& c, ContinualState& state, Model& net, const double* x, int y, int inputs) {
    if (state.ewc_F.empty()) return example_gradient(net, x, y, inputs, state.scratch.label);
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

void mer_update(Model& net, int batches, double beta, double gamma, MerScratch& scratch, const std::function<void(int batch)>& batch_steps) {
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
        for (int t = 0; t < stream.tasks(); ++t) state.gem.push_back(Reservoir{c.gem_per_task, stream.inputs(), 0, {}, {}, {}, {}});
    return state;
}

void observe(const ContinualConfig& c, const TaskStream& stream, ContinualState& state, int t, const double* x, int y, int i, Rng& rng) {
    auto& s = state.scratch;
    const int inputs = stream.inputs();
    Model& net = state.nets[c.method == Method::Independent ? t : 0];
    Optimizer sgd(OptimizerConfig{}, net);  // plain SGD: theta -= lr gradient
    switch (c.method) {
        case Method::Online:
        case Method::Independent:
            example_gradient(net, x, y, inputs, s.label);
            sgd.step(c.lr);
            break;
        case Method::Er: {  // the mean loss of the incoming example and the memory draws, one batch
            const std::vector<int>& slots = draw(c, state, c.replay, rng);
            const int rows = 1 + (int)slots.size();
            if (s.batch.rows != rows || s.batch.cols != inputs) s.batch = Tensor::uninitialized(rows, inputs);
            std::copy(x, x + inputs, s.batch.data.data());
            s.labels.assign(1, y);
            for (size_t j = 0; j < slots.size(); ++j) {
                std::copy(state.memory.input(slots[j]), state.memory.input(slots[j]) + inputs, &s.batch.data[(j + 1) * inputs]);
                s.labels.push_back(state.memory.label[slots[j]]);
            }
            net.backward(cross_entropy(net.forward(constant_view(s.batch)), s.labels));
            sgd.step(c.lr);
            remember(state, t, i, y, x, rng);
            break;
        }
        case Method::Mer:
            mer_update(net, c.batches, c.beta, c.gamma, s.mer, [&](int) {
                const std::vector<int>& slots = draw(c, state, c.replay, rng);
                example_gradient(net, x, y, inputs, s.label);
                sgd.step(c.lr);
                for (int slot : slots) {
                    example_gradient(net, state.memory.input(slot), state.memory.label[slot], inputs, s.label);
                    sgd.step(c.lr);
                }
            });
            remember(state, t, i, y, x, rng);
            break;
        case Method::Ewc:
            ewc_gradient(c, state, net, x, y, inputs);
            sgd.step(c.lr);
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
            example_gradient(net, x, y, inputs, s.label);
            double* g = net.gradient().data.data();
            bool violated = false;
            for (int k = 0; k < t; ++k) violated = violated || cblas_ddot(P, &G.data[(size_t)k * P], 1, g, 1) < 0;
            if (violated) {
                const std::vector<double> projected = gem_project(G, std::vector<double>(g, g + P), c.margin, c.gem_eps);
                std::copy(projected.begin(), projected.end(), g);
            }
            sgd.step(c.lr);
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
double accuracy(const ContinualConfig& c, const ContinualState& state, int task, const Tensor& X, const std::vector<int>& labels) {
    return evaluate(state.nets[c.method == Method::Independent ? task : 0], loss_function(Loss::CrossEntropy), X, labels).accuracy;
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
    void put(const T& v) { bytes.append(reinterpret_cast<const char*>(&v), sizeof v); }
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
    void get(T& v) { need(sizeof v), std::memcpy(&v, bytes.data() + at, sizeof v), at += sizeof v; }
    template <class T>
    void get(std::vector<T>& v) {
        uint64_t n = 0;
        get(n);
        if (n > (bytes.size() - at) / sizeof(T)) throw std::runtime_error("checkpoint is truncated");  // before n * size can overflow
        v.resize(n);
        if (n) std::memcpy(v.data(), bytes.data() + at, n * sizeof(T)), at += n * sizeof(T);
    }
    void get(Reservoir& m, const TaskStream& stream) {
        get(m.capacity), get(m.age), get(m.task), get(m.index), get(m.label);
        if (m.task.size() != m.label.size() || m.index.size() != m.label.size()) throw std::runtime_error("checkpoint: inconsistent memory");
        m.inputs = stream.inputs();
        m.x.resize(m.label.size() * (size_t)m.inputs);
        for (size_t k = 0; k < m.label.size(); ++k) {  // the inputs are rebuilt, not stored
            if (m.task[k] < 0 || m.task[k] >= stream.tasks() || m.index[k] < 0 || m.index[k] >= stream.per_task())
                throw std::runtime_error("checkpoint: memory refers to an example outside the stream");
            if (stream.example(m.task[k], m.index[k], &m.x[k * m.inputs]) != m.label[k])
                throw std::runtime_error("checkpoint: memory label does not match the stream (another data set or seed?)");
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
    if (n != state.nets.size()) throw std::runtime_error("checkpoint holds " + std::to_string(n) + " networks, the method needs " +
                                                          std::to_string(state.nets.size()));
    std::vector<double> theta;
    for (Model& net : state.nets) {
        r.get(theta);
        if (theta.size() != net.size()) throw std::runtime_error("checkpoint: parameter count does not match the architecture");
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
