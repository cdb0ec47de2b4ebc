// tape.h: what the autodiff writes down while a plan is being recorded (plan.h), and the
// forward kernels a replay calls. Internal to autodiff/: a user sees plan.h only.
//
// While a Tape is installed (g_tape), every node made is kept, every op appends one step that
// recomputes its node from its inputs, and grad()'s backward pass without a graph appends the
// in-place work it does outside ops (copies, sums and zeroing of cotangent buffers, the weight
// gradient written into a flat window, the final scan of what it returns). Replaying the steps
// in order on new input values does exactly the arithmetic of the eager call, in the same order.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "autodiff/autodiff.h"

namespace awd {

struct TapeStep {
    enum class Kind : uint8_t {
        Evaluate,    // node->value = its op of node->in (the op's forward kernel)
        Wins,        // node->value = 1 where in[0] wins against in[1] (>= when flag, else <=), else 0
        Copy,        // dst[k] = src[k], k < n
        Accumulate,  // dst[k] += src[k]
        Zero,        // dst[k] = 0
        GemmWindow,  // (rows, cols) at dst = g^T x (+ what is there when add)
        Check,       // grad() refuses a non-finite entry of src[0, n): the gradient for `input`
    };
    Kind kind = Kind::Evaluate;
    bool scan = false;  // Evaluate: refuse a non-finite result, as the eager op does
    bool flag = false;  // Wins: larger; GemmWindow: add
    Node* node = nullptr;
    const double* src = nullptr;
    double* dst = nullptr;
    size_t n = 0;
    Node *g = nullptr, *x = nullptr;  // GemmWindow
    int rows = 0, cols = 0;           // GemmWindow
    int input = -1;                   // Check
};

struct Tape {
    std::vector<std::shared_ptr<Node>> nodes;  // every node made while recording, kept alive by the plan
    std::vector<TapeStep> steps;
};

// The tape being recorded on this thread, or null (the normal, eager case).
extern thread_local Tape* g_tape;

// Recomputes n.value (already of its shape) from n.in, with the op's forward kernel.
void evaluate(Node& n);
void evaluate_wins(Node& n);  // the comparison constant of maximum/minimum's derivative (attr[0]: larger)
bool is_elementwise(Op op);
// An elementwise op whose operands have its shape or one entry: entry k reads entry k (or 0).
bool reads_entrywise(const Node& n);
// count entries of such an op: y[i] = op(a[i], b[i]), an operand marked `one` read at [0] for
// every i; b is ignored by a unary op. What evaluate() computes, a block at a time.
void evaluate_block(const Node& n, const double* a, bool a_one, const double* b, bool b_one, double* y, size_t count);
void evaluate_wins_block(bool larger, const double* a, bool a_one, const double* b, bool b_one, double* y,
                         size_t count);
// The error an op throws for a non-finite entry k (value v) of its result (the eager message).
[[noreturn]] void throw_non_finite(const Node& n, size_t k, double v);

}  // namespace awd
