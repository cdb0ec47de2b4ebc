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
        Wins,        // node->value = 1 where in[0] wins against in[1] (>= when larger, else <=), else 0
        Copy,        // dst[k] = src[k], k < n
        Accumulate,  // dst[k] += src[k]
        Zero,        // dst[k] = 0
        GemmWindow,  // (rows, cols) at dst = g^T x (+ what is there when add)
        Check,       // grad() refuses a non-finite entry of src[0, n): the gradient for `input`
    };
    Kind kind = Kind::Evaluate;
    bool scan = false;   // Evaluate: refuse a non-finite result, as the eager op does
    bool flag = false;   // Wins: larger; GemmWindow: add
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
// The same for the entries [begin, end) only, for an elementwise op whose inputs have n's shape
// or one entry; false (nothing done) for any other op.
bool evaluate_entries(Node& n, size_t begin, size_t end);
bool is_elementwise(Op op);
// What the comparison constant of maximum/minimum's derivative holds, entries [begin, end).
void evaluate_wins(Node& n, bool larger, size_t begin, size_t end);
// The error an op throws for a non-finite entry k of its result (the eager message).
[[noreturn]] void throw_non_finite(const Node& n, size_t k);

}  // namespace awd
