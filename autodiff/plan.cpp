// plan.cpp: recording a computation into steps (tape.h), grouping elementwise runs for fusion,
// and replaying. What is and is not valid to record: plan.h.
#include "autodiff/plan.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "autodiff/tape.h"

namespace awd {

namespace {

// Entries per block of a fused run: 2 KB per buffer, so a run of a few dozen steps stays in L1.
constexpr size_t kBlock = 256;

struct Range {
    const double* begin;
    size_t n;
    bool written;
};

// The entries a step reads and writes, when it is elementwise over n entries (every operand of
// n entries read at the same position, or of one entry); otherwise n = 0.
size_t elementwise_ranges(const TapeStep& s, std::vector<Range>& ranges) {
    ranges.clear();
    using K = TapeStep::Kind;
    if (s.kind == K::Evaluate || s.kind == K::Wins) {
        const Node& node = *s.node;
        if (s.kind == K::Evaluate && !is_elementwise(node.op)) return 0;
        const size_t n = node.value.size();
        for (const Var& x : node.in) {
            const Tensor& v = x.value();
            if (!v.same_shape(node.value) && v.size() != 1) return 0;
            ranges.push_back({v.data.data(), v.size(), false});
        }
        ranges.push_back({node.value.data.data(), n, true});
        return n;
    }
    if (s.kind == K::Copy || s.kind == K::Accumulate) {
        ranges.push_back({s.src, s.n, false});
        ranges.push_back({s.dst, s.n, true});
        return s.n;
    }
    if (s.kind == K::Zero) {
        ranges.push_back({s.dst, s.n, true});
        return s.n;
    }
    return 0;
}

// Two ranges of one fused run may share memory only entry for entry: a block of one must not
// read what a later block of another writes.
bool compatible(const Range& a, const Range& b) {
    const bool overlap = a.begin < b.begin + b.n && b.begin < a.begin + a.n;
    return !overlap || (a.begin == b.begin && a.n == b.n) || (!a.written && !b.written);
}

[[noreturn]] void throw_non_finite_gradient(const TapeStep& s, size_t k) {
    const Tensor& g = s.node->value;
    std::ostringstream why;
    why << "grad: the gradient with respect to input " << s.input << " " << g.shape() << " has non-finite entry " << s.src[k] << " at ["
        << k / g.cols << "," << k % g.cols << "] (found by a plan's replay)";
    throw NonFiniteError(why.str(), s.input, k);
}

size_t first_non_finite(const double* v, size_t n) {
    size_t k = 0;
    while (k < n && std::isfinite(v[k])) ++k;
    return k;
}

// One step over the entries [begin, end) (all of them for a step that is not elementwise).
void run_step(const TapeStep& s, size_t begin, size_t end) {
    using K = TapeStep::Kind;
    switch (s.kind) {
        case K::Evaluate: {
            Node& node = *s.node;
            if (!evaluate_entries(node, begin, end)) evaluate(node);
            const double* v = node.value.data.data();
            if (s.scan && !all_finite(v + begin, end - begin)) throw_non_finite(node, begin + first_non_finite(v + begin, end - begin));
            return;
        }
        case K::Wins: evaluate_wins(*s.node, s.flag, begin, end); return;
        case K::Copy: std::copy(s.src + begin, s.src + end, s.dst + begin); return;
        case K::Accumulate:
            for (size_t k = begin; k < end; ++k) s.dst[k] += s.src[k];
            return;
        case K::Zero: std::fill(s.dst + begin, s.dst + end, 0.0); return;
        case K::GemmWindow: {
            Tensor target = Tensor::view(s.dst, s.rows, s.cols);
            gemm(s.g->value, true, s.x->value, false, target, 1.0, s.flag ? 1.0 : 0.0);
            return;
        }
        case K::Check:
            if (!all_finite(s.src, s.n)) throw_non_finite_gradient(s, first_non_finite(s.src, s.n));
            return;
    }
}

size_t step_size(const TapeStep& s) {
    using K = TapeStep::Kind;
    if (s.kind == K::Evaluate || s.kind == K::Wins) return s.node->value.size();
    return s.n;
}

// Installs a tape on this thread for the lifetime of the guard.
struct Recording {
    explicit Recording(Tape& t) {
        if (g_tape) throw std::logic_error("Plan::record: a plan is already being recorded on this thread (fn may not record another)");
        g_tape = &t;
    }
    ~Recording() { g_tape = nullptr; }
};

std::string shape_of(const Tensor& t) { return t.shape(); }

}  // namespace

struct Plan::State {
    std::vector<std::shared_ptr<Node>> nodes;  // every node the recording made, and the inputs' stand-ins
    std::vector<TapeStep> steps;
    struct Block {
        size_t first, last, n;  // steps [first, last), elementwise over n entries when fused
        bool fused;
    };
    std::vector<Block> blocks;
    struct Input {
        std::weak_ptr<Node> node;
        const double* data;
        int rows, cols;
    };
    std::vector<Input> inputs;
    std::vector<Var> outputs;
    size_t fused_steps = 0;

