// test_ops.cpp: every primitive's first and second derivatives against finite differences.
//
// Each case packs its inputs into one flat theta (unpacked with slice + reshape, so those two
// are exercised everywhere), applies the op and reduces the result y to the scalar
// sum(C * y) + sum(D * y^2) with random C, D: the gradient then involves the op's Jacobian,
// and the Hessian both its second derivative and its Jacobian squared.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <tuple>

#include "autodiff/finite_differences.h"

using namespace awd;

namespace {

struct Input {
    int rows, cols;
    double lo = -1.0, hi = 1.0;  // range of the random values (keeps log, div away from poles)
};

struct OpCase {
    const char* name;
    std::vector<Input> inputs;
    std::function<Var(const std::vector<Var>&)> apply;
};

struct Measured {
    double gradient_error, hessian_error, symmetry;
};

Measured measure(const OpCase& c, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<Tensor> parts;
    int p = 0;
    for (const Input& in : c.inputs)
        parts.push_back(random_tensor(in.rows, in.cols, rng, in.lo, in.hi)), p += in.rows * in.cols;
    Tensor theta(p, 1);
    int at = 0;
    for (const Tensor& t : parts)
        for (double v : t.data) theta[at++] = v;

    auto unpack = [&c](const Var& th) {
        std::vector<Var> xs;
        int offset = 0;
        for (const Input& in : c.inputs) {
            xs.push_back(reshape(slice(th, offset, 0, in.rows * in.cols, 1), in.rows, in.cols));
            offset += in.rows * in.cols;
        }
        return xs;
    };
    Tensor out = c.apply(unpack(constant(theta))).value();
    const Tensor C = random_tensor(out.rows, out.cols, rng), D = random_tensor(out.rows, out.cols, rng);
    ScalarFunction f = [&](const Var& th) {
        Var y = c.apply(unpack(th));
        return sum(constant(C) * y) + sum(constant(D) * square(y));
    };
    const Tensor H = hessian(f, theta);
    return {difference_against(gradient(f, theta), central_difference_gradient(f, theta), 1e-300),
            difference_against(H, central_difference_hessian(f, theta), 1e-3), symmetry_residual(H)};
}

const Input positive{3, 4, 0.5, 2.0};
const Input away_from_zero{3, 4, 0.05, 1.0};  // relu and step: no kink within the FD step

std::vector<OpCase> all_ops() {
    using V = std::vector<Var>;
    return {
        {"add", {{3, 4}, {3, 4}}, [](const V& x) { return x[0] + x[1]; }},
        {"add row broadcast", {{3, 4}, {1, 4}}, [](const V& x) { return x[0] + x[1]; }},
        {"add column broadcast", {{3, 1}, {3, 4}}, [](const V& x) { return x[0] + x[1]; }},
        {"sub scalar broadcast", {{3, 4}, {1, 1}}, [](const V& x) { return x[0] - x[1]; }},
        {"mul", {{3, 4}, {3, 4}}, [](const V& x) { return x[0] * x[1]; }},
        {"mul row broadcast", {{1, 4}, {3, 4}}, [](const V& x) { return x[0] * x[1]; }},
        {"div", {{3, 4}, positive}, [](const V& x) { return x[0] / x[1]; }},
        {"div column broadcast", {{3, 4}, {3, 1, 0.5, 2.0}}, [](const V& x) { return x[0] / x[1]; }},
        {"neg", {{3, 4}}, [](const V& x) { return -x[0]; }},
        {"scalar ops",
         {positive},
         [](const V& x) { return (2.0 + x[0] * 1.5 - 0.25) / 3.0 + 1.0 / x[0] + (1.0 - x[0]); }},
        {"matmul", {{3, 4}, {4, 2}}, [](const V& x) { return matmul(x[0], x[1]); }},
        {"matmul A^T B", {{4, 3}, {4, 2}}, [](const V& x) { return matmul(x[0], x[1], true, false); }},
        {"matmul A B^T", {{3, 4}, {2, 4}}, [](const V& x) { return matmul(x[0], x[1], false, true); }},
        {"matmul A^T B^T", {{4, 3}, {2, 4}}, [](const V& x) { return matmul(x[0], x[1], true, true); }},
        {"exp", {{3, 4}}, [](const V& x) { return exp(x[0]); }},
        {"log", {positive}, [](const V& x) { return log(x[0]); }},
        {"tanh", {{3, 4, -2, 2}}, [](const V& x) { return tanh(x[0]); }},
        {"sigmoid", {{3, 4, -3, 3}}, [](const V& x) { return sigmoid(x[0]); }},
        {"relu", {away_from_zero, {3, 4, -1.0, -0.05}}, [](const V& x) { return relu(x[0]) + relu(x[1]); }},
        {"step", {away_from_zero}, [](const V& x) { return step(x[0]) * x[0]; }},
        {"softplus", {{3, 4, -3, 3}}, [](const V& x) { return softplus(x[0]); }},
        {"square", {{3, 4}}, [](const V& x) { return square(x[0]); }},
        {"sum all", {{3, 4}}, [](const V& x) { return sum(x[0]); }},
        {"sum axis 0", {{3, 4}}, [](const V& x) { return sum(x[0], 0); }},
        {"sum axis 1", {{3, 4}}, [](const V& x) { return sum(x[0], 1); }},
        {"mean all", {{3, 4}}, [](const V& x) { return mean(x[0]); }},
        {"mean axis 0", {{3, 4}}, [](const V& x) { return mean(x[0], 0); }},
        {"mean axis 1", {{3, 4}}, [](const V& x) { return mean(x[0], 1); }},
        {"broadcast_to",
         {{1, 4}, {3, 1}},
         [](const V& x) { return broadcast_to(x[0], 3, 4) * broadcast_to(x[1], 3, 4); }},
        {"transpose", {{3, 4}}, [](const V& x) { return transpose(x[0]); }},
        {"reshape", {{3, 4}}, [](const V& x) { return reshape(x[0], 2, 6); }},
        {"slice", {{3, 4}}, [](const V& x) { return slice(x[0], 1, 1, 2, 3); }},
        {"pad", {{2, 3}}, [](const V& x) { return pad(x[0], 4, 5, 1, 2); }},
        {"log_softmax", {{3, 4, -2, 2}}, [](const V& x) { return log_softmax(x[0]); }},
        {"cross_entropy",
         {{5, 4, -2, 2}},
         [](const V& x) {
             return cross_entropy(x[0], {0, 3, 1, 1, 2});
         }},
        {"mse", {{3, 4}, {3, 4}}, [](const V& x) { return mse(x[0], x[1]); }},
        {"sqrt", {positive}, [](const V& x) { return sqrt(x[0]); }},
        {"abs", {away_from_zero, {3, 4, -1.0, -0.05}}, [](const V& x) { return abs(x[0]) * abs(x[1]); }},
        {"pow 2.5", {positive}, [](const V& x) { return pow(x[0], 2.5); }},
        {"pow -1.5", {positive}, [](const V& x) { return pow(x[0], -1.5); }},
        {"pow 3 of any sign", {{3, 4}}, [](const V& x) { return pow(x[0], 3.0); }},
        {"sin", {{3, 4, -3, 3}}, [](const V& x) { return sin(x[0]); }},
        {"cos", {{3, 4, -3, 3}}, [](const V& x) { return cos(x[0]); }},
        // a > b by at least 0.1 everywhere, so no tie lies within the finite-difference step
        {"maximum",
         {{3, 4, 0.6, 1.0}, {3, 4, -1.0, 0.5}},
         [](const V& x) { return maximum(x[0], x[1]) * maximum(x[1], x[0]); }},
        {"minimum",
         {{3, 4, 0.6, 1.0}, {1, 4, -1.0, 0.5}},
         [](const V& x) { return minimum(x[0], x[1]) * minimum(x[1], x[0]); }},
        {"concat rows", {{2, 3}, {4, 3}}, [](const V& x) { return concat(x[0], x[1], 0); }},
        {"concat columns", {{3, 2}, {3, 4}}, [](const V& x) { return concat(x[0], x[1], 1) * concat(x[1], x[0], 1); }},
        {"gather_rows",
         {{4, 3}},
         [](const V& x) {
             return gather_rows(x[0], {2, 0, 2, 3, 2});
         }},
        {"view", {{12, 1}}, [](const V& x) { return view(x[0], 2, 3, 2) * view(x[0], 5, 3, 2); }},
        {"softmax", {{3, 4, -2, 2}}, [](const V& x) { return softmax(x[0]); }},
        {"linear", {{5, 3}, {4, 3}, {1, 4}}, [](const V& x) { return linear(x[0], x[1], x[2]); }},
        {"linear without bias", {{5, 3}, {4, 3}}, [](const V& x) { return linear(x[0], x[1]); }},
        // the Hessian of phi' needs the third derivative, the deepest the table goes
        {"activation_derivative tanh, sigmoid, softplus",
         {{3, 4, -2, 2}},
         [](const V& x) {
             return activation_derivative(Activation::Tanh, 1, x[0]) *
                 activation_derivative(Activation::Sigmoid, 1, x[0]) +
                 activation_derivative(Activation::Softplus, 1, x[0]);
         }},
    };
}

}  // namespace

