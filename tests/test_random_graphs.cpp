// test_random_graphs.cpp: property tests on seeded random expression graphs.
//
// A random program (a list of op applications whose operands are chosen by shape only, never
// by value, so the same graph is rebuilt at every perturbed theta) is drawn from the supported
// ops; its scalar output's gradient and Hessian are checked against finite differences.
#include <doctest/doctest.h>

#include <cstring>

#include "autodiff/finite_differences.h"
#include "autodiff/plan.h"

using namespace awd;

namespace {

enum class Kind { Unary, Elementwise, MatMul, Reduce, Transpose, LogSoftmax, Broadcast, Slice, Pad, Reshape };
constexpr int kKinds = 10, kUnaries = 8;

struct Instruction {
    Kind kind;
    int a = 0, b = 0;        // operand indices in the value list
    int variant = 0;         // which unary / binary op, transpose flags, axis
    int rows = 0, cols = 0;  // target shape (broadcast, slice, pad, reshape)
    int r0 = 0, c0 = 0;      // offsets (slice, pad)
};

const std::vector<std::pair<int, int>> kLeafShapes = {{3, 4}, {4, 3}, {1, 4}, {3, 1}};

Var unary(int variant, const Var& x) {
    switch (variant) {
        case 0: return tanh(x);
        case 1: return sigmoid(x);
        case 2: return softplus(x);
        case 3: return -x;
        case 4: return exp(tanh(x));          // bounded argument
        case 5: return log(1.0 + square(x));  // positive argument
        case 6: return square(tanh(x));
        default: return relu(x);
    }
}

Var elementwise(int variant, const Var& a, const Var& b) {
    switch (variant) {
        case 0: return a + b;
        case 1: return a - b;
        case 2: return a * b;
        default: return a / (1.0 + square(b));  // denominator >= 1
    }
}

bool broadcasts(std::pair<int, int> p, std::pair<int, int> q) {
    auto ok = [](int x, int y) { return x == y || x == 1 || y == 1; };
    return ok(p.first, q.first) && ok(p.second, q.second);
}

struct Program {
    std::vector<Instruction> code;
    std::vector<std::pair<int, int>> shapes;  // of leaves, then of each instruction's result

    explicit Program(uint64_t seed, int length) : shapes(kLeafShapes) {
        std::mt19937_64 rng(seed);
        auto pick = [&](int n) { return (int)(rng() % (uint64_t)n); };
        while ((int)code.size() < length) {
            Instruction in{(Kind)pick(kKinds)};
            in.a = pick((int)shapes.size());
            auto [r, c] = shapes[in.a];
            std::pair<int, int> out = {r, c};
            switch (in.kind) {
                case Kind::Unary: in.variant = pick(kUnaries); break;
                case Kind::Elementwise: {
                    std::vector<int> partners;
                    for (int k = 0; k < (int)shapes.size(); ++k)
                        if (broadcasts(shapes[in.a], shapes[k])) partners.push_back(k);
                    in.b = partners[pick((int)partners.size())], in.variant = pick(4);
                    out = {std::max(r, shapes[in.b].first), std::max(c, shapes[in.b].second)};
                    break;
                }
                case Kind::MatMul: {
                    const bool ta = pick(2);
                    const int inner = ta ? r : c;
                    std::vector<std::pair<int, int>> partners;  // (index, transpose_b)
                    for (int k = 0; k < (int)shapes.size(); ++k)
                        for (int tb = 0; tb < 2; ++tb)
                            if ((tb ? shapes[k].second : shapes[k].first) == inner) partners.push_back({k, tb});
                    if (partners.empty()) continue;
                    auto [k, tb] = partners[pick((int)partners.size())];
                    in.b = k, in.variant = ta + 2 * tb;
                    out = {ta ? c : r, tb ? shapes[k].first : shapes[k].second};
                    break;
                }
                case Kind::Reduce:
                    in.variant = pick(3) - 1;
                    out = in.variant == -1 ? std::pair{1, 1} : in.variant == 0 ? std::pair{1, c} : std::pair{r, 1};
                    break;
                case Kind::Transpose: out = {c, r}; break;
                case Kind::LogSoftmax:
                    if (c < 2) continue;
                    break;
                case Kind::Broadcast:
                    if (r != 1 && c != 1) continue;
                    in.rows = r == 1 ? 3 : r, in.cols = c == 1 ? 4 : c;
                    out = {in.rows, in.cols};
                    break;
                case Kind::Slice:
                    if (r * c < 2) continue;
                    in.rows = 1 + pick(r), in.cols = 1 + pick(c);
                    if (in.rows * in.cols == r * c) in.rows > 1 ? --in.rows : --in.cols;
                    in.r0 = pick(r - in.rows + 1), in.c0 = pick(c - in.cols + 1);
                    out = {in.rows, in.cols};
                    break;
                case Kind::Pad:
                    in.r0 = pick(2), in.c0 = pick(2), in.rows = r + in.r0 + pick(2), in.cols = c + in.c0 + pick(2);
                    out = {in.rows, in.cols};
                    break;
                case Kind::Reshape:
                    in.rows = c, in.cols = r;  // same count, different layout than transpose
                    out = {in.rows, in.cols};
                    break;
            }
            code.push_back(in);
            shapes.push_back(out);
        }
    }