    void check_inputs() const {
        for (size_t k = 0; k < inputs.size(); ++k) {
            const Input& in = inputs[k];
            const std::shared_ptr<Node> node = in.node.lock();
            if (!node)
                throw std::invalid_argument("plan: input " + std::to_string(k) +
                                            " was freed after recording (a plan reads its inputs in place: keep them alive, or record again)");
            const Tensor& v = node->value;
            if (v.data.data() != in.data || v.rows != in.rows || v.cols != in.cols)
                throw std::invalid_argument("plan: input " + std::to_string(k) + " is now " + v.shape() + " at another address; it was (" +
                                            std::to_string(in.rows) + " x " + std::to_string(in.cols) +
                                            ") when recorded: record again for new shapes (Captured does)");
        }
    }

    void group(bool fuse) {
        std::vector<Range> ranges, open;
        size_t open_n = 0;
        for (size_t i = 0; i < steps.size(); ++i) {
            const size_t n = fuse ? elementwise_ranges(steps[i], ranges) : 0;
            bool joins = n > 1 && n == open_n && !blocks.empty() && blocks.back().fused;
            for (size_t a = 0; joins && a < ranges.size(); ++a)
                for (const Range& b : open) joins = joins && compatible(ranges[a], b);
            if (joins) {
                blocks.back().last = i + 1;
            } else {
                blocks.push_back({i, i + 1, n, n > 1});
                open.clear();
                open_n = n;
            }
            if (n > 1) open.insert(open.end(), ranges.begin(), ranges.end());
        }
        for (Block& b : blocks) {
            if (b.fused && b.last - b.first == 1) b.fused = false;  // alone: nothing to fuse
            if (b.fused) fused_steps += b.last - b.first;
        }
    }

