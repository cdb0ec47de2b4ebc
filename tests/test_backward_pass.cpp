// test_backward_pass.cpp: the machinery under grad() that a wrong shortcut would break silently:
// the matrix-vector and outer-product paths of gemm, products cut across threads, a flat gradient
// assembled from views into an uninitialised buffer, the single scan for NaN/Inf at the end of a
// pass, the pruning of what leads to no input, and long elementwise loops cut across threads.
#include <cblas.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <thread>

#include "autodiff/autodiff.h"
#include "autodiff/parallel.h"
#include "autodiff/product.h"
#include "nn/mlp.h"
#include "nn/random.h"
#include "optim/optimizer.h"

using namespace awd;

namespace {

Tensor random_tensor(int rows, int cols, Rng& rng) {
    Tensor t(rows, cols);
    for (double& v : t.data) v = rng.normal();
    return t;
}

Tensor absolute(Tensor t) {
    for (double& v : t.data) v = std::abs(v);
    return t;
}

// C = alpha op(A) op(B) + beta C0 by the definition, in long double.
Tensor reference_product(const Tensor& A, bool ta, const Tensor& B, bool tb, const Tensor& C0, double alpha,
                         double beta) {
    const int m = ta ? A.cols : A.rows, k = ta ? A.rows : A.cols, n = tb ? B.rows : B.cols;
    Tensor C(m, n);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            long double s = 0;
            for (int l = 0; l < k; ++l) s += (long double)(ta ? A(l, i) : A(i, l)) * (tb ? B(j, l) : B(l, j));
            C(i, j) = (double)(alpha * s + (beta == 0.0 ? 0.0L : (long double)beta * C0(i, j)));
        }
    return C;
}

}  // namespace

TEST_CASE(
    "gemm: one-row, one-column and outer-product shapes agree with the definition, and beta 0 ignores stale NaN") {
    Rng rng(3);
    const int shapes[][3] = {{1, 7, 5}, {6, 1, 5}, {6, 7, 1}, {1, 1, 5}, {1, 7, 1}, {6, 1, 1}, {4, 3, 2}};
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const auto& s : shapes)
        for (int flags = 0; flags < 4; ++flags)
            for (const double beta : {0.0, 0.5}) {
                const int m = s[0], n = s[1], k = s[2];
                const bool ta = flags & 1, tb = flags & 2;
                const Tensor A = ta ? random_tensor(k, m, rng) : random_tensor(m, k, rng);
                const Tensor B = tb ? random_tensor(n, k, rng) : random_tensor(k, n, rng);
                const Tensor C0 = random_tensor(m, n, rng);
                Tensor C = beta == 0.0 ? Tensor(m, n, nan) : C0;  // beta 0: whatever C held must not matter
                gemm(A, ta, B, tb, C, 1.5, beta);
                CAPTURE(m);
                CAPTURE(n);
                CAPTURE(k);
                CAPTURE(flags);
                CAPTURE(beta);
                REQUIRE(C.same_shape(Tensor(m, n)));
                // each entry within a few roundings of the sum of its terms' magnitudes
                const Tensor exact = reference_product(A, ta, B, tb, C0, 1.5, beta);
                const Tensor scale = reference_product(absolute(A), ta, absolute(B), tb, absolute(C0), 1.5, beta);
                for (size_t e = 0; e < C.size(); ++e) CHECK(std::abs(C[e] - exact[e]) <= 8 * 0x1p-52 * scale[e]);
            }
}

TEST_CASE("a flat gradient assembled from overlapping, repeated and missing views is exact, whatever the buffer held") {
    // 2048 entries: the buffer comes from the pool of freed arrays, filled with 7s just before
    const int p = 2048;
    Tensor theta(p, 1);
    for (int k = 0; k < p; ++k) theta[k] = 1.0 + k;
    for (const bool whole_too : {false, true}) {
        const Var t = variable(theta);
        Var loss = sum(square(view(t, 0, 2, 1)))                    // d/dt0 += 2 t0, d/dt1 += 2 t1
            + 3.0 * sum(view(t, 1, 2, 1))                           // overlaps: d/dt1 += 3, d/dt2 += 3
            + sum(view(t, 0, 1, 1))                                 // inside what is written: d/dt0 += 1
            + 0.5 * sum(square(view(t, 1000, 24, 1)));              // d/dtk += tk; the rest has no view
        if (whole_too) loss = loss + 0.25 * sum(t);                 // every entry += 1/4, also through the gaps
        { const std::vector<Tensor> stale(8, Tensor(p, 1, 7.0)); }  // back to the pool
        const Tensor g = grad(loss, {t})[0].value();
        Tensor expected(p, 1);
        expected[0] = 2 * 1.0 + 1, expected[1] = 2 * 2.0 + 3, expected[2] = 3;
        for (int k = 1000; k < 1024; ++k) expected[k] = theta[k];
        if (whole_too)
            for (double& e : expected.data) e += 0.25;
        CAPTURE(whole_too);
        CHECK(g.data == expected.data);
    }
}

