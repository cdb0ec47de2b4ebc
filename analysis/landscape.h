// landscape.h: what the toy-landscape experiments of THEORY section 5 share: derivatives of
// many independent runs at once, the clipped Hessian of a 2 x 2 symmetric matrix, and the
// Dawson function (for the Kramers escape rate, which needs erfi).
//
// A batch of R runs of a D-parameter landscape is one (R, D) tensor theta, row r = run r.
// The loss is a graph mapping theta to the (R, 1) column of per-run losses, row r depending
// only on row r of theta. Then the gradient of sum_r L_r is the (R, D) matrix of per-run
// gradients, and the gradient of sum_r dL_r/dtheta_rj is row r's Hessian column j: the exact
// per-run Hessians cost D more backward passes, however many runs there are.
#pragma once

#include <functional>

#include "autodiff/autodiff.h"

namespace awd {

using BatchedLoss = std::function<Var(const Var& theta)>;  // (R, D) -> (R, 1)

struct BatchedDerivatives {
    Tensor loss;      // (R, 1)
    Tensor gradient;  // (R, D)
    Tensor hessian;   // (R, D*D): run r's Hessian, row-major; empty unless asked for
};
BatchedDerivatives batched_derivatives(const BatchedLoss& f, const Tensor& theta, bool with_hessian);

// A symmetric 2 x 2 matrix [[a, b], [b, c]].
struct Sym2 {
    double a = 0, b = 0, c = 0;
};
// Eigenvalues (descending) and the unit eigenvector (cos phi, sin phi) of the first, in closed form.
struct Eigen2 {
    double l1, l2, cos_phi, sin_phi;
};
Eigen2 eigen2(const Sym2& H);
Sym2 clip_negative(const Sym2& H);   // H+ : the same eigenvectors, negative eigenvalues set to 0
Sym2 sqrt_clipped(const Sym2& H);    // (H+)^(1/2), the PSD square root of H+

// Dawson's function D(z) = exp(-z^2) int_0^z exp(t^2) dt, to ~1e-13 relative for z >= 0.
// erfi(z) = 2/sqrt(pi) exp(z^2) D(z); the escape rates use D directly so nothing overflows.
double dawson(double z);
double erfi(double z);  // overflows to inf beyond z ~ 26.6, like exp(z^2)

}  // namespace awd
