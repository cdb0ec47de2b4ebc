// normal_pair.h: one lane's step of NormalPairStreams (nn/normal_streams.h): a xoshiro256++ step twice and the
// branch-free Box-Muller pair, as inline functions, so that a loop over runs can draw its pair in the same pass that
// uses it (experiments/sgd/valley.cpp) and every value stays in a register. The kernels are fdlibm's (e_log.c,
// k_sin.c, k_cos.c: Sun Microsystems, freely distributable) with every branch turned into a select, so that g++ -O3
// vectorises a loop over lanes.
// Is not: a general libm: log only on (0, 1] without subnormals, sincos only of 2 pi v for v in [0, 1).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace awd::normal_pair_kernels {

inline uint64_t bits_of(double x) { return std::bit_cast<uint64_t>(x); }
inline double double_of(uint64_t b) { return std::bit_cast<double>(b); }
// mask ? a : b bit by bit, for a mask of all ones or all zeros: g++ vectorises this where it turns some ternaries
// into branches (with -march=haswell, for one)
inline double select(uint64_t mask, double a, double b) {
    return double_of((bits_of(a) & mask) | (bits_of(b) & ~mask));
}
// All ones when x < 0, else zero (C++20 defines >> of a negative number as arithmetic).
inline uint64_t negative_mask(int64_t x) { return (uint64_t)(x >> 63); }

// One xoshiro256++ step of one stream's state (a, b, c, d): returns 64 random bits.
inline uint64_t xoshiro_next(uint64_t& a, uint64_t& b, uint64_t& c, uint64_t& d) {
    const uint64_t sum = a + d, result = ((sum << 23) | (sum >> 41)) + a, t = b << 17;
    c ^= a, d ^= b, b ^= c, a ^= d, c ^= t, d = (d << 45) | (d >> 19);
    return result;
}

// The top 53 bits of r as a double k in [0, 2^53), exactly, without an integer-to-double conversion
// (AVX2 has none for 64-bit integers): the low 52 bits of k under the exponent of 2^52 are the double
// 2^52 + (k mod 2^52); the top bit of k adds 0 or 2^52.
inline double top53(uint64_t r) {
    const uint64_t k = r >> 11, two52 = 0x4330000000000000ull;
    const double low = double_of(two52 | (k & 0x000FFFFFFFFFFFFFull)) - 0x1p52;
    const double high = double_of(two52 & (0 - (k >> 52)));
    return low + high;
}

// ln u for normal u > 0 (fdlibm e_log.c): u = 2^k m with m in [sqrt(2)/2, sqrt(2)), f = m - 1,
// s = f / (2 + f), ln(1 + f) = 2 atanh s = f - f^2/2 + s (f^2/2 + R(s^2)), R of degree 14.
inline double log_kernel(double u) {
    constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10,
                     Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
                     Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                     Lg7 = 1.479819860511658591e-01;
    const uint64_t b = bits_of(u), mantissa = b & 0x000FFFFFFFFFFFFFull, high20 = mantissa >> 32;
    // m >= sqrt(2) (fdlibm's test on the top 20 mantissa bits) goes to m / 2 and one exponent up
    const uint64_t up = ((high20 + 0x95f64) >> 20) & 1;
    const double k = (double_of(0x4330000000000000ull | ((b >> 52) + up)) - 0x1p52) - 1023.0;  // exactly
    const double m = double_of(mantissa | ((0x3FFull - up) << 52));
    const double f = m - 1.0, s = f / (2.0 + f), z = s * s, w = z * z;
    const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6)), t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7))), R = t2 + t1;
    // fdlibm's choice between two equally accurate forms: the one with f^2/2 for m near sqrt(2) (|f| largest)
    const int64_t i = (int64_t)high20 - 0x6147a, j = 0x6b851 - (int64_t)high20;  // never both 0
    const uint64_t near_sqrt2 = ~negative_mask(i | j);
    const double hfsq = 0.5 * f * f;
    const double with_hfsq = k * ln2_hi - ((hfsq - (s * (hfsq + R) + k * ln2_lo)) - f);
    const double without = k * ln2_hi - ((s * (f - R) - k * ln2_lo) - f);
    return select(near_sqrt2, with_hfsq, without);
}

