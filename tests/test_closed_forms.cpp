// test_closed_forms.cpp: autodiff Hessians against formulas that need no autodiff.
//
// The references are plain loops over samples written from the textbook formulas:
// least squares X^T X / N, logistic regression X^T diag(p(1-p)) X / N, softmax regression
// (diag(p) - p p^T) (x) x x^T / N, a one-hidden-layer tanh network differentiated by hand,
// and third derivatives of scalar compositions. Agreement is to rounding (<= 1e-13 relative).
#include <doctest/doctest.h>

#include <cmath>

#include "autodiff/finite_differences.h"

using namespace awd;

namespace {

struct Problem {
    Tensor X;            // (N, d)
    std::vector<int> y;  // class labels, or 0/1 for logistic regression
    Tensor targets;      // (N, 1) real targets for regression
};

Problem random_problem(int n, int d, int classes, uint64_t seed) {
    std::mt19937_64 rng(seed);
    Problem p{random_tensor(n, d, rng, -1.5, 1.5), std::vector<int>(n), random_tensor(n, 1, rng)};
    for (int& label : p.y) label = (int)(rng() % classes);
    return p;
}

}  // namespace

TEST_CASE("least squares: H = X^T X / N") {
    const Problem p = random_problem(40, 5, 2, 1);
    ScalarFunction loss = [&](const Var& w) { return 0.5 * mse(matmul(constant(p.X), w), constant(p.targets)); };
    std::mt19937_64 rng(2);
    const Tensor H = hessian(loss, random_tensor(5, 1, rng));
    Tensor reference(5, 5);
    for (int n = 0; n < 40; ++n)
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 5; ++j) reference(i, j) += p.X(n, i) * p.X(n, j) / 40.0;
    CHECK(relative_difference(H, reference) <= 1e-13);
    CHECK(symmetry_residual(H) <= 1e-15);
}

TEST_CASE("logistic regression: H = X^T diag(p(1-p)) X / N") {
    const Problem p = random_problem(50, 4, 2, 3);
    Tensor labels(50, 1);
    for (int n = 0; n < 50; ++n) labels[n] = p.y[n];
    // binary cross-entropy in logit form: softplus(z) - y z
    ScalarFunction loss = [&](const Var& w) {
        Var z = matmul(constant(p.X), w);
        return mean(softplus(z) - constant(labels) * z);
    };
    std::mt19937_64 rng(4);
    const Tensor w = random_tensor(4, 1, rng);
    const Tensor H = hessian(loss, w);
    Tensor reference(4, 4);
    for (int n = 0; n < 50; ++n) {
        double z = 0;
        for (int j = 0; j < 4; ++j) z += p.X(n, j) * w[j];
        const double prob = 1.0 / (1.0 + std::exp(-z));
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) reference(i, j) += prob * (1 - prob) * p.X(n, i) * p.X(n, j) / 50.0;
    }
    CHECK(relative_difference(H, reference) <= 1e-13);
    CHECK(symmetry_residual(H) <= 1e-15);
}

TEST_CASE("softmax regression: H[(c,i),(k,j)] = mean_n (p_c [c=k] - p_c p_k) x_i x_j") {
    const int n = 60, d = 4, classes = 3;
    const Problem p = random_problem(n, d, classes, 5);
    ScalarFunction loss = [&](const Var& theta) {
        Var W = reshape(theta, classes, d);  // W is (C, d), row-major like PyTorch
        return cross_entropy(matmul(constant(p.X), W, false, true), p.y);
    };
    std::mt19937_64 rng(6);
    const Tensor theta = random_tensor(classes * d, 1, rng);
    const Tensor H = hessian(loss, theta);
    Tensor reference(classes * d, classes * d);
    for (int s = 0; s < n; ++s) {
        std::vector<double> z(classes), prob(classes);
        double total = 0;
        for (int c = 0; c < classes; ++c) {
            for (int j = 0; j < d; ++j) z[c] += theta[c * d + j] * p.X(s, j);
            total += std::exp(z[c]);
        }
        for (int c = 0; c < classes; ++c) prob[c] = std::exp(z[c]) / total;
        for (int c = 0; c < classes; ++c)
            for (int k = 0; k < classes; ++k)
                for (int i = 0; i < d; ++i)
                    for (int j = 0; j < d; ++j)
                        reference(c * d + i, k * d + j) +=
                            (prob[c] * (c == k) - prob[c] * prob[k]) * p.X(s, i) * p.X(s, j) / n;
    }
    CHECK(relative_difference(H, reference) <= 1e-13);
    CHECK(symmetry_residual(H) <= 1e-15);
}