    void replay() {
        for (const Block& b : blocks) {
            if (!b.fused) {
                run_step(steps[b.first], 0, step_size(steps[b.first]));
                continue;
            }
            try {
                for (size_t begin = 0; begin < b.n; begin += kBlock) {
                    const size_t end = std::min(begin + kBlock, b.n);
                    for (size_t i = b.first; i < b.last; ++i) run_step(steps[i], begin, end);
                }
            } catch (const NonFiniteError&) {
                for (size_t i = b.first; i < b.last; ++i) run_step(steps[i], 0, b.n);  // unfused: the error the eager order meets first
                throw;
            }
        }
    }
};

Plan::Plan() = default;
Plan::~Plan() = default;
Plan::Plan(Plan&&) noexcept = default;
Plan& Plan::operator=(Plan&&) noexcept = default;

Plan Plan::record(const Function& fn, const std::vector<Var>& inputs, PlanOptions options) {
    for (size_t k = 0; k < inputs.size(); ++k) {
        if (!inputs[k]) throw std::invalid_argument("Plan::record: input " + std::to_string(k) + " is an empty Var");
        if (inputs[k].node()->op != Op::Leaf)
            throw std::invalid_argument("Plan::record: input " + std::to_string(k) + " is made by " + op_name(inputs[k].node()->op) +
                                        ", not a leaf: pass variable(...), constant(...) or a view of a tensor");
    }
    Tape tape;
    std::vector<Var> outputs;
    {
        Recording on(tape);
        outputs = fn(inputs);
    }
    Plan plan;
    plan.s_ = std::make_unique<State>();
    State& s = *plan.s_;
    for (size_t k = 0; k < outputs.size(); ++k)
        if (!outputs[k]) throw std::invalid_argument("Plan::record: output " + std::to_string(k) + " of the function is an empty Var");
    // The recorded nodes refer to each input through a stand-in leaf over the input's values: the
    // plan then holds no input, and a freed one is noticed instead of read.
    std::vector<std::shared_ptr<Node>> stand_ins;
    auto stand_in = [&](const Var& v) -> Var {
        for (size_t k = 0; k < inputs.size(); ++k) {
            if (v.node() != inputs[k].node()) continue;
            if (!stand_ins[k]) {
                stand_ins[k] = std::make_shared<Node>();
                Tensor& t = inputs[k].node()->value;
                stand_ins[k]->value = Tensor::view(t.data.data(), t.rows, t.cols);
                stand_ins[k]->requires_grad = inputs[k].requires_grad();
            }
            return Var(stand_ins[k]);
        }
        return v;
    };
    stand_ins.resize(inputs.size());
    for (const std::shared_ptr<Node>& n : tape.nodes) {
        Var in[3];
        for (size_t k = 0; k < n->in.size(); ++k) in[k] = stand_in(n->in[k]);
        n->in = n->in.size() == 3 ? Inputs(in[0], in[1], in[2]) : n->in.size() == 2 ? Inputs(in[0], in[1]) : n->in.size() == 1 ? Inputs(in[0]) : Inputs();
    }
    for (const Var& v : outputs) s.outputs.push_back(stand_in(v));
    for (size_t k = 0; k < inputs.size(); ++k) {
        const Tensor& t = inputs[k].value();
        s.inputs.push_back({inputs[k].shared(), t.data.data(), t.rows, t.cols});
    }
    s.nodes = std::move(tape.nodes);
    for (auto& n : stand_ins)
        if (n) s.nodes.push_back(std::move(n));
    s.steps = std::move(tape.steps);
    s.group(options.fuse);
    return plan;
}

void Plan::run() {
    if (!s_) throw std::logic_error("plan: run() of a plan that was never recorded");
    s_->check_inputs();
    s_->replay();
}

bool Plan::same_shapes(const std::vector<const Tensor*>& values) const {
    if (!s_ || values.size() != s_->inputs.size()) return false;
    for (size_t k = 0; k < values.size(); ++k)
        if (values[k]->rows != s_->inputs[k].rows || values[k]->cols != s_->inputs[k].cols) return false;
    return true;
}

void Plan::run(const std::vector<const Tensor*>& values) {
    if (!s_) throw std::logic_error("plan: run() of a plan that was never recorded");
    if (values.size() != s_->inputs.size())
        throw std::invalid_argument("plan: " + std::to_string(values.size()) + " values for " + std::to_string(s_->inputs.size()) + " inputs");
    s_->check_inputs();
    for (size_t k = 0; k < values.size(); ++k) {
        const State::Input& in = s_->inputs[k];
        if (values[k]->rows != in.rows || values[k]->cols != in.cols)
            throw std::invalid_argument("plan: value " + std::to_string(k) + " is " + shape_of(*values[k]) + ", the plan was recorded for (" +
                                        std::to_string(in.rows) + " x " + std::to_string(in.cols) + "): record again (Captured does)");
        if (values[k]->data.data() != in.data) std::copy(values[k]->data.begin(), values[k]->data.end(), const_cast<double*>(in.data));
    }
    s_->replay();
}

const Tensor& Plan::output(size_t k) const {
    if (!s_ || k >= s_->outputs.size())
        throw std::out_of_range("plan: output " + std::to_string(k) + " of " + std::to_string(s_ ? s_->outputs.size() : 0));
    return s_->outputs[k].value();
}

size_t Plan::outputs() const { return s_ ? s_->outputs.size() : 0; }
size_t Plan::steps() const { return s_ ? s_->steps.size() : 0; }
size_t Plan::fused_steps() const { return s_ ? s_->fused_steps : 0; }

Captured::Captured(Plan::Function fn, std::vector<Var> inputs, PlanOptions options)
    : fn_(std::move(fn)), inputs_(std::move(inputs)), options_(options) {
    plan_ = Plan::record(fn_, inputs_, options_);
    recordings_ = 1;
}

const Plan& Captured::run(const std::vector<const Tensor*>& values) {
    if (!plan_.same_shapes(values)) {
        if (values.size() != inputs_.size())
            throw std::invalid_argument("capture: " + std::to_string(values.size()) + " values for " + std::to_string(inputs_.size()) + " inputs");
        for (size_t k = 0; k < values.size(); ++k)
            inputs_[k] = inputs_[k].requires_grad() ? variable(*values[k]) : constant(*values[k]);
        plan_ = Plan::record(fn_, inputs_, options_);
        ++recordings_;
    }
    plan_.run(values);
    return plan_;
}

}  // namespace awd
