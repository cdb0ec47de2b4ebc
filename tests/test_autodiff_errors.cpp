// test_autodiff_errors.cpp: bad input to the autodiff ends in an exception whose message names
// the op and the shapes, never in a crash, a NaN or a silent wrong answer.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "autodiff/autodiff.h"

using namespace awd;

namespace {

// The message of the std::invalid_argument that `f` throws ("" when it throws none).
template <class F>
std::string error_of(F f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("shape mismatches name the op and both shapes") {
    Var a = variable(Tensor(3, 4, 1.0)), b = variable(Tensor(5, 2, 1.0)), c = variable(Tensor(2, 3, 1.0));
    const std::string mm = error_of([&] { matmul(a, b); });
    CHECK(contains(mm, "matmul"));
    CHECK(contains(mm, "(3 x 4)"));
    CHECK(contains(mm, "(5 x 2)"));
    const std::string add = error_of([&] { a + c; });
    CHECK(contains(add, "add((3 x 4), (2 x 3))"));
    CHECK(contains(add, "broadcast"));
    CHECK(contains(error_of([&] { mse(a, c); }), "mse"));
    CHECK(contains(error_of([&] { reshape(a, 5, 2); }), "reshape((3 x 4))"));
    CHECK(contains(error_of([&] { slice(a, 2, 0, 2, 4); }), "slice((3 x 4))"));
    CHECK(contains(error_of([&] { pad(a, 3, 3, 0, 0); }), "pad((3 x 4))"));
    CHECK(contains(error_of([&] { sum(a, 2); }), "axis 2"));
    CHECK(contains(error_of([&] { broadcast_to(a, 6, 4); }), "broadcast_to((3 x 4))"));
}

TEST_CASE("cross_entropy rejects a wrong label count and out-of-range labels") {
    Var z = variable(Tensor(2, 3, 0.5));
    CHECK(contains(error_of([&] { cross_entropy(z, {0, 1, 2}); }), "3 labels for logits (2 x 3)"));
    CHECK(contains(error_of([&] { cross_entropy(z, {0, 3}); }), "label 3 of row 1 is outside [0, 3)"));
    CHECK(contains(error_of([&] { cross_entropy(z, {-1, 0}); }), "label -1"));
}

TEST_CASE("empty tensors are refused") {
    CHECK(contains(error_of([] { variable(Tensor(0, 3)); }), "empty tensor (0 x 3)"));
    CHECK(contains(error_of([] { constant(Tensor()); }), "empty tensor (0 x 0)"));
}

TEST_CASE("grad of a non-scalar output needs a seed of its shape") {
    Var x = variable(Tensor(2, 2, 1.0));
    Var y = x * x;
    CHECK(contains(error_of([&] { grad(y, {x}); }), "output is (2 x 2), not a scalar"));
    CHECK(contains(error_of([&] { grad(y, {x}, false, constant(Tensor(1, 2, 1.0))); }),
                   "seed (1 x 2) does not match output (2 x 2)"));
    const Tensor g = grad(y, {x}, false, constant(Tensor(2, 2, 1.0)))[0].value();  // with a seed: 2x
    CHECK(g[0] == 2.0);
}

TEST_CASE("grad with respect to an input the output does not depend on is zero (documented)") {
    Var x = variable(Tensor(2, 3, 1.0)), unused = variable(Tensor(4, 1, 1.0)), data = constant(Tensor(2, 3, 1.0));
    std::vector<Var> g = grad(sum(x * x), {unused, data});
    CHECK(g[0].value().same_shape(unused.value()));
    CHECK(max_abs(g[0].value()) == 0.0);
    CHECK(max_abs(g[1].value()) == 0.0);
}

TEST_CASE("non-finite values are refused where they enter or arise") {
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    CHECK(contains(error_of([&] { variable(Tensor(1, 2, {1.0, nan})); }), "non-finite entry nan at [0,1]"));
    CHECK(contains(error_of([&] { constant(Tensor(1, 2, {inf, 1.0})); }), "non-finite entry inf at [0,0]"));
    Var x = variable(Tensor(2, 2, {1.0, -1.0, 2.0, 0.0}));
    const std::string log_error = error_of([&] { log(x); });
    CHECK(contains(log_error, "log((2 x 2))"));
    CHECK(contains(log_error, "at [0,1]"));
    CHECK(contains(error_of([&] { exp(x * 1000.0); }), "exp((2 x 2))"));
    CHECK(contains(error_of([&] { x / x; }), "div((2 x 2), (2 x 2))"));
}

TEST_CASE("hessian and hvp check their arguments") {
    ScalarFunction not_scalar = [](const Var& t) { return t * 2.0; };
    ScalarFunction fine = [](const Var& t) { return sum(square(t)); };
    CHECK(contains(error_of([&] { hessian(not_scalar, Tensor(3, 1, 1.0)); }), "returns (3 x 1), not a scalar"));
    CHECK(contains(error_of([&] { hessian(fine, Tensor(3, 1, 1.0), 2, 5); }), "block [2, 5)"));
    CHECK(contains(error_of([&] { hvp(fine, Tensor(3, 1, 1.0), Tensor(2, 1, 1.0)); }),
                   "direction (2 x 1) does not match theta (3 x 1)"));
}
