// online_mlp.cpp: single-example forward, backward and fused SGD step of a ReLU MLP.
#include "nn/online_mlp.h"

// The hot loops need runtime alias checks and epilogues, which -O2's cost model declines.
#pragma GCC optimize("vect-cost-model=dynamic")

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace awd {

OnlineMlp::OnlineMlp(std::vector<int> w) : widths(std::move(w)) {
    if (widths.size() < 2) throw std::invalid_argument("an MLP needs at least two widths");
    for (int n : widths)
        if (n < 1) throw std::invalid_argument("MLP widths must be positive");
    theta.assign(weight_offset(layers()), 0.0);
}

size_t OnlineMlp::weight_offset(int l) const {
    size_t offset = 0;
    for (int k = 0; k < l; ++k) offset += (size_t)widths[k + 1] * (widths[k] + 1);
    return offset;
}

void glorot_uniform(OnlineMlp& net, Rng& rng) {
    for (int l = 0; l < net.layers(); ++l) {
        const int n_in = net.widths[l], n_out = net.widths[l + 1];
        const double bound = std::sqrt(6.0 / (n_in + n_out));
        double* W = &net.theta[net.weight_offset(l)];
        for (size_t k = 0; k < (size_t)n_in * n_out; ++k) W[k] = rng.uniform(-bound, bound);
        std::fill(W + (size_t)n_in * n_out, W + (size_t)n_in * n_out + n_out, 0.0);
    }
}

namespace {

// sum_i w[i] x[i] with eight partial sums combined in a fixed order.
inline double dot(const double* w, const double* x, int n) {
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) s[k] += w[i + k] * x[i + k];
    for (int k = 0; i < n; ++i, ++k) s[k] += w[i] * x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// The same over the non-zero entries nz of x only (digit images are ~80% zero pixels; a zero
// term adds nothing, so skipping it only spares memory traffic on the first layer's W).
inline double sparse_dot(const double* w, const double* x, const std::vector<int>& nz) {
    double s[4] = {0, 0, 0, 0};
    const int n = (int)nz.size();
    int j = 0;
    for (; j + 4 <= n; j += 4)
        for (int k = 0; k < 4; ++k) s[k] += w[nz[j + k]] * x[nz[j + k]];
    for (int k = 0; j < n; ++j, ++k) s[k] += w[nz[j]] * x[nz[j]];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

// Forward pass; s.a[l] holds a^l for l = 1..L (ReLU of z except the logits a^L = z^L).
// Then s.delta = softmax(logits) - onehot(label) = dloss/dlogits; returns the loss.
double forward_loss(const OnlineMlp& net, const double* x, int label, ExampleScratch& s) {
    const int L = net.layers();
    s.a.resize(L + 1);
    const double* in = x;
    s.nz.clear();
    for (int i = 0; i < net.widths[0]; ++i)
        if (x[i] != 0.0) s.nz.push_back(i);
    for (int l = 0; l < L; ++l) {
        const int n_in = net.widths[l], n_out = net.widths[l + 1];
        const double* W = &net.theta[net.weight_offset(l)];
        const double* b = W + (size_t)n_in * n_out;
        std::vector<double>& out = s.a[l + 1];
        out.resize(n_out);
        for (int o = 0; o < n_out; ++o) {
            const double z = (l == 0 ? sparse_dot(W + (size_t)o * n_in, in, s.nz) : dot(W + (size_t)o * n_in, in, n_in)) + b[o];
            out[o] = l + 1 < L && z < 0 ? 0.0 : z;
        }
        in = out.data();
    }
    const std::vector<double>& f = s.a[L];
    const int C = (int)f.size();
    const double m = *std::max_element(f.begin(), f.end());
    double total = 0;
    for (int c = 0; c < C; ++c) total += std::exp(f[c] - m);
    s.delta.resize(C);
    for (int c = 0; c < C; ++c) s.delta[c] = std::exp(f[c] - m) / total - (c == label ? 1.0 : 0.0);
    return m + std::log(total) - f[label];
}

// Back through layer l: da = W^T delta (when l > 0, with the W as it was on entry), then
// either grad += scale * (delta a^T, delta) or, fused, W -= lr * (delta a^T), b -= lr * delta.
// Both visit W in the same order, so the two paths round identically. Finally delta = da * relu'.
template <bool kFused>
void backward(const OnlineMlp& net, double* theta, const double* x, double factor, ExampleScratch& s) {
    for (int l = net.layers() - 1; l >= 0; --l) {
        const int n_in = net.widths[l], n_out = net.widths[l + 1];
        const double* a = l == 0 ? x : s.a[l].data();
        double* W = theta + net.weight_offset(l);
        double* b = W + (size_t)n_in * n_out;
        const double* W_old = &net.theta[net.weight_offset(l)];  // == W when fused
        if (l > 0) s.da.assign(n_in, 0.0);
        for (int o = 0; o < n_out; ++o) {
            const double d = s.delta[o];
            double* row = W + (size_t)o * n_in;
            const double* old = W_old + (size_t)o * n_in;
            if (l > 0)
                for (int i = 0; i < n_in; ++i) s.da[i] += old[i] * d;
            if (l == 0) {  // only the non-zero inputs have a non-zero gradient
                for (int i : s.nz) row[i] = kFused ? row[i] - factor * (d * a[i]) : row[i] + factor * (d * a[i]);
            } else if (kFused) {
                for (int i = 0; i < n_in; ++i) row[i] -= factor * (d * a[i]);
            } else {
                for (int i = 0; i < n_in; ++i) row[i] += factor * (d * a[i]);
            }
            b[o] = kFused ? b[o] - factor * d : b[o] + factor * d;
        }
        if (l == 0) break;
        s.delta.resize(n_in);
        for (int i = 0; i < n_in; ++i) s.delta[i] = s.a[l][i] > 0 ? s.da[i] : 0.0;
    }
}

}  // namespace

double example_loss_gradient(const OnlineMlp& net, const double* x, int label, double scale, ExampleScratch& s, double* grad) {
    const double loss = forward_loss(net, x, label, s);
    backward<false>(net, grad, x, scale, s);
    return loss;
}

double sgd_example(OnlineMlp& net, const double* x, int label, double lr, ExampleScratch& s) {
    const double loss = forward_loss(net, x, label, s);
    backward<true>(net, net.theta.data(), x, lr, s);
    return loss;
}

Tensor forward_batch(const OnlineMlp& net, const Tensor& X) {
    if (X.cols != net.widths[0]) throw std::invalid_argument("forward_batch: input " + X.shape() + " does not match the network");
    Tensor a = X, z;
    for (int l = 0; l < net.layers(); ++l) {
        const int n_in = net.widths[l], n_out = net.widths[l + 1];
        const double* W = &net.theta[net.weight_offset(l)];
        z = Tensor(X.rows, n_out);
        for (int n = 0; n < X.rows; ++n) std::copy(W + (size_t)n_in * n_out, W + (size_t)n_in * n_out + n_out, &z.data[(size_t)n * n_out]);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, X.rows, n_out, n_in, 1.0, a.data.data(), n_in, W, n_in, 1.0, z.data.data(), n_out);
        if (l + 1 < net.layers())
            for (double& v : z.data) v = v < 0 ? 0.0 : v;
        a = std::move(z);
    }
    return a;
}

double accuracy(const OnlineMlp& net, const Tensor& X, const std::vector<int>& labels) {
    if (X.rows == 0) return 0.0;
    const Tensor f = forward_batch(net, X);
    size_t right = 0;
    for (int n = 0; n < f.rows; ++n) {
        const double* out = &f.data[(size_t)n * f.cols];
        right += (std::max_element(out, out + f.cols) - out) == labels[n];
    }
    return (double)right / f.rows;
}

}  // namespace awd
