// hessian.h: exact Hessians of an MLP's mean loss with respect to any subset of theta.
// Is not: the eigen-decomposition (spectrum.h) or the loss's own derivatives (nn/loss.h).
//
// Two paths, equal in exact arithmetic and held equal (<= 1e-12 relative) by the tests:
// - plain: the autodiff's reverse-over-reverse, one backward pass through the gradient graph
//   per row. General and slow: the reference.
// - fast: Hessian backpropagation through the layer structure. For one sample, with
//   z^{r+1} = W^r a^r (+ b^r), a~ = [a; 1] when there are biases, delta^r = dl/dz^r,
//   G^r = d^2 l / dz^r dz^r (backward: G^r = D W^T G^{r+1} W D + diag(phi''(z^r) * W^T delta^{r+1}),
//   D = diag(phi'(z^r))) and K = da^m / dz^{l+1} (forward: K = D_m W^{m-1} ... D_{l+1}):
//     block (l, l):  d^2 l / dW~^l_ij dW~^l_kq = G^{l+1}_ik a~^l_j a~^l_q
//     block (l < m): d^2 l / dW~^l_ij dW~^m_kq = a~^l_j [ a~^m_q (G^{m+1} W^m K)_ki + delta^{m+1}_k K_qi ]
//   Summed over samples each block is one GEMM: (samples x packed pairs)^T (samples x ...).
//   The diagonal blocks pack only the pairs i <= k and j <= q on both sides (4x fewer flops)
//   and are symmetric by construction; the off-diagonal blocks are mirrored.
#pragma once

#include <string>
#include <vector>

#include "autodiff/autodiff.h"
#include "nn/mlp.h"

namespace awd {

// Positions in theta: layer l's weights (and bias), or everything.
std::vector<size_t> layer_indices(const MlpSpec& spec, int layer, bool with_bias);
std::vector<size_t> all_indices(const MlpSpec& spec);

struct HessianStats {
    double gemm_flops = 0;  // floating-point operations in the BLAS products (fast path)
};

// Exact Hessian of the mean loss over (X, labels) with respect to theta[indices] (sorted,
// unique), as a (K, K) matrix in that order. A single row of X gives a per-sample Hessian.
Tensor hessian_fast(const Mlp& net, const Tensor& X, const std::vector<int>& labels, const std::vector<size_t>& indices,
                    HessianStats* stats = nullptr);
Tensor hessian_plain(const Mlp& net, const Tensor& X, const std::vector<int>& labels,
                     const std::vector<size_t>& indices);

// Per-sample first and second derivatives of the loss with respect to the output z^{l+1} of
// layer l: delta (N, n) and G, N blocks of (n, n). Layer l's per-sample gradient is then
// delta a~^T and its per-sample Hessian G (x) a~ a~^T.
struct OutputCurvature {
    Tensor delta;  // (N, n_out)
    Tensor G;      // (N, n_out * n_out): each row one sample's (n_out, n_out) block
};
OutputCurvature layer_output_curvature(const Mlp& net, const Tensor& X, const std::vector<int>& labels, int layer);

// Hessian-vector products of the mean loss by the autodiff (exact), for nets too big for a
// dense Hessian: the gradient graph is built once, each product is one backward pass.
// Vectors live in the subset's coordinates.
class HessianVectorProduct {
public:
    HessianVectorProduct(const Mlp& net, const Tensor& X, const std::vector<int>& labels, std::vector<size_t> indices);
    std::vector<double> operator()(const std::vector<double>& v) const;
    size_t size() const { return indices_.size(); }

private:
    std::vector<size_t> indices_;
    Var theta_, gradient_;
    size_t n_params_;
};

// Peak bytes of a dense (K, K) Hessian: while it is built, the matrix and the fast path's
// accumulated blocks (at most as much again): 2 K^2 doubles; with `eigen`, while it is
// decomposed, the matrix, dsyevd's working copy, the eigenvector matrix and dsyevd's workspace
// (1 + 6K + 2K^2 doubles): 5 K^2 + 6K + 1. (Eigenvalues alone need only O(K) more.)
double dense_hessian_bytes(size_t k, bool eigen);
double physical_memory_bytes();
// Throws std::runtime_error naming the size when `bytes` exceeds `limit`.
void check_memory(double bytes, double limit, const std::string& what);

}  // namespace awd
