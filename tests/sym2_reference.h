// sym2_reference.h: H+ and (H+)^(1/2) of a symmetric 2 x 2 matrix through its eigen-decomposition
// (an angle and two eigenvalues), the textbook route the landscapes' branch-free closed form
// (sqrt_clipped_closed_form, experiments/sgd/landscape.h) is tested against.
// Is not: used by the simulations (trigonometry does not vectorise).
#pragma once

#include <algorithm>
#include <cmath>

#include "experiments/sgd/landscape.h"

namespace awd {

// Eigenvalues (descending) and the unit eigenvector (cos phi, sin phi) of the first, in closed form.
struct Eigen2 {
    double l1, l2, cos_phi, sin_phi;
};
inline Eigen2 eigen2(const Sym2& H) {
    const double mid = 0.5 * (H.a + H.c), half_gap = std::hypot(0.5 * (H.a - H.c), H.b);
    const double phi = 0.5 * std::atan2(2 * H.b, H.a - H.c);  // angle of the top eigenvector
    return {mid + half_gap, mid - half_gap, std::cos(phi), std::sin(phi)};
}

// sum_i w_i v_i v_i^T over the two eigenvectors
inline Sym2 recombine(const Eigen2& e, double w1, double w2) {
    const double c = e.cos_phi, s = e.sin_phi;
    return {w1 * c * c + w2 * s * s, (w1 - w2) * c * s, w1 * s * s + w2 * c * c};
}

// H+ : the same eigenvectors, negative eigenvalues set to 0 (H itself, exactly, when it is PSD)
inline Sym2 clip_negative(const Sym2& H) {
    const Eigen2 e = eigen2(H);
    if (e.l2 >= 0) return H;
    return recombine(e, std::max(e.l1, 0.0), 0.0);
}

// (H+)^(1/2), the PSD square root of H+
inline Sym2 sqrt_clipped(const Sym2& H) {
    const Eigen2 e = eigen2(H);
    return recombine(e, std::sqrt(std::max(e.l1, 0.0)), std::sqrt(std::max(e.l2, 0.0)));
}

}  // namespace awd