// One hidden tanh layer, scalar output, squared loss l = r^2 / 2 with r = v . tanh(W x + b) + c - y.
// theta = [W (H x d), b (H), v (H), c]. Per sample the Hessian is J J^T + r R with J = dr/dtheta
// and R = d^2 r / dtheta^2, both written out by hand below (s_i = 1 - h_i^2, ds_i/dz_i = -2 h_i s_i).
TEST_CASE("one-hidden-layer tanh network: Hessian differentiated by hand") {
    const int n = 30, d = 3, hidden = 4;
    const int P = hidden * d + 2 * hidden + 1;
    const Problem p = random_problem(n, d, 2, 7);
    auto W_at = [&](int i, int j) { return i * d + j; };
    auto b_at = [&](int i) { return hidden * d + i; };
    auto v_at = [&](int i) { return hidden * d + hidden + i; };
    const int c_at = P - 1;
    ScalarFunction loss = [&](const Var& theta) {
        Var W = reshape(slice(theta, 0, 0, hidden * d, 1), hidden, d);
        Var b = reshape(slice(theta, b_at(0), 0, hidden, 1), 1, hidden);
        Var v = slice(theta, v_at(0), 0, hidden, 1);
        Var c = slice(theta, c_at, 0, 1, 1);
        Var out = matmul(tanh(matmul(constant(p.X), W, false, true) + b), v) + c;  // (N, 1)
        return 0.5 * mse(out, constant(p.targets));
    };
    std::mt19937_64 rng(8);
    const Tensor theta = random_tensor(P, 1, rng);
    const Tensor H = hessian(loss, theta);

    Tensor reference(P, P);
    for (int s = 0; s < n; ++s) {
        std::vector<double> h(hidden), slope(hidden), J(P, 0.0);
        double out = theta[c_at];
        for (int i = 0; i < hidden; ++i) {
            double z = theta[b_at(i)];
            for (int j = 0; j < d; ++j) z += theta[W_at(i, j)] * p.X(s, j);
            h[i] = std::tanh(z), slope[i] = 1 - h[i] * h[i];
            out += theta[v_at(i)] * h[i];
        }
        const double r = out - p.targets[s];
        for (int i = 0; i < hidden; ++i) {  // J = dr/dtheta
            for (int j = 0; j < d; ++j) J[W_at(i, j)] = theta[v_at(i)] * slope[i] * p.X(s, j);
            J[b_at(i)] = theta[v_at(i)] * slope[i];
            J[v_at(i)] = h[i];
        }
        J[c_at] = 1.0;
        for (int a = 0; a < P; ++a)
            for (int e = 0; e < P; ++e) reference(a, e) += J[a] * J[e] / n;
        auto add_symmetric = [&](int a, int e, double value) {
            reference(a, e) += r * value / n;
            if (a != e) reference(e, a) += r * value / n;
        };
        for (int i = 0; i < hidden; ++i) {  // r R: second derivatives of r, unit by unit
            const double curvature = theta[v_at(i)] * (-2 * h[i] * slope[i]);  // v_i d s_i / d z_i
            for (int j = 0; j < d; ++j) {
                for (int k = 0; k < d; ++k)
                    reference(W_at(i, j), W_at(i, k)) += r * curvature * p.X(s, j) * p.X(s, k) / n;
                add_symmetric(W_at(i, j), b_at(i), curvature * p.X(s, j));
                add_symmetric(W_at(i, j), v_at(i), slope[i] * p.X(s, j));
            }
            add_symmetric(b_at(i), b_at(i), curvature);
            add_symmetric(b_at(i), v_at(i), slope[i]);
        }
    }
    CHECK(relative_difference(H, reference) <= 1e-13);
    CHECK(symmetry_residual(H) <= 1e-15);
}

namespace {

// d^k f / dx^k at a scalar x, by differentiating the gradient graph k times.
double derivative(const std::function<Var(const Var&)>& f, double x0, int order) {
    Var x = variable(Tensor::scalar(x0));
    Var y = f(x);
    for (int k = 0; k < order; ++k) y = grad(y, {x}, true)[0];
    return y.value().item();
}

}  // namespace

TEST_CASE("third derivatives of scalar compositions against their closed forms") {
    for (double x : {-1.3, -0.2, 0.4, 1.7}) {
        CAPTURE(x);
        // d^3/dx^3 x^3 e^x = (x^3 + 9x^2 + 18x + 6) e^x
        const double poly = derivative([](const Var& t) { return t * t * t * exp(t); }, x, 3);
        CHECK(std::fabs(poly - (x * x * x + 9 * x * x + 18 * x + 6) * std::exp(x)) <= 1e-13 * std::fabs(poly));
        // d^3/dx^3 tanh x = 2 (1 - t^2)(3 t^2 - 1), t = tanh x
        const double t = std::tanh(x);
        const double third = derivative([](const Var& v) { return tanh(v); }, x, 3);
        CHECK(std::fabs(third - 2 * (1 - t * t) * (3 * t * t - 1)) <= 1e-14 * std::max(1.0, std::fabs(third)));
        // d^3/dx^3 log(sigmoid(x)) = -s(1-s)(1-2s), s = sigmoid x; composes three ops
        const double s = 1 / (1 + std::exp(-x));
        const double logsig = derivative([](const Var& v) { return log(sigmoid(v)); }, x, 3);
        CHECK(std::fabs(logsig + s * (1 - s) * (1 - 2 * s)) <= 1e-14);
    }
}
