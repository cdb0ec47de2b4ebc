// duality.h: the A-W duality analysis of one layer (experiments/aw/README.md).
// Is not: the dual weights of one pair (dual_weights.h), the pairing (pairing.h) or the Hessian (hessian.h).
//
// Each test sample x'_k is paired with a same-label training sample x_n(k). The minimal dual
// weights dW_k of layer l carry the training sample's activity to the test sample's, so
//   dl_k = l(x'_k) - l(x_n(k)) = l(x_n(k); theta + dtheta_k) - l(x_n(k); theta),
// and mean_k dl_k = L_test - L_paired. Over the eigenvectors v_i of H, the Hessian of the
// training loss with respect to layer l's weights, with w_ki = v_i . dW_k and the secant
// gradient g_k = (dl_k / |dW_k|^2) dW_k, g_ki = v_i . g_k:
//   mean_k dl_k = sum_i (mu_g,i mu_w,i + c_i sigma_g,i sigma_w,i)          (the identity, exact)
//   L_test - L_train ~ 1/2 sum_i lambda_i (sigma_w,i^2 + mu_w,i^2)         (curvature form)
//   dl_k ~ grad l_n . dW_k + 1/2 dW_k^T H_n dW_k                           (per-sample Taylor)
// The training set is the clean one (under label noise, the caller passes the clean subset).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "analysis/pairing.h"
#include "analysis/verify.h"
#include "nn/data.h"
#include "nn/mlp.h"

namespace awd {

struct DualityOptions {
    int layer = 1;
    Pairing pairing = Pairing::Nearest;
    DualVariant variant = DualVariant::Minimal;  // minimal (W only) or bias (W and b together)
    uint64_t seed = 0;                           // random pairing
};

struct Direction {                                                 // one eigen-direction v_i of H
    double lambda, mu_w, mu_g, sigma_w, sigma_g, c, contribution;  // contribution = mu_g mu_w + c sigma_g sigma_w
};

struct PairRecord {
    int test_index, train_index, label;
    bool skipped;  // the training activity a is zero: the minimal dual is undefined
    double dl, dual_dl, taylor, dW_norm, verify_double_u, verify_long_double_u;
};

struct DualityReport {
    int layer = 0;
    size_t P = 0;  // parameters of the analysed block
    int n_pairs = 0, n_skipped = 0;
    double L_train = 0, L_test = 0, L_paired = 0, gap = 0, gap_paired = 0;
    double identity_estimate = 0, identity_residual = 0, curvature_estimate = 0, taylor_estimate = 0,
           exact_dual_loss = 0;
    double verify_double_u = 0, verify_long_double_u = 0;
    double sum_sigma_w = 0, sum_sigma_g = 0, weight_norm = 0, activity_weighted_norm = 0, mean_dW_norm = 0;
    double top_eigenvalue = 0, trace = 0;
    std::vector<Direction> directions;  // eigenvalue order, descending
    std::vector<PairRecord> pairs;
    std::vector<std::pair<std::string, double>> stage_seconds;
};

DualityReport analyse_duality(const Mlp& net, const Dataset& train, const Dataset& test, const DualityOptions& options);

}  // namespace awd
