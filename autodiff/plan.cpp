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

// Entries per block of a fused run: 4 KB per scratch slot (the two-valley plan's 11 slots: about L1's size)
// (256 and 1024 entries measured within 5% of this).
constexpr size_t kBlock = 512;

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
        if (s.kind == K::Evaluate && !reads_entrywise(node)) return 0;
        const size_t n = node.value.size();
        for (const Var& x : node.in) {
            const Tensor& v = x.value();
            if (!v.same_shape(node.value) && v.size() != 1) return 0;  // Wins: (1, C) with (N, 1)
            ranges.push_back({v.data.data(), v.size(), false});
        }
        ranges.push_back({node.value.data.data(), n, true});
        return n;
    }
    if (s.kind == K::Copy || s.kind == K::Accumulate) {
        ranges.push_back({s.src, s.n, false});
        if (s.kind == K::Accumulate) ranges.push_back({s.dst, s.n, false});
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
    why << "grad: the gradient with respect to input " << s.input << " " << g.shape() << " has non-finite entry "
        << s.src[k] << " at [" << k / g.cols << "," << k % g.cols << "] (found by a plan's replay)";
    throw NonFiniteError(why.str(), s.input, k);
}

size_t first_non_finite(const double* v, size_t n) {
    size_t k = 0;
    while (k < n && std::isfinite(v[k])) ++k;
    return k;
}

// The memory every step reads and writes, whatever its kind: what decides which buffers of a
// fused block no one else sees.
void touched_ranges(const TapeStep& s, std::vector<Range>& ranges) {
    using K = TapeStep::Kind;
    if (elementwise_ranges(s, ranges) > 0) return;
    ranges.clear();
    switch (s.kind) {
        case K::Evaluate:
        case K::Wins: {
            for (const Var& x : s.node->in) ranges.push_back({x.value().data.data(), x.value().size(), false});
            const Tensor& y = s.node->value;
            if (s.node->op != Op::View && s.node->op != Op::Leaf) ranges.push_back({y.data.data(), y.size(), true});
            return;
        }
        case K::GemmWindow:
            ranges.push_back({s.g->value.data.data(), s.g->value.size(), false});
            ranges.push_back({s.x->value.data.data(), s.x->value.size(), false});
            ranges.push_back({s.dst, (size_t)s.rows * s.cols, false});
            ranges.push_back({s.dst, (size_t)s.rows * s.cols, true});
            return;
        case K::Check: ranges.push_back({s.src, s.n, false}); return;
        default: return;  // Copy, Accumulate, Zero: always elementwise (above)
    }
}