TEST_CASE("a NaN or Inf made in a backward pass is refused: by the op that made it, or where a sum overflowed") {
    // sqrt at 0: the backward division meets 0 and names itself
    const Var t = variable(Tensor(2, 1, {4.0, 0.0}));
    std::string message;
    try {
        grad(sum(sqrt(t)), {t});
    } catch (const NonFiniteError& e) {
        message = e.what();
        CHECK(e.input == -1);
    }
    CAPTURE(message);
    CHECK(message.find("div(") != std::string::npos);
    // two finite contributions of 1e308 to the same entry: their sum overflows in the accumulation
    const Var u = variable(Tensor(3, 1, {1.0, 1.0, 1e-300}));  // the forward values stay small
    const Var first = view(u, 2, 1, 1);
    try {
        grad(sum(first * 1e308) + sum(view(u, 2, 1, 1) * 1e308), {u});
        FAIL("no error");
    } catch (const NonFiniteError& e) {
        const std::string what = e.what();
        CAPTURE(what);
        CHECK(e.input == 0);
        CHECK(e.entry == 2);
        CHECK(std::string(e.what()).find("input 0 (3 x 1) has non-finite entry inf at [2,0]") != std::string::npos);
    }
    // with a graph (for second derivatives) every op still scans its own result
    CHECK_THROWS_AS(grad(sum(sqrt(t)), {t}, true), NonFiniteError);
}

TEST_CASE("linear's weight gradient written straight into the flat gradient equals the derivative table's") {
    // The same graph differentiated twice: without a graph (the weight gradient goes straight
    // into the flat buffer) and with one (every cotangent through the table). The weight is a
    // view used by two linears and a penalty; the bias is used once; one window has no view.
    Rng rng(9);
    const int n_in = 5, n_out = 3, p = n_out * n_in + n_out + 4;
    const Tensor theta = random_tensor(p, 1, rng), X = random_tensor(7, n_in, rng), X2 = random_tensor(2, n_in, rng);
    for (const int rows : {7, 1}) {
        const Var t = variable(theta);
        const Var W = view(t, 0, n_out, n_in), b = view(t, n_out * n_in, 1, n_out);
        const Var x = constant(Tensor(rows, n_in, std::vector<double>(X.data.begin(), X.data.begin() + rows * n_in)));
        const Var loss = sum(square(linear(x, W, b))) + sum(tanh(linear(constant(X2), W))) + 0.5 * sum(square(W));
        const Tensor direct = grad(loss, {t})[0].value();
        const Tensor table = grad(loss, {t}, true)[0].value();
        CAPTURE(rows);
        CHECK(relative_difference(direct, table) <= 1e-15);
        for (int k = p - 4; k < p; ++k) CHECK(direct[k] == 0.0);  // no view reads the last four entries
    }
}

TEST_CASE("grad differentiates only what leads to its inputs: a branch toward other variables is never evaluated") {
    // f = sqrt(w) x + sum(x^2) with w = 0. df/dx = sqrt(w) + 2x is finite, but df/dw divides by
    // sqrt(0): had the pass evaluated the branch toward w, its division would throw.
    const Var w = variable(Tensor::scalar(0.0));
    const Var x = variable(Tensor(3, 1, {1.0, -2.0, 0.5}));
    const Var f = sum(sqrt(w) * x) + sum(square(x));
    for (const bool create_graph : {false, true}) {
        CAPTURE(create_graph);
        const Tensor g = grad(f, {x}, create_graph)[0].value();
        CHECK(g.data == std::vector<double>{2.0, -4.0, 1.0});
        CHECK_THROWS_AS(grad(f, {x, w}, create_graph), NonFiniteError);  // asked for, it is evaluated
    }
    // a gradient graph built toward x alone still gives the right second derivative in x
    const Var gx = grad(f, {x}, true)[0];
    CHECK(grad(sum(gx), {x})[0].value().data == std::vector<double>{2.0, 2.0, 2.0});
}

namespace {

// One product's operands, stored with leading dimensions wider than their rows (as windows of
// larger arrays are), and C (m x n, leading dimension n + 2) computed by `product` on the
// current threads from the start value c0.
struct ProductCase {
    bool ta, tb;
    int m, n, k;
    int lda() const { return (ta ? m : k) + 3; }
    int ldb() const { return (tb ? k : n) + 5; }
    size_t a_size() const { return (size_t)(ta ? k : m) * lda(); }
    size_t b_size() const { return (size_t)(tb ? n : k) * ldb(); }
    size_t c_size() const { return (size_t)m * (n + 2); }
    std::vector<double> run(double alpha, double beta, const std::vector<double>& a, const std::vector<double>& b,
                            std::vector<double> c) const {
        product(ta, tb, m, n, k, alpha, a.data(), lda(), b.data(), ldb(), beta, c.data(), n + 2);
        return c;
    }
};

std::vector<double> random_values(size_t n, Rng& rng) {
    std::vector<double> v(n);
    for (double& x : v) x = rng.normal();
    return v;
}

}  // namespace

