// hessian.cpp: the fast (layer-structured) and plain (reverse-over-reverse) exact Hessians.
#include "analysis/hessian.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autodiff/product.h"

namespace awd {

std::vector<size_t> layer_indices(const MlpSpec& spec, int layer, bool with_bias) {
    if (layer < 0 || layer >= spec.layers())
        throw std::invalid_argument("layer " + std::to_string(layer) + " is out of range: " + spec.arch() +
                                    " has layers 0.." + std::to_string(spec.layers() - 1));
    const size_t begin = spec.weight_offset(layer);
    const size_t end =
        begin + (size_t)spec.n_out(layer) * spec.n_in(layer) + (with_bias && spec.bias ? spec.n_out(layer) : 0);
    std::vector<size_t> idx(end - begin);
    for (size_t k = 0; k < idx.size(); ++k) idx[k] = begin + k;
    return idx;
}

std::vector<size_t> all_indices(const MlpSpec& spec) {
    std::vector<size_t> idx(spec.n_params());
    for (size_t k = 0; k < idx.size(); ++k) idx[k] = k;
    return idx;
}

namespace {

void check_indices(const MlpSpec& spec, const std::vector<size_t>& indices) {
    if (indices.empty()) throw std::invalid_argument("hessian: empty parameter subset");
    for (size_t k = 0; k < indices.size(); ++k)
        if (indices[k] >= spec.n_params() || (k && indices[k] <= indices[k - 1]))
            throw std::invalid_argument("hessian: parameter subset must be sorted, unique and below " +
                                        std::to_string(spec.n_params()));
}

void check_data(const Mlp& net, const Tensor& X, const std::vector<int>& labels) {
    if (X.rows == 0) throw std::invalid_argument("hessian: no samples");
    if (X.cols != net.spec.widths[0])
        throw std::invalid_argument("hessian: data has " + std::to_string(X.cols) + " inputs per sample, " +
                                    net.spec.arch() + " expects " + std::to_string(net.spec.widths[0]));
    if ((int)labels.size() != X.rows)
        throw std::invalid_argument("hessian: " + std::to_string(labels.size()) + " labels for " +
                                    std::to_string(X.rows) + " samples");
}

// Per-sample first- and second-order quantities of one chunk of samples, from the output down
// to layer `lowest` (the lowest parameter block wanted needs G and delta of z^{lowest+1}).
struct SecondOrder {
    MlpActivities act;          // z[r], a[r] of the chunk
    std::vector<Tensor> delta;  // delta[r] (c, n_r): dl/dz^r of each sample (not divided by N)
    std::vector<Tensor> G;      // G[r] (c, n_r * n_r): per sample the (n_r, n_r) d^2 l / dz^r dz^r
    std::vector<Tensor> d1;     // d1[r] (c, n_r): phi'(z^r)
};

void second_order_pass(const Mlp& net, const Tensor& X, const int* labels, int lowest, SecondOrder& so) {
    const MlpSpec& s = net.spec;
    const int L = s.layers(), c = X.rows, C = s.widths.back();
    so.act = mlp_activities(net, X);
    so.delta.assign(L + 1, Tensor()), so.G.assign(L + 1, Tensor()), so.d1.assign(L + 1, Tensor());
    // the loss: delta^L = dl/df and G^L = d^2 l / df^2 of each sample, from the loss itself (nn/loss.h)
    const Tensor& f = so.act.z[L];
    Tensor& dL = so.delta[L];
    dL = Tensor(c, C);
    so.G[L] = Tensor(c, C * C);
    for (int n = 0; n < c; ++n)
        sample_loss_derivatives(s.loss, &f.data[(size_t)n * C], C, labels[n], &dL.data[(size_t)n * C],
                                &so.G[L].data[(size_t)n * C * C]);
    // backward: delta^r = D_r W^r^T delta^{r+1};
    //           G^r = D_r W^r^T G^{r+1} W^r D_r + diag(phi''(z^r) * W^r^T delta^{r+1})
    for (int r = L - 1; r >= std::max(lowest + 1, 1); --r) {
        const int n_out = s.n_out(r), n_in = s.n_in(r);  // z^{r+1} = W^r a^r: W^r is (n_{r+1}, n_r)
        const double* W = net.W(r);
        Tensor back = Tensor::uninitialized(c, n_in);  // W^r^T delta^{r+1} per sample = da^r
        product(false, false, c, n_in, n_out, 1.0, so.delta[r + 1].data.data(), n_out, W, n_in, 0.0, back.data.data(),
                n_in);
        const Tensor& z = so.act.z[r];
        // written in full below: uninitialised, from the pool (a fresh zero-filled array is page
        // faults and a memset, a large part of the cost)
        so.d1[r] = Tensor::uninitialized(c, n_in);
        so.delta[r] = Tensor::uninitialized(c, n_in);
        so.G[r] = Tensor::uninitialized(c, n_in * n_in);
        std::vector<double> GW((size_t)n_out * n_in);
        for (int n = 0; n < c; ++n) {
            const double* g_up = &so.G[r + 1].data[(size_t)n * n_out * n_out];
            double* g = &so.G[r].data[(size_t)n * n_in * n_in];
            product(false, false, n_out, n_in, n_out, 1.0, g_up, n_out, W, n_in, 0.0, GW.data(), n_in);
            product(true, false, n_in, n_in, n_out, 1.0, W, n_in, GW.data(), n_in, 0.0, g, n_in);
            for (int i = 0; i < n_in; ++i) so.d1[r](n, i) = activation_derivative(s.activation, 1, z(n, i));
            for (int i = 0; i < n_in; ++i) {
                for (int k = 0; k < n_in; ++k) g[i * n_in + k] *= so.d1[r](n, i) * so.d1[r](n, k);
                if (!hessian_is_zero(s.activation))
                    g[i * n_in + i] += activation_derivative(s.activation, 2, z(n, i)) * back(n, i);
                so.delta[r](n, i) = so.d1[r](n, i) * back(n, i);
            }
        }
    }
}

// a~^l of the chunk: the layer's input, with a column of ones when there are biases. (c, d_l)
Tensor augmented_input(const Mlp& net, const Tensor& X, const SecondOrder& so, int l) {
    const Tensor& a = l == 0 ? X : so.act.a[l];
    if (!net.spec.bias) return Tensor::read_only_view(a.data.data(), a.rows, a.cols);  // no copy
    Tensor out(a.rows, a.cols + 1, 1.0);
    for (int n = 0; n < a.rows; ++n)
        std::copy(&a.data[(size_t)n * a.cols], &a.data[(size_t)(n + 1) * a.cols], &out.data[(size_t)n * out.cols]);
    return out;
}

// Index of W~^l_ij inside layer l's block of theta ([W row-major, then b]).
inline size_t local_index(const MlpSpec& s, int l, int i, int j) {
    return j < s.n_in(l) ? (size_t)i * s.n_in(l) + j : (size_t)s.n_out(l) * s.n_in(l) + i;
}

struct Layout {
    std::vector<int> layers;   // parameter blocks touched by the subset, ascending
    std::vector<size_t> base;  // where each starts in the work matrix
    size_t size = 0;
};

// Adds the (l, l) block over a chunk into T (packed pairs (i <= k) x (j <= q)).
void diagonal_block(const Tensor& A, const Tensor& G, int n, Tensor& T, HessianStats& st) {
    const int c = A.rows, d = A.cols, pn = n * (n + 1) / 2, pd = d * (d + 1) / 2;
    Tensor U = Tensor::uninitialized(c, pn), V = Tensor::uninitialized(c, pd);  // written in full
    for (int s = 0; s < c; ++s) {
        const double* g = &G.data[(size_t)s * n * n];
        double* u = &U.data[(size_t)s * pn];
        for (int i = 0, p = 0; i < n; ++i)
            for (int k = i; k < n; ++k) u[p++] = g[i * n + k];
        const double* a = &A.data[(size_t)s * d];
        double* v = &V.data[(size_t)s * pd];
        for (int j = 0, p = 0; j < d; ++j)
            for (int q = j; q < d; ++q) v[p++] = a[j] * a[q];
    }
    if (T.empty()) T = Tensor(pn, pd);
    product(true, false, pn, pd, c, 1.0, U.data.data(), pn, V.data.data(), pd, 1.0, T.data.data(), pd);
    st.gemm_flops += 2.0 * pn * pd * c;
}

// Adds the (l, m) block, l < m, over a chunk into R (d_l, n_{l+1} n_{m+1} d_m).
void cross_block(const Mlp& net, const SecondOrder& so, const Tensor& Al, const Tensor& Am, int l, int m, Tensor& R,
                 HessianStats& st) {
    const MlpSpec& s = net.spec;
    const int c = Al.rows, nl = s.n_out(l), nm = s.n_out(m), dm = Am.cols, n_m = s.n_in(m);
    const int cols = nl * nm * dm;
    Tensor E = Tensor::uninitialized(c, cols);  // written in full
    std::vector<double> K, next, WK((size_t)nm * nl), C((size_t)nm * nl);
    for (int n = 0; n < c; ++n) {
        // K = da^m / dz^{l+1} (n_m, n_l): D_{l+1}, then K <- D_r W^{r-1} K for r = l+2..m
        K.assign((size_t)nl * nl, 0.0);
        for (int i = 0; i < nl; ++i) K[(size_t)i * nl + i] = so.d1[l + 1](n, i);
        for (int r = l + 2; r <= m; ++r) {
            const int rows = s.n_out(r - 1), inner = s.n_in(r - 1);
            next.assign((size_t)rows * nl, 0.0);
            product(false, false, rows, nl, inner, 1.0, net.W(r - 1), inner, K.data(), nl, 0.0, next.data(), nl);
            for (int q = 0; q < rows; ++q)
                for (int i = 0; i < nl; ++i) next[(size_t)q * nl + i] *= so.d1[r](n, q);
            K.swap(next);
        }
        // C = G^{m+1} W^m K (n_{m+1}, n_{l+1})
        product(false, false, nm, nl, n_m, 1.0, net.W(m), n_m, K.data(), nl, 0.0, WK.data(), nl);
        product(false, false, nm, nl, nm, 1.0, &so.G[m + 1].data[(size_t)n * nm * nm], nm, WK.data(), nl, 0.0, C.data(),
                nl);
        // E[i, k, q] = a~^m_q C[k, i] + delta^{m+1}_k K[q, i]   (K's row q = n_m, the bias input, is 0)
        double* e = &E.data[(size_t)n * cols];
        const double* am = &Am.data[(size_t)n * dm];
        for (int i = 0; i < nl; ++i)
            for (int k = 0; k < nm; ++k) {
                const double ck = C[(size_t)k * nl + i], dk = so.delta[m + 1](n, k);
                double* row = e + ((size_t)i * nm + k) * dm;
                for (int q = 0; q < n_m; ++q) row[q] = am[q] * ck + dk * K[(size_t)q * nl + i];
                for (int q = n_m; q < dm; ++q) row[q] = am[q] * ck;
            }
    }
    if (R.empty()) R = Tensor(Al.cols, cols);
    product(true, false, Al.cols, cols, c, 1.0, Al.data.data(), Al.cols, E.data.data(), cols, 1.0, R.data.data(), cols);
    st.gemm_flops += 2.0 * Al.cols * cols * c;
}

}  // namespace

Tensor hessian_fast(const Mlp& net, const Tensor& X, const std::vector<int>& labels, const std::vector<size_t>& indices,
                    HessianStats* stats) {
    const MlpSpec& s = net.spec;
    check_indices(s, indices);
    check_data(net, X, labels);
    Layout layout;
    for (int l = 0; l < s.layers(); ++l) {
        const size_t begin = s.weight_offset(l), end = begin + s.layer_size(l);
        if (std::lower_bound(indices.begin(), indices.end(), begin) !=
            std::lower_bound(indices.begin(), indices.end(), end)) {
            layout.layers.push_back(l), layout.base.push_back(layout.size);
            layout.size += s.layer_size(l);
        }
    }
    const int blocks = (int)layout.layers.size();
    // Equal chunks of samples, small enough that the packed per-sample rows stay within ~1 MB
    // (but at least 32 rows, so the products stay matrix products): each chunk reuses the
    // (pooled) buffers of the one before, so little fresh memory is touched. Fresh memory is
    // expensive: each page faults in. 1 MB measured faster than larger chunks and than one
    // chunk of all samples.
    size_t widest = 1;
    for (int a = 0; a < blocks; ++a)
        for (int b = a; b < blocks; ++b) {
            const int l = layout.layers[a], m = layout.layers[b];
            const size_t dl = s.n_in(l) + s.bias, dm = s.n_in(m) + s.bias, nl = s.n_out(l);
            widest = std::max(widest, a == b ? dl * (dl + 1) / 2 + nl * (nl + 1) / 2 : nl * s.n_out(m) * dm);
        }
    const size_t most = std::clamp<size_t>((1u << 20) / (8 * widest), 32, (size_t)std::max(32, X.rows)),
                 chunks = (X.rows + most - 1) / most;
    const int chunk = (int)((X.rows + chunks - 1) / chunks);

    HessianStats st;
    std::vector<Tensor> partial((size_t)blocks * blocks);  // accumulated over chunks: T (diagonal) or R (cross)
    SecondOrder so;
    for (int start = 0; start < X.rows; start += chunk) {
        const int rows = std::min(chunk, X.rows - start);
        const Tensor Xc =
            Tensor::read_only_view(&X.data[(size_t)start * X.cols], rows, X.cols);  // the chunk's samples, in place
        second_order_pass(net, Xc, labels.data() + start, layout.layers[0], so);
        std::vector<Tensor> A(blocks);
        for (int a = 0; a < blocks; ++a) A[a] = augmented_input(net, Xc, so, layout.layers[a]);
        for (int a = 0; a < blocks; ++a) {
            const int l = layout.layers[a];
            diagonal_block(A[a], so.G[l + 1], s.n_out(l), partial[(size_t)a * blocks + a], st);
            for (int b = a + 1; b < blocks; ++b)
                cross_block(net, so, A[a], A[b], l, layout.layers[b], partial[(size_t)a * blocks + b], st);
        }
    }
    // scatter the packed blocks into the (work x work) matrix, divided by N, mirrored
    Tensor H(layout.size, layout.size);
    const double inv_n = 1.0 / X.rows;
    for (int a = 0; a < blocks; ++a) {
        const int l = layout.layers[a], nl = s.n_out(l), dl = s.n_in(l) + s.bias;
        const size_t base = layout.base[a];
        const Tensor& T = partial[(size_t)a * blocks + a];
        for (int i = 0, pik = 0; i < nl; ++i)
            for (int k = i; k < nl; ++k, ++pik)
                for (int j = 0, pjq = 0; j < dl; ++j)
                    for (int q = j; q < dl; ++q, ++pjq) {
                        const double v = T(pik, pjq) * inv_n;
                        const size_t r1 = base + local_index(s, l, i, j), c1 = base + local_index(s, l, k, q);
                        const size_t r2 = base + local_index(s, l, i, q), c2 = base + local_index(s, l, k, j);
                        H(r1, c1) = H(c1, r1) = v;  // (i,j),(k,q) and, by the symmetry of a a^T, (i,q),(k,j)
                        H(r2, c2) = H(c2, r2) = v;
                    }
        for (int b = a + 1; b < blocks; ++b) {
            const int m = layout.layers[b], nm = s.n_out(m), dm = s.n_in(m) + s.bias;
            const Tensor& R = partial[(size_t)a * blocks + b];
            for (int j = 0; j < dl; ++j)
                for (int i = 0; i < nl; ++i)
                    for (int k = 0; k < nm; ++k)
                        for (int q = 0; q < dm; ++q) {
                            const size_t row = base + local_index(s, l, i, j),
                                         col = layout.base[b] + local_index(s, m, k, q);
                            H(row, col) = H(col, row) = R(j, ((size_t)i * nm + k) * dm + q) * inv_n;
                        }
        }
    }
    if (stats) *stats = st;
    if (indices.size() == layout.size) return H;  // the subset is whole layer blocks
    std::vector<size_t> at(indices.size());       // position of each wanted index in the work matrix
    for (size_t k = 0; k < indices.size(); ++k) {
        for (int a = 0; a < blocks; ++a) {
            const size_t begin = s.weight_offset(layout.layers[a]);
            if (indices[k] >= begin && indices[k] < begin + s.layer_size(layout.layers[a]))
                at[k] = layout.base[a] + indices[k] - begin;
        }
    }
    Tensor out((int)indices.size(), (int)indices.size());
    for (size_t r = 0; r < indices.size(); ++r)
        for (size_t c = 0; c < indices.size(); ++c) out(r, c) = H(at[r], at[c]);
    return out;
}

OutputCurvature layer_output_curvature(const Mlp& net, const Tensor& X, const std::vector<int>& labels, int layer) {
    check_data(net, X, labels);
    layer_indices(net.spec, layer, false);  // range check
    SecondOrder so;
    second_order_pass(net, X, labels.data(), layer, so);
    return {so.delta[layer + 1], so.G[layer + 1]};
}

namespace {

// The mean loss as a function of the subset theta[indices], the rest held at net.theta.
Var subset_loss(const Mlp& net, const Tensor& X, const std::vector<int>& labels, const std::vector<size_t>& indices,
                const Var& sub) {
    const size_t p = net.spec.n_params();
    // theta = fixed part + scatter(sub): built with pad/slice so it stays differentiable
    Tensor fixed = net.theta();
    for (size_t k : indices) fixed[k] = 0.0;
    Var theta = constant(fixed);
    for (size_t k = 0; k < indices.size();) {  // one pad per contiguous run of indices
        size_t run = 1;
        while (k + run < indices.size() && indices[k + run] == indices[k] + run) ++run;
        theta = theta + pad(slice(sub, (int)k, 0, (int)run, 1), (int)p, 1, (int)indices[k], 0);
        k += run;
    }
    return loss_graph(net.spec.loss, net.model.forward_at(theta, constant_view(X)), labels);
}

}  // namespace

Tensor hessian_plain(const Mlp& net, const Tensor& X, const std::vector<int>& labels,
                     const std::vector<size_t>& indices) {
    check_indices(net.spec, indices);
    check_data(net, X, labels);
    Tensor sub((int)indices.size(), 1);
    for (size_t k = 0; k < indices.size(); ++k) sub[k] = net.theta()[indices[k]];
    return hessian([&](const Var& t) { return subset_loss(net, X, labels, indices, t); }, sub);
}

HessianVectorProduct::HessianVectorProduct(const Mlp& net, const Tensor& X, const std::vector<int>& labels,
                                           std::vector<size_t> indices)
    : indices_(std::move(indices)), n_params_(net.spec.n_params()) {
    check_indices(net.spec, indices_);
    check_data(net, X, labels);
    Tensor sub((int)indices_.size(), 1);
    for (size_t k = 0; k < indices_.size(); ++k) sub[k] = net.theta()[indices_[k]];
    theta_ = variable(sub);
    gradient_ = grad(subset_loss(net, X, labels, indices_, theta_), {theta_}, true)[0];
}

std::vector<double> HessianVectorProduct::operator()(const std::vector<double>& v) const {
    if (v.size() != indices_.size())
        throw std::invalid_argument("hvp: vector has " + std::to_string(v.size()) + " entries, the subset " +
                                    std::to_string(indices_.size()));
    return grad(gradient_, {theta_}, false, constant(Tensor((int)v.size(), 1, v)))[0].value().data.to_vector();
}

double dense_hessian_bytes(size_t k, bool eigen) {
    const double kk = (double)k * k;
    return 8 * (eigen ? 5 * kk + 6.0 * k + 1 : 2 * kk);
}

double physical_memory_bytes() { return (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE); }

void check_memory(double bytes, double limit, const std::string& what) {
    if (bytes <= limit) return;
    char msg[512];
    std::snprintf(msg, sizeof msg,
                  "%s needs %.2f GB, over the memory limit of %.2f GB (default: half the physical memory; "
                  "--memory-limit sets it)",
                  what.c_str(), bytes / 1e9, limit / 1e9);
    throw std::runtime_error(msg);
}

}  // namespace awd
