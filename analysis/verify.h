// verify.h: checking the A-W duality to machine precision, in double and in long double.
// Is not: the dual weights' construction (dual_weights.h) or the statistics over pairs (duality.h).
//
// For one pair (x, x') and layer l, the two sides of the identity are computed in T from the
// activities a = a^l(x), a' = a^l(x'):
//   side 1: z' = W a' (+ b),          f(x'; theta),         l(x'; theta)
//   side 2: z~ = (W + dW) a (+ b~),   f(x; theta + dtheta), l(x; theta + dtheta)
// They are equal in real arithmetic, so their difference is rounding. It is reported in units
// of double's unit roundoff u = 2^-53, normalised by the condition of the sums involved: for a
// pre-activation, C_i = sum_j |W_ij a'_j| + sum_j |W_ij da_j| + sum_j (|W_ij| + D_ij) |a_j| + |b_i|
// + |b~_i|, with D_ij the sizes of the terms dW_ij is formed from (the sizes of every term of
// every sum that went into either side); above layer l these bounds
// are carried through each layer as first-order running error bounds (|phi'| E + 2|a| through
// an activation, sum_j |W_ij| E_j + 2 (sum_j |W_ij a_j| + |b_i|) through a dense layer), and into
// the loss by |dl/df|. A discrepancy of a few u in double is rounding. The same check in long
// double (u = 2^-64) must come out about 2^11 times smaller in double's u: the residual scales
// with the precision, so it is rounding and nothing else.
#pragma once

#include <vector>

#include "autodiff/names.h"
#include "nn/mlp.h"

namespace awd {

enum class DualVariant { Minimal, Family, BiasAbsorbed };
inline constexpr Named<DualVariant> kDualVariantNames[] = {
    {DualVariant::Minimal, "minimal"}, {DualVariant::Family, "family"}, {DualVariant::BiasAbsorbed, "bias"}};
static_assert(in_enum_order(kDualVariantNames));
inline DualVariant parse_dual_variant(const std::string& name) {
    return parse_name(name, kDualVariantNames, "dual variant");
}
inline const char* dual_variant_name(DualVariant value) { return name_of(kDualVariantNames, value); }

struct Discrepancy {  // in units of double's u, normalised by the condition of the sums
    double preactivation = 0, output = 0, loss = 0;
    double max() const { return std::max(preactivation, std::max(output, loss)); }
};

struct PairCheck {
    bool defined = false;  // false when the dual is undefined (a = 0 with the minimal variant)
    Discrepancy in_double, in_long_double;
};

// Checks the duality at `layer` for the activities a = a^l(x) and a' = a^l(x') (label: x''s).
// The identity holds exactly for whatever vectors a, a' are, so they enter both precisions as
// the same exact numbers; everything from layer l up is computed in double and in long double.
// For DualVariant::Family, M (n_out x n_in, row-major) is the free matrix of the solution.
PairCheck verify_pair(const Mlp& net, int layer, const std::vector<double>& a, const std::vector<double>& a_prime,
                      int label, DualVariant variant, const std::vector<double>* M = nullptr);

}  // namespace awd