// sin(x + y) and cos(x + y) for |x + y| <= pi/4 (a little more is harmless), |y| <= ulp(x) / 2
// (fdlibm k_sin.c and k_cos.c; the branch on |x| of k_cos.c becomes the select on qx).
inline void sincos_kernel(double x, double y, double& sine, double& cosine) {
    constexpr double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                     S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                     S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    constexpr double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03, C3 = 2.48015872894767294178e-05,
                     C4 = -2.75573143513906633035e-07, C5 = 2.08757232129817482790e-09,
                     C6 = -1.13596475577881948265e-11;
    const double z = x * x, v = z * x;
    const double rs = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
    sine = x - ((z * (0.5 * y - v * rs) - y) - v * S1);
    const double rc = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
    // cos = 1 - z/2 + ...: for |x| >= 0.3 fdlibm moves qx ~ x^2/8 out of 1 - z/2 so the subtraction is exact
    const double ax = std::fabs(x);
    const uint64_t below = negative_mask((int64_t)(bits_of(ax) - bits_of(0.3))),
                   above = negative_mask((int64_t)(bits_of(0.78125) - bits_of(ax)));
    const double qx = select(
        below, 0.0, select(above, 0.28125, double_of((bits_of(ax) & 0xFFFFFFFF00000000ull) - 0x0020000000000000ull)));
    cosine = (1.0 - qx) - ((0.5 * z - qx) - (z * rc - x * y));
}

// sin(2 pi v), cos(2 pi v) for v in [0, 1): q = round(4 v), r = 4 v - q in [-1/2, 1/2] (both exact), the angle
// r pi/2 as x + y to about 2^-106 by Dekker's exact product (no fused multiply-add: -ffp-contract=off), then
// the quadrant q mod 4 swaps and negates the kernel's sin and cos.
inline void sincos_2pi_kernel(double v, double& sine, double& cosine) {
    constexpr double pio2_hi = 1.57079632679489655800e+00, pio2_lo = 6.12323399573676603587e-17, split = 134217729.0;
    // q by adding and subtracting 1.5 2^52 (round to nearest even), not std::floor: g++ vectorises floor only
    // under -fno-trapping-math
    const double shifted = 4.0 * v + 0x1.8p52, q = shifted - 0x1.8p52, r = 4.0 * v - q;
    const uint64_t quadrant = bits_of(shifted) & 3;  // q mod 4: the low bits of the shifted sum are q's
    const double p = r * pio2_hi;
    const double rc = split * r, r_hi = rc - (rc - r), r_lo = r - r_hi;
    const double pc = split * pio2_hi, p_hi = pc - (pc - pio2_hi), p_lo = pio2_hi - p_hi;
    const double e = ((r_hi * p_hi - p) + r_hi * p_lo + r_lo * p_hi) + r_lo * p_lo + r * pio2_lo;
    const double x = p + e, y = e - (x - p);
    double s, c;
    sincos_kernel(x, y, s, c);
    // quadrants 1 and 3 swap sin and cos; 2 and 3 negate sin, 1 and 2 cos (integer masks: the vectoriser takes
    // them where it refuses some selects between booleans)
    const uint64_t swap = 0 - (quadrant & 1);  // all ones in quadrants 1 and 3
    const uint64_t sine_abs = (bits_of(c) & swap) | (bits_of(s) & ~swap),
                   cosine_abs = (bits_of(s) & swap) | (bits_of(c) & ~swap);
    sine = double_of(sine_abs ^ ((quadrant & 2) << 62));
    cosine = double_of(cosine_abs ^ (((quadrant + 1) & 2) << 62));
}

}  // namespace awd::normal_pair_kernels

namespace awd {

// The next pair (z1, z2) of the stream whose xoshiro256++ state is (a, b, c, d): u = 1 - (53 bits) 2^-53 in (0, 1]
// and v = (53 bits) 2^-53 in [0, 1) from two steps, then z1 = rho cos(2 pi v), z2 = rho sin(2 pi v),
// rho = sqrt(-2 ln u).
inline void normal_pair(uint64_t& a, uint64_t& b, uint64_t& c, uint64_t& d, double& z1, double& z2) {
    using namespace normal_pair_kernels;
    const double u = 1.0 - top53(xoshiro_next(a, b, c, d)) * 0x1p-53;  // (0, 1]
    const double v = top53(xoshiro_next(a, b, c, d)) * 0x1p-53;        // [0, 1)
    const double rho = std::sqrt(-2.0 * log_kernel(u));
    double sine, cosine;
    sincos_2pi_kernel(v, sine, cosine);
    z1 = rho * cosine, z2 = rho * sine;
}

}  // namespace awd
