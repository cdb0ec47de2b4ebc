// plan.h: record a computation on Vars once, then replay it on new values with no graph built
// and nothing allocated: the same bytes as the eager call, at the cost of the arithmetic alone.
//
//   auto step = capture(loss_and_gradient, {variable(theta), constant(data)});
//   for (...) {
//       const Plan& p = step.run({&theta, &data});   // p.output(k): the k-th Var fn returned
//   }
//
// Recording runs fn(inputs) eagerly once and writes down, in order, every op it made: the forward
// ops, the backward ops of each grad() it called (with or without create_graph, so Hessians too)
// and the in-place work of a backward pass without a graph. A replay redoes exactly that work on
// the buffers of the recorded nodes, with the inputs' current values.
//
// When is a recording valid for other values? When fn does the same ops whatever the values are:
// no `if` on a value, no loop whose length depends on one, no labels or row indices chosen from
// the data (they are frozen at recording: cross_entropy's labels, gather_rows' rows). Constants
// made inside fn (scalars, seeds, a constant(t)) keep their recorded values; a view made inside
// fn (constant_view, variable_view, a model's theta) is read at replay, so its tensor must stay
// alive and in place. The comparisons inside maximum and minimum's derivatives are recomputed.
// Ties and kinks are fine: relu, step, abs and max are ops, not control flow.
//
// Checks: a replay refuses a non-finite result where the eager op would (NonFiniteError naming
// the op), refuses inputs that were freed or reshaped since recording, and values of the wrong
// shape. Captured re-records for new shapes instead of refusing.
//
// Fusion: runs of consecutive elementwise steps of one size (ops whose operands have the result's
// shape or one entry, and the backward pass's copies and sums) are done a block of entries at a
// time, every step of the run on one block before the next block: the intermediates stay in the
// first-level cache instead of one pass over memory per op. Each entry sees the same operations
// in the same order as unfused, so the bytes are the same.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/autodiff.h"

namespace awd {

struct TapeStep;

struct PlanOptions {
    bool fuse = true;  // off: every step over all its entries, in order (for tests and measurements)
};

class Plan {
public:
    using Function = std::function<std::vector<Var>(const std::vector<Var>& inputs)>;

    Plan();
    ~Plan();
    Plan(Plan&&) noexcept;
    Plan& operator=(Plan&&) noexcept;

    // Runs fn(inputs) once and records it. Inputs are leaves (variable, constant or their views)
    // the caller keeps alive; the plan holds them weakly and reads them in place at each replay.
    static Plan record(const Function& fn, const std::vector<Var>& inputs, PlanOptions options = {});

    void run();                                          // replays on the inputs' current values
    void run(const std::vector<const Tensor*>& values);  // copies values[k] into input k, then replays

    const Tensor& output(size_t k) const;
    size_t outputs() const;
    size_t steps() const;        // recorded steps (ops, copies, sums, checks)
    size_t fused_steps() const;  // of which run inside fused blocks
    bool same_shapes(const std::vector<const Tensor*>& values) const;
    std::string describe() const;  // one line per step: what it does, its size, and its fused block

private:
    struct State;
    std::unique_ptr<State> s_;
};

// fn recorded for the shapes of its inputs, and again whenever run() is given other shapes.
class Captured {
public:
    // `inputs` are example leaves: their kinds (variable or constant) are kept for re-recording.
    Captured(Plan::Function fn, std::vector<Var> inputs, PlanOptions options = {});
    const Plan& run(const std::vector<const Tensor*>& values);
    const Plan& plan() const { return plan_; }
    int recordings() const { return recordings_; }

private:
    Plan::Function fn_;
    std::vector<Var> inputs_;
    PlanOptions options_;
    Plan plan_;
    int recordings_ = 0;
};

inline Captured capture(Plan::Function fn, std::vector<Var> inputs, PlanOptions options = {}) {
    return Captured(std::move(fn), std::move(inputs), options);
}

}  // namespace awd
