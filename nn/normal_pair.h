// normal_pair.h: one lane's step of NormalPairStreams (nn/normal_streams.h): a xoshiro256++ step twice and the
// branch-free Box-Muller pair, as inline functions, so that a loop over runs can draw its pair in the same pass that
// uses it (experiments/sgd/valley.cpp) and every value stays in a register. ln is fdlibm's (e_log.c: Sun
// Microsystems, freely distributable) with its branches turned into bit arithmetic; sin and cos of 2 pi v are
// Taylor polynomials in v's exact offset from the nearest quarter turn. Polynomials are evaluated with explicit fused multiply-adds
// (std::fma: one rounding each, the same in scalar and vector code), which halves their instructions and shortens the
// dependency chains a loop over lanes waits on. g++ -O3 vectorises a loop over lanes of these kernels.
// Is not: a general libm: log only on (0, 1] without subnormals, sincos only of 2 pi v for v in [0, 1).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace awd::normal_pair_kernels {

inline uint64_t bits_of(double x) { return std::bit_cast<uint64_t>(x); }
inline double double_of(uint64_t b) { return std::bit_cast<double>(b); }

// One xoshiro256++ step of one stream's state (a, b, c, d): returns 64 random bits.
inline uint64_t xoshiro_next(uint64_t& a, uint64_t& b, uint64_t& c, uint64_t& d) {
    const uint64_t sum = a + d, result = ((sum << 23) | (sum >> 41)) + a, t = b << 17;
    c ^= a, d ^= b, b ^= c, a ^= d, c ^= t, d = (d << 45) | (d >> 19);
    return result;
}

// 1 + (the top 52 bits of r) 2^-52, in [1, 2): the bits placed under the exponent of 1, a shift and an or. Taking
// 53 bits (Rng::uniform's resolution) would need a two-part conversion (AVX2 has no 64-bit integer to double
// conversion) on the chain every run-step of a landscape waits on: 7% of the valley's run-step, measured.
inline double one_plus_52_bits(uint64_t r) { return double_of(0x3FF0000000000000ull | (r >> 12)); }

// ln u for normal u > 0 (fdlibm e_log.c): u = 2^k m with m in [sqrt(2)/2, sqrt(2)), f = m - 1,
// s = f / (2 + f), ln(1 + f) = 2 atanh s = f - f^2/2 + s (f^2/2 + R(s^2)), R of degree 14. fdlibm picks between
// this form and one without f^2/2 by the size of f; with fused multiply-adds this form alone stays within one ulp
// (tests/test_normal_streams.cpp), so there is no select.
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
    const double t1 = w * std::fma(w, std::fma(w, Lg6, Lg4), Lg2);
    const double t2 = z * std::fma(w, std::fma(w, std::fma(w, Lg7, Lg5), Lg3), Lg1);
    const double hfsq = 0.5 * f * f;
    return std::fma(k, ln2_hi, f - (hfsq - std::fma(s, hfsq + (t2 + t1), k * ln2_lo)));
}

constexpr long double kHalfPi = 1.570796326794896619231321691639751442L;

// (pi/2)^n / n! with the given sign, computed in long double and rounded once: the Taylor coefficients below.
constexpr double half_pi_taylor(int n, int sign) {
    long double term = 1;
    for (int i = 1; i <= n; ++i) term = term * kHalfPi / i;
    return (double)(sign * term);
}

// sin(pi r / 2) and cos(pi r / 2) for |r| <= 1/2 (angles up to pi/4) by their Taylor series in r to r^17 and r^16
// (the first terms left out are at most 8e-20 and 2e-18, under 0.02 ulp). pi/2 = s0 + s0_lo to 2^-106: the leading
// term r s0 is added last in one fused multiply-add, so a tiny r keeps full relative accuracy.
inline void sincos_half_pi_kernel(double r, double& sine, double& cosine) {
    constexpr double s0 = half_pi_taylor(1, 1), s0_lo = (double)(kHalfPi - s0), s1 = half_pi_taylor(3, -1),
                     s2 = half_pi_taylor(5, 1), s3 = half_pi_taylor(7, -1), s4 = half_pi_taylor(9, 1),
                     s5 = half_pi_taylor(11, -1), s6 = half_pi_taylor(13, 1), s7 = half_pi_taylor(15, -1),
                     s8 = half_pi_taylor(17, 1);
    constexpr double c1 = half_pi_taylor(2, -1), c2 = half_pi_taylor(4, 1), c3 = half_pi_taylor(6, -1),
                     c4 = half_pi_taylor(8, 1), c5 = half_pi_taylor(10, -1), c6 = half_pi_taylor(12, 1),
                     c7 = half_pi_taylor(14, -1), c8 = half_pi_taylor(16, 1);
    const double z = r * r;
    double ps = s8, pc = c8;  // Horner in z: ps = s1 + s2 z + ... + s8 z^7, pc = c1 + c2 z + ... + c8 z^7
#pragma GCC unroll 7          // unrolled, g++ 12 vectorises the loop over lanes around it
    for (double coefficient : {s7, s6, s5, s4, s3, s2, s1}) ps = std::fma(ps, z, coefficient);
#pragma GCC unroll 7
    for (double coefficient : {c7, c6, c5, c4, c3, c2, c1}) pc = std::fma(pc, z, coefficient);
    sine = std::fma(r, s0, r * std::fma(ps, z, s0_lo));  // r (s0 + s0_lo + s1 z + ...)
    cosine = std::fma(pc, z, 1.0);
}

// sin(2 pi v), cos(2 pi v) for v in [0, 1): q = round(4 v), r = 4 v - q in [-1/2, 1/2] (both exact), the kernel
// at r, then the quadrant q mod 4 swaps and negates its sin and cos.
inline void sincos_2pi_kernel(double v, double& sine, double& cosine) {
    // q by adding and subtracting 1.5 2^52 (round to nearest even), not std::floor: g++ vectorises floor only
    // under -fno-trapping-math
    const double shifted = 4.0 * v + 0x1.8p52, q = shifted - 0x1.8p52, r = 4.0 * v - q;
    const uint64_t quadrant = bits_of(shifted) & 3;  // q mod 4: the low bits of the shifted sum are q's
    double s, c;
    sincos_half_pi_kernel(r, s, c);
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

// The next pair (z1, z2) of the stream whose xoshiro256++ state is (a, b, c, d): from two steps, u = 2 - (1 + 52 bits
// 2^-52) in (0, 1] (never 0: ln u is finite) and v = (1 + 52 bits 2^-52) - 1 in [0, 1), both subtractions exact, then
// z1 = rho cos(2 pi v), z2 = rho sin(2 pi v), rho = sqrt(-2 ln u).
inline void normal_pair(uint64_t& a, uint64_t& b, uint64_t& c, uint64_t& d, double& z1, double& z2) {
    using namespace normal_pair_kernels;
    const double u = 2.0 - one_plus_52_bits(xoshiro_next(a, b, c, d));  // (0, 1]
    const double v = one_plus_52_bits(xoshiro_next(a, b, c, d)) - 1.0;  // [0, 1)
    const double rho = std::sqrt(-2.0 * log_kernel(u));
    double sine, cosine;
    sincos_2pi_kernel(v, sine, cosine);
    z1 = rho * cosine, z2 = rho * sine;
}

}  // namespace awd