    std::vector<Var> run(const Var& theta) const {
        std::vector<Var> v;
        int offset = 0;
        for (auto [r, c] : kLeafShapes) v.push_back(reshape(slice(theta, offset, 0, r * c, 1), r, c)), offset += r * c;
        for (const Instruction& in : code) {
            const Var& a = v[in.a];
            switch (in.kind) {
                case Kind::Unary: v.push_back(unary(in.variant, a)); break;
                case Kind::Elementwise: v.push_back(elementwise(in.variant, a, v[in.b])); break;
                case Kind::MatMul: v.push_back(0.5 * matmul(a, v[in.b], in.variant & 1, in.variant & 2)); break;
                case Kind::Reduce: v.push_back(sum(a, in.variant)); break;
                case Kind::Transpose: v.push_back(transpose(a)); break;
                case Kind::LogSoftmax: v.push_back(log_softmax(a)); break;
                case Kind::Broadcast: v.push_back(broadcast_to(a, in.rows, in.cols)); break;
                case Kind::Slice: v.push_back(slice(a, in.r0, in.c0, in.rows, in.cols)); break;
                case Kind::Pad: v.push_back(pad(a, in.rows, in.cols, in.r0, in.c0)); break;
                case Kind::Reshape: v.push_back(reshape(a, in.rows, in.cols)); break;
            }
        }
        return v;
    }
};

}  // namespace

TEST_CASE("random expression graphs: gradients and Hessians against finite differences") {
    int total_parameters = 0;
    for (const auto& [r, c] : kLeafShapes) total_parameters += r * c;
    for (uint64_t seed = 1; seed <= 40; ++seed) {
        CAPTURE(seed);
        const Program program(seed, 12);
        std::mt19937_64 rng(1000 + seed);
        const Tensor theta = random_tensor(total_parameters, 1, rng);
        std::vector<Tensor> weights;  // the output weighs every intermediate result
        for (size_t k = kLeafShapes.size(); k < program.shapes.size(); ++k)
            weights.push_back(random_tensor(program.shapes[k].first, program.shapes[k].second, rng));
        ScalarFunction f = [&](const Var& th) {
            std::vector<Var> v = program.run(th);
            Var out = constant(Tensor::scalar(0.0));
            for (size_t k = 0; k < weights.size(); ++k)
                out = out + sum(constant(weights[k]) * v[kLeafShapes.size() + k]);
            return out;
        };
        const Tensor H = hessian(f, theta);
        CHECK(difference_against(gradient(f, theta), central_difference_gradient(f, theta), 1e-300) <= 1e-7);
        CHECK(difference_against(H, central_difference_hessian(f, theta), 1e-3) <= 1e-8);
        CHECK(symmetry_residual(H) <= 1e-15);
    }
}

TEST_CASE(
    "random expression graphs: a recorded plan replays value, gradient and Hessian rows byte for byte, fused or not") {
    int total_parameters = 0;
    for (const auto& [r, c] : kLeafShapes) total_parameters += r * c;
    for (uint64_t seed = 1; seed <= 40; ++seed) {
        CAPTURE(seed);
        const Program program(seed, 12);
        std::mt19937_64 rng(2000 + seed);
        std::vector<Tensor> weights;
        for (size_t k = kLeafShapes.size(); k < program.shapes.size(); ++k)
            weights.push_back(random_tensor(program.shapes[k].first, program.shapes[k].second, rng));
        // f, its gradient (a graph), and every row of the Hessian (one backward pass each)
        const Plan::Function fn = [&](const std::vector<Var>& in) {
            std::vector<Var> v = program.run(in[0]);
            Var f = constant(Tensor::scalar(0.0));
            for (size_t k = 0; k < weights.size(); ++k) f = f + sum(constant(weights[k]) * v[kLeafShapes.size() + k]);
            const Var g = grad(f, {in[0]}, true)[0];
            std::vector<Var> out{f, g};
            Tensor e(total_parameters, 1);
            for (int i = 0; i < total_parameters; ++i) {
                e[i] = 1.0;
                out.push_back(grad(g, {in[0]}, false, constant(e))[0]);
                e[i] = 0.0;
            }
            return out;
        };
        for (bool fuse : {true, false}) {
            CAPTURE(fuse);
            const Var theta = variable(random_tensor(total_parameters, 1, rng));
            Plan plan = Plan::record(fn, {theta}, {fuse});
            for (int trial = 0; trial < 2; ++trial) {
                const Tensor next = random_tensor(total_parameters, 1, rng);
                plan.run({&next});
                const std::vector<Var> expected = fn({variable(next)});
                REQUIRE(plan.outputs() == expected.size());
                for (size_t k = 0; k < expected.size(); ++k) {
                    const Tensor &got = plan.output(k), &want = expected[k].value();
                    CHECK((got.same_shape(want) &&
                           std::memcmp(got.data.data(), want.data.data(), sizeof(double) * got.size()) == 0));
                }
            }
        }
    }
}
