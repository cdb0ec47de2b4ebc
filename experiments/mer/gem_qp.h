// gem_qp.h: GEM's dual quadratic program and the projection of a gradient it gives. Is not: the
// GEM method's memories or its step (continual.cpp).
#pragma once

#include <vector>

#include "autodiff/tensor.h"

namespace awd {

// min_u 1/2 u^T P u + c^T u subject to u >= 0, P (n x n) symmetric positive definite, solved
// exactly by an active-set method (Lawson-Hanson on the quadratic; each passive set is solved
// by Cholesky). n is at most the number of tasks.
std::vector<double> solve_nonnegative_qp(const Tensor& P, const std::vector<double>& c);
// The largest violation of the KKT conditions of that problem at u: u >= 0, P u + c >= 0,
// u_i (P u + c)_i = 0 (each relative to the size of the terms).
double nonnegative_qp_kkt_violation(const Tensor& P, const std::vector<double>& c, const std::vector<double>& u);

// GEM's projection of g (P values) against the memory gradients G (n x P, one per earlier task):
// the dual min_v 1/2 v^T (G G^T + eps I) v + (G g)^T v, v >= margin (GEM's reference code;
// u = v - margin makes it non-negative), then g~ = g + G^T v, so G g~ >= -eps v.
std::vector<double> gem_project(const Tensor& G, const std::vector<double>& g, double margin, double eps);

}  // namespace awd