// One step over all its entries.
void run_step(const TapeStep& s) {
    using K = TapeStep::Kind;
    switch (s.kind) {
        case K::Evaluate: {
            Node& node = *s.node;
            evaluate(node);
            const double* v = node.value.data.data();
            if (s.scan && !all_finite(v, node.value.size())) {
                const size_t k = first_non_finite(v, node.value.size());
                throw_non_finite(node, k, v[k]);
            }
            return;
        }
        case K::Wins: evaluate_wins(*s.node); return;
        case K::Copy: std::copy(s.src, s.src + s.n, s.dst); return;
        case K::Accumulate:
            for (size_t k = 0; k < s.n; ++k) s.dst[k] += s.src[k];
            return;
        case K::Zero: std::fill(s.dst, s.dst + s.n, 0.0); return;
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

// An operand of a step inside a fused block: a buffer read at [begin, end) of the block, or its
// one entry, or a slot of the block's scratch when no step outside the block sees the buffer.
struct Operand {
    double* p = nullptr;
    int slot = -1;
    bool one = false;
};

struct Micro {
    const TapeStep* step;
    Operand a, b, y;
};

size_t step_size(const TapeStep& s) {
    using K = TapeStep::Kind;
    if (s.kind == K::Evaluate || s.kind == K::Wins) return s.node->value.size();
    return s.n;
}

// Installs a tape on this thread for the lifetime of the guard.
struct Recording {
    explicit Recording(Tape& t) {
        if (g_tape)
            throw std::logic_error(
                "Plan::record: a plan is already being recorded on this thread (fn may not record another)");
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
        std::vector<Micro> micro;
    };
    std::vector<Block> blocks;
    std::vector<double> scratch;  // kBlock entries per slot
    size_t local_buffers = 0;     // intermediates that live in scratch only
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
                throw std::invalid_argument(
                    "plan: input " + std::to_string(k) +
                    " was freed after recording (a plan reads its inputs in place: keep them alive, or record again)");
            const Tensor& v = node->value;
            if (v.data.data() != in.data || v.rows != in.rows || v.cols != in.cols)
                throw std::invalid_argument("plan: input " + std::to_string(k) + " is now " + v.shape() +
                                            " at another address; it was (" + std::to_string(in.rows) + " x " +
                                            std::to_string(in.cols) +
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
                blocks.push_back({i, i + 1, n, n > 1, {}});
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

    // Which buffers written inside a fused block no step outside it touches (and no output is):
    // they live in scratch slots of kBlock entries, reused once their last reader is done.
    void assign_scratch(const std::vector<Var>& outputs_read) {
        std::vector<std::vector<Range>> touched(steps.size());
        for (size_t i = 0; i < steps.size(); ++i) touched_ranges(steps[i], touched[i]);
        std::vector<Range> kept;
        for (const Var& v : outputs_read) kept.push_back({v.value().data.data(), v.value().size(), false});
        size_t slots = 0;
        for (Block& b : blocks) {
            if (!b.fused) continue;
            struct Local {
                double* begin;
                size_t last;
                int slot;
            };
            std::vector<Local> locals;
            auto overlaps = [](const Range& r, const double* p, size_t n) {
                return r.begin < p + n && p < r.begin + r.n;
            };
            for (size_t i = b.first; i < b.last; ++i) {
                const TapeStep& s = steps[i];
                if (s.kind == TapeStep::Kind::Accumulate) continue;  // reads what was there before
                double* p = s.kind == TapeStep::Kind::Evaluate || s.kind == TapeStep::Kind::Wins
                    ? s.node->value.data.data()
                    : s.dst;
                bool local =
                    std::none_of(kept.begin(), kept.end(), [&](const Range& r) { return overlaps(r, p, b.n); });
                size_t last = i;
                for (size_t j = 0; local && j < steps.size(); ++j) {
                    if (j == i) continue;
                    for (const Range& r : touched[j]) {
                        if (!overlaps(r, p, b.n)) continue;
                        if (j < b.first || j >= b.last || j < i || r.begin != p || r.n != b.n) local = false;
                        last = std::max(last, j);
                    }
                }
                if (local) locals.push_back({p, last, -1});
            }
            // Slots in step order; a slot is free again after the step that reads it last.
            std::vector<int> free_slots;
            int used = 0;
            for (size_t i = b.first; i < b.last; ++i) {
                const TapeStep& s = steps[i];
                double* p = s.kind == TapeStep::Kind::Evaluate || s.kind == TapeStep::Kind::Wins
                    ? s.node->value.data.data()
                    : s.dst;
                for (Local& l : locals)
                    if (l.begin == p && l.slot < 0 && s.kind != TapeStep::Kind::Accumulate) {
                        if (free_slots.empty()) free_slots.push_back(used++);
                        l.slot = free_slots.back(), free_slots.pop_back();
                    }
                for (Local& l : locals)
                    if (l.slot >= 0 && l.last == i) free_slots.push_back(l.slot), l.slot = -2 - l.slot;  // retired
                auto operand = [&](const double* q, size_t n) {
                    Operand o{const_cast<double*>(q), -1, n == 1};
                    for (const Local& l : locals)
                        if (l.begin == q && n == b.n && (l.slot >= 0 || (l.slot <= -2 && l.last == i)))
                            o.slot = l.slot >= 0 ? l.slot : -2 - l.slot;
                    return o;
                };
                Micro m{&s, {}, {}, {}};
                if (s.kind == TapeStep::Kind::Evaluate || s.kind == TapeStep::Kind::Wins) {
                    const Tensor& a = s.node->in[0].value();
                    m.a = operand(a.data.data(), a.size());
                    if (s.node->in.size() > 1)
                        m.b = operand(s.node->in[1].value().data.data(), s.node->in[1].value().size());
                    m.y = operand(s.node->value.data.data(), b.n);
                } else {
                    if (s.src) m.a = operand(s.src, b.n);
                    if (s.kind == TapeStep::Kind::Accumulate) m.b = operand(s.dst, b.n);
                    m.y = operand(s.dst, b.n);
                }
                b.micro.push_back(m);
            }
            local_buffers += locals.size();
            slots = std::max(slots, (size_t)used);
        }
        scratch.assign(slots * kBlock, 0.0);
    }

    void replay_fused(const Block& b) {
        double* slot0 = scratch.data();
        for (size_t begin = 0; begin < b.n; begin += kBlock) {
            const size_t count = std::min(kBlock, b.n - begin);
            auto at = [&](const Operand& o) {
                return o.slot >= 0 ? slot0 + (size_t)o.slot * kBlock : o.one ? o.p : o.p + begin;
            };
            for (const Micro& m : b.micro) {
                const TapeStep& s = *m.step;
                double* y = at(m.y);
                switch (s.kind) {
                    case TapeStep::Kind::Evaluate:
                        evaluate_block(*s.node, at(m.a), m.a.one, m.b.p ? at(m.b) : nullptr, m.b.one, y, count);
                        if (s.scan && !all_finite(y, count)) {
                            const size_t i = first_non_finite(y, count);
                            throw_non_finite(*s.node, begin + i, y[i]);
                        }
                        break;
                    case TapeStep::Kind::Wins:
                        evaluate_wins_block(s.flag, at(m.a), m.a.one, at(m.b), m.b.one, y, count);
                        break;
                    case TapeStep::Kind::Copy: std::copy_n(at(m.a), count, y); break;
                    case TapeStep::Kind::Accumulate: {
                        const double* a = at(m.a);
                        for (size_t i = 0; i < count; ++i) y[i] += a[i];
                        break;
                    }
                    default: std::fill_n(y, count, 0.0);  // Zero
                }
            }
        }
    }

    void replay() {
        for (const Block& b : blocks)
            if (b.fused) replay_fused(b);
            else run_step(steps[b.first]);
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
            throw std::invalid_argument("Plan::record: input " + std::to_string(k) + " is made by " +
                                        op_name(inputs[k].node()->op) +
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
        if (!outputs[k])
            throw std::invalid_argument("Plan::record: output " + std::to_string(k) +
                                        " of the function is an empty Var");
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
        const size_t count = n->in.size();
        for (size_t k = 0; k < count; ++k) in[k] = stand_in(n->in[k]);
        n->in = count == 3 ? Inputs(in[0], in[1], in[2])
            : count == 2   ? Inputs(in[0], in[1])
            : count == 1   ? Inputs(in[0])
                           : Inputs();
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
    s.assign_scratch(s.outputs);
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
        throw std::invalid_argument("plan: " + std::to_string(values.size()) + " values for " +
                                    std::to_string(s_->inputs.size()) + " inputs");
    s_->check_inputs();
    for (size_t k = 0; k < values.size(); ++k) {
        const State::Input& in = s_->inputs[k];
        if (values[k]->rows != in.rows || values[k]->cols != in.cols)
            throw std::invalid_argument("plan: value " + std::to_string(k) + " is " + shape_of(*values[k]) +
                                        ", the plan was recorded for (" + std::to_string(in.rows) + " x " +
                                        std::to_string(in.cols) + "): record again (Captured does)");
        if (values[k]->data.data() != in.data)
            std::copy(values[k]->data.begin(), values[k]->data.end(), const_cast<double*>(in.data));
    }
    s_->replay();
}

const Tensor& Plan::output(size_t k) const {
    if (!s_ || k >= s_->outputs.size())
        throw std::out_of_range("plan: output " + std::to_string(k) + " of " +
                                std::to_string(s_ ? s_->outputs.size() : 0));
    return s_->outputs[k].value();
}

std::string Plan::describe() const {
    static const char* kinds[] = {"", "wins", "copy", "accumulate", "zero", "gemm into window", "check"};
    std::ostringstream out;
    if (!s_) return "(not recorded)\n";
    for (size_t b = 0; b < s_->blocks.size(); ++b)
        for (size_t i = s_->blocks[b].first; i < s_->blocks[b].last; ++i) {
            const TapeStep& t = s_->steps[i];
            out << (s_->blocks[b].fused ? "fused " + std::to_string(b) : std::string("      ")) << "  "
                << (t.kind == TapeStep::Kind::Evaluate ? op_name(t.node->op) : kinds[(int)t.kind]) << " "
                << step_size(t) << "\n";
            out << s_->steps.size() << " steps, " << s_->fused_steps << " in fused blocks, " << s_->local_buffers
                << " intermediates in " << s_->scratch.size() / kBlock << " scratch slots of " << kBlock
                << " entries\n";
        }
    return out.str();
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
            throw std::invalid_argument("capture: " + std::to_string(values.size()) + " values for " +
                                        std::to_string(inputs_.size()) + " inputs");
        for (size_t k = 0; k < values.size(); ++k)
            inputs_[k] = inputs_[k].requires_grad() ? variable(*values[k]) : constant(*values[k]);
        plan_ = Plan::record(fn_, inputs_, options_);
        ++recordings_;
    }
    plan_.run(values);
    return plan_;
}

}  // namespace awd