TEST_CASE("a product cut across threads is the one-thread product bit for bit, whatever its shape") {
    // With OpenBLAS's Haswell (or Zen) kernels every entry must be the same sum in the same
    // order, so that results do not depend on the thread count: rows of C are cut when C is
    // taller, columns when it is wider. Other kernels take a small-matrix path for small blocks
    // (product.h); there the blocks must agree to rounding.
    const std::string kernels = openblas_get_corename();
    const bool bitwise = kernels == "Haswell" || kernels == "Zen";
    Rng rng(21);
    const int shapes[][3] = {{100, 64, 784}, {64, 784, 100}, {257, 33, 129},
                             {31, 999, 65},  {4000, 30, 79}, {7, 3000, 50}};
    for (const auto& shape : shapes)
        for (const bool ta : {false, true})
            for (const bool tb : {false, true})
                for (const double beta : {0.0, 0.5}) {
                    const ProductCase p{ta, tb, shape[0], shape[1], shape[2]};
                    const auto a = random_values(p.a_size(), rng), b = random_values(p.b_size(), rng),
                               c0 = random_values(p.c_size(), rng);
                    set_threads(1);
                    const std::vector<double> one = p.run(-0.7, beta, a, b, c0);
                    for (const int t : {2, 3}) {
                        set_threads(t);
                        INFO("m " << p.m << ", n " << p.n << ", k " << p.k << ", ta " << ta << ", tb " << tb
                                  << ", beta " << beta << ", threads " << t);
                        const std::vector<double> cut = p.run(-0.7, beta, a, b, c0);
                        if (bitwise) {
                            CHECK(std::memcmp(cut.data(), one.data(), one.size() * sizeof(double)) == 0);
                        } else {
                            double worst = 0;
                            for (size_t e = 0; e < one.size(); ++e)
                                worst = std::max(worst, std::abs(cut[e] - one[e]) / (1 + std::abs(one[e])));
                            CHECK(worst <= 1e-13);
                        }
                    }
                }
    set_threads(1);
    CHECK(threads() == 1);
    CHECK_THROWS_WITH(set_threads(0), "threads must be at least 1, not 0");
}

TEST_CASE("products asked for by several threads at once are right while one of them holds the helpers") {
    Rng rng(22);
    const ProductCase p{false, false, 300, 200, 100};
    std::vector<std::vector<double>> a, b, expected;
    set_threads(1);
    for (int job = 0; job < 8; ++job) {
        a.push_back(random_values(p.a_size(), rng)), b.push_back(random_values(p.b_size(), rng));
        expected.push_back(p.run(1.0, 0.0, a[job], b[job], std::vector<double>(p.c_size(), 0.0)));
    }
    set_threads(2);
    std::vector<int> same(8, 0);
    std::vector<std::thread> askers;  // plain threads: they race for the helpers
    for (int job = 0; job < 8; ++job)
        askers.emplace_back([&, job] {
            for (int repeat = 0; repeat < 20; ++repeat) {
                const auto c = p.run(1.0, 0.0, a[job], b[job], std::vector<double>(p.c_size(), 0.0));
                same[job] += std::memcmp(c.data(), expected[job].data(), c.size() * sizeof(double)) == 0;
            }
        });
    for (std::thread& t : askers) t.join();
    set_threads(1);
    for (int job = 0; job < 8; ++job) CHECK(same[job] == 20);
}

TEST_CASE("a parallel_for job's products run uncut, so its bytes do not depend on which job got the helpers") {
    // 715 x 300 x 93: cut in two, its last columns change bits with the Cooperlake kernels
    // (product.h); uncut, every job must give the one-thread bytes on any kernels.
    Rng rng(23);
    const ProductCase p{false, true, 715, 300, 93};
    const auto a = random_values(p.a_size(), rng), b = random_values(p.b_size(), rng);
    const std::vector<double> zero(p.c_size(), 0.0);
    set_threads(1);
    const std::vector<double> one = p.run(1.0, 0.0, a, b, zero);
    auto same_bytes = [&](const std::vector<double>& c) {
        return std::memcmp(c.data(), one.data(), one.size() * sizeof(double)) == 0;
    };
    set_threads(2);
    std::vector<int> same(6, 0);
    parallel_for(6, 2, [&](size_t job) {
        for (int repeat = 0; repeat < 10; ++repeat) same[job] += same_bytes(p.run(1.0, 0.0, a, b, zero));
    });
    {
        const ProductsOnThisThread uncut;
        CHECK(same_bytes(p.run(1.0, 0.0, a, b, zero)));
    }
    set_threads(1);
    for (int job = 0; job < 6; ++job) CHECK(same[job] == 10);
}