TEST_CASE("every op: gradient and Hessian against finite differences, Hessian symmetric") {
    for (const OpCase& c : all_ops()) {
        const std::string name = c.name;
        CAPTURE(name);
        const Measured m = measure(c, 7);
        CHECK(m.gradient_error <= 1e-7);
        CHECK(m.hessian_error <= 1e-8);  // central differences err by O(h^2) ~ 1e-10 here
        CHECK(m.symmetry <= 1e-15);
    }
}

TEST_CASE("new ops against closed forms: values and first and second derivatives") {
    const Tensor x(1, 3, {0.3, -0.7, 1.9});
    auto d = [&](ScalarFunction f) { return std::pair{gradient(f, x), hessian(f, x)}; };
    {  // sqrt: 1/(2 sqrt x), -1/(4 x^1.5)
        const Tensor xp(1, 3, {0.3, 0.7, 1.9});
        const Tensor g = gradient([](const Var&t) { return sum(sqrt(t)); }, xp),
                     H = hessian([](const Var&t) { return sum(sqrt(t)); }, xp);
        for (int k = 0; k < 3; ++k) {
            CHECK(std::fabs(g[k] - 0.5 / std::sqrt(xp[k])) <= 1e-15);
            CHECK(std::fabs(H(k, k) + 0.25 / (xp[k] * std::sqrt(xp[k]))) <= 1e-14);
        }
    }
    auto [g_sin, H_sin] = d([](const Var& t) { return sum(sin(t)); });
    auto [g_cos, H_cos] = d([](const Var& t) { return sum(cos(t)); });
    auto [g_pow, H_pow] = d([](const Var& t) { return sum(pow(t, 3.0)); });
    auto [g_abs, H_abs] = d([](const Var& t) { return sum(abs(t)); });
    for (int k = 0; k < 3; ++k) {
        CHECK(g_sin[k] == std::cos(x[k]));
        CHECK(H_sin(k, k) == -std::sin(x[k]));
        CHECK(g_cos[k] == -std::sin(x[k]));
        CHECK(H_cos(k, k) == -std::cos(x[k]));
        CHECK(std::fabs(g_pow[k] - 3 * x[k] * x[k]) <= 2.3e-16 * 3 * x[k] * x[k]);
        CHECK(std::fabs(H_pow(k, k) - 6 * x[k]) <= 2.3e-16 * std::fabs(6 * x[k]));
        CHECK(g_abs[k] == (x[k] > 0 ? 1.0 : -1.0));
        CHECK(H_abs(k, k) == 0.0);
    }
    // the documented choices at a kink: abs'(0) = 0; a tie of maximum/minimum goes to the first argument
    CHECK(gradient([](const Var& t) { return sum(abs(t)); }, Tensor(1, 1, 0.0))[0] == 0.0);
    const Tensor tie(2, 1, {0.5, 0.5});
    const Tensor gmax =
        gradient([](const Var& t) { return sum(maximum(slice(t, 0, 0, 1, 1), slice(t, 1, 0, 1, 1))); }, tie);
    CHECK(gmax[0] == 1.0);
    CHECK(gmax[1] == 0.0);
    const Tensor gmin =
        gradient([](const Var& t) { return sum(minimum(slice(t, 1, 0, 1, 1), slice(t, 0, 0, 1, 1))); }, tie);
    CHECK(gmin[1] == 1.0);
    CHECK(gmin[0] == 0.0);
    // sqrt at 0: the derivative is infinite, and grad says so rather than returning it
    CHECK_THROWS_WITH_AS(gradient([](const Var& t) { return sum(sqrt(t)); }, Tensor(1, 1, 0.0)),
                         doctest::Contains("non-finite"), NonFiniteError);
    // gather_rows and concat: values
    const Var m = constant(Tensor(3, 2, {1, 2, 3, 4, 5, 6}));
    CHECK(gather_rows(m, {2, 2, 0}).value().data == std::vector<double>{5, 6, 5, 6, 1, 2});
    CHECK(concat(m, m, 1).value().data == std::vector<double>{1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6});
    CHECK(concat(m, m, 0).value().rows == 6);
    CHECK_THROWS_WITH_AS(gather_rows(m, {3}), doctest::Contains("row 3 (entry 0) is out of range"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(activation_derivative(Activation::Tanh, 4, m),
                         doctest::Contains("order 4 of tanh is not in the table"), std::invalid_argument);
}

TEST_CASE("fused primitives equal their unfused compositions in value, gradient and Hessian (<= 1e-13)") {
    std::mt19937_64 rng(5);
    const Tensor theta = random_tensor(5 * 3 + 4 * 3 + 4, 1, rng, -1.5, 1.5);
    const std::vector<int> labels = {0, 3, 1, 1, 2};
    auto parts = [](const Var& t) {
        return std::tuple{reshape(slice(t, 0, 0, 15, 1), 5, 3), reshape(slice(t, 15, 0, 12, 1), 4, 3),
                          reshape(slice(t, 27, 0, 4, 1), 1, 4)};
    };
    ScalarFunction fused = [&](const Var& t) {
        auto [x, W, b] = parts(t);
        return cross_entropy(linear(x, W, b), labels) + sum(square(softmax(linear(x, W))));
    };
    ScalarFunction unfused = [&](const Var& t) {
        auto [x, W, b] = parts(t);
        Tensor one_hot(5, 4);
        for (int n = 0; n < 5; ++n) one_hot(n, labels[n]) = 1.0;
        const Var z = matmul(x, W, false, true);
        return -sum(constant(one_hot) * log_softmax(z + b)) / 5.0 + sum(square(exp(log_softmax(z))));
    };
    CHECK(std::fabs(value_of(fused, theta) - value_of(unfused, theta)) <= 1e-13 * std::fabs(value_of(unfused, theta)));
    CHECK(relative_difference(gradient(fused, theta), gradient(unfused, theta)) <= 1e-13);
    CHECK(relative_difference(hessian(fused, theta), hessian(unfused, theta)) <= 1e-13);
}

TEST_CASE("relu's second derivative is exactly zero, and so is step's first") {
    std::mt19937_64 rng(3);
    const Tensor x = random_tensor(4, 1, rng);
    ScalarFunction f = [](const Var& t) { return sum(relu(t) * 3.0); };
    CHECK(max_abs(hessian(f, x)) == 0.0);
    ScalarFunction s = [](const Var& t) { return sum(step(t)); };
    CHECK(max_abs(gradient(s, x)) == 0.0);
}

TEST_CASE("hvp agrees with the Hessian times the vector, and block Hessians with the full one") {
    std::mt19937_64 rng(11);
    const Tensor theta = random_tensor(6, 1, rng), v = random_tensor(6, 1, rng);
    ScalarFunction f = [](const Var& t) {
        Var a = reshape(slice(t, 0, 0, 4, 1), 2, 2), b = reshape(slice(t, 4, 0, 2, 1), 2, 1);
        return sum(tanh(matmul(a, b)) * sigmoid(b)) + sum(square(a));
    };
    const Tensor H = hessian(f, theta), Hv = hvp(f, theta, v);
    Tensor reference(6, 1);
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) reference[i] += H(i, j) * v[j];
    CHECK(relative_difference(Hv, reference) <= 1e-15);
    const Tensor block = hessian(f, theta, 2, 5);
    for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) CHECK(block(i, j) == H(2 + i, 2 + j));
}