TEST_CASE("for_entry_blocks covers every entry once, in blocks on multiples of 8, one per thread") {
    for (const int t : {1, 2, 3})
        for (const size_t n : {size_t(5), size_t(100), size_t(1000), size_t(100003)}) {
            set_threads(t);
            std::vector<int> seen(n, 0);
            std::vector<std::pair<size_t, size_t>> blocks;
            std::mutex lock;
            for_entry_blocks(n, 100, [&](size_t begin, size_t end) {
                for (size_t k = begin; k < end; ++k) ++seen[k];
                std::lock_guard<std::mutex> hold(lock);
                blocks.push_back({begin, end});
            });
            INFO("threads " << t << ", n " << n);
            CHECK(std::count(seen.begin(), seen.end(), 1) == (long)n);
            CHECK(blocks.size() == (n >= 200 && n / 8 >= (size_t)t ? (size_t)t : 1u));
            for (const auto& [begin, end] : blocks) CHECK((begin % 8 == 0 && (end % 8 == 0 || end == n)));
        }
    set_threads(1);
}

TEST_CASE("large elementwise ops and the optimizer cut across threads give the one-thread bytes") {
    Rng rng(24);
    const Tensor A(300, 500, random_values(150000, rng)), B(300, 500, random_values(150000, rng));
    auto ops = [&] {  // a large op of each reading: same shape, a scalar operand, unary, an activation
        const Var a = constant(A), b = constant(B);
        return std::vector<Tensor>{(a * b).value(), (a + 2.5).value(), (3.0 / b).value(), exp(a).value(),
                                   relu(a).value(), step(b).value(), softplus(a).value()};
    };
    set_threads(1);
    const std::vector<Tensor> one = ops();
    set_threads(2);
    const std::vector<Tensor> two = ops();
    for (size_t k = 0; k < one.size(); ++k) {
        INFO("op " << k);
        CHECK(std::memcmp(one[k].data.data(), two[k].data.data(), one[k].size() * sizeof(double)) == 0);
    }
    // the scan rides along the cut: the entry is named whichever block holds it
    Tensor C = A;
    C(299, 499) = 0.0;
    CHECK_THROWS_WITH(log(square(constant(C))), doctest::Contains("non-finite entry -inf at [299,499]"));

    // Adam with amsgrad, coupled and decoupled weight decay on a 784-64-10 net (50,890 parameters): theta after
    // three steps, on one thread and on two
    auto train = [&] {
        Model net = make_mlp(MlpSpec::parse("784-64-10", Activation::Relu, true, Loss::MeanSquaredError));
        for (double& v : net.theta().data) v = 0.05 * std::sin(&v - net.theta().data.data() + 1.0);
        OptimizerConfig adam;
        adam.kind = OptimizerKind::Adam, adam.amsgrad = true;
        Optimizer opt(adam, net);
        const Tensor X(20, 784, std::vector<double>(A.data.begin(), A.data.begin() + 20 * 784));
        for (int s = 0; s < 3; ++s) {
            net.backward(sum(square(net.forward(constant(X)))));
            apply_weight_decay(net, WeightDecay::L2, 1e-4, 1e-3);
            apply_weight_decay(net, WeightDecay::Decoupled, 1e-4, 1e-3);
            opt.step(1e-3);
        }
        return net.theta();
    };
    set_threads(1);
    const Tensor theta_one = train();
    set_threads(2);
    const Tensor theta_two = train();
    set_threads(1);
    CHECK(std::memcmp(theta_one.data.data(), theta_two.data.data(), theta_one.size() * sizeof(double)) == 0);
}

TEST_CASE("an op whose derivative is exactly zero carries no gradient; the Hessian through ReLU is unchanged") {
    const Var x = variable(Tensor(2, 3, {-1.0, 0.5, 2.0, -0.2, 0.0, 3.0}));
    CHECK_FALSE(step(x).requires_grad());
    CHECK_FALSE(sign(x).requires_grad());
    CHECK(activation_derivative(Activation::Tanh, 1, x).requires_grad());
    // f = sum(relu(x)^2): gradient 2 relu(x), Hessian diag(2 step(x)), the derivative of the step dropped exactly
    const Tensor H = hessian([](const Var& t) { return sum(square(relu(t))); }, x.value());
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) CHECK(H(i, j) == (i == j && x.value()[i] > 0 ? 2.0 : 0.0));
}
