// normal_streams.h: many independent streams of standard normal pairs, one stream per lane (per run of a
// landscape), drawn for a whole range of lanes in one loop the compiler vectorises.
//
// Engine: xoshiro256++ (Blackman and Vigna) per stream, its four 64-bit state words kept as four arrays
// (structure of arrays), so that one step of every stream in a range is four loads, shifts, xors, adds and
// four stores per lane: no multiplication (rotations are two shifts and an or), nothing carried across lanes.
// A counter-based generator (Philox4x32) would vectorise too, but spends ten rounds of 32 x 32 -> 64-bit products
// on four 32-bit numbers where xoshiro256++ spends one step of shifts and xors on 64 bits. Stream s is seeded
// from splitmix64 of stream_seed(seed, s) (nn/random.h), so it depends only on (seed, s): never on the number of
// streams or on how the range is split between calls or threads.
//
// Normals: Box-Muller with both outputs, z1 = rho cos(2 pi v), z2 = rho sin(2 pi v), rho = sqrt(-2 ln u),
// u = 1 - (52 random bits) 2^-52 in (0, 1] (never ln 0) and v = (52 random bits) 2^-52 in [0, 1): one bit fewer
// than Rng::uniform, whose 53rd bit would cost 7% of a landscape's run-step (nn/normal_pair.h); the smallest u,
// 2^-52, bounds |z| by 8.49 (53 bits: 8.57), a normal's tail beyond which has probability 2e-17. ln and sincos
// are written (nn/normal_pair.h) in plain double arithmetic without branches (fdlibm's ln; sin and cos by Taylor
// polynomials in r = 4 v - round(4 v), the angle's exact offset from the nearest quarter turn; exponent and
// mantissa split by bit manipulation) so that the loop over lanes vectorises without -ffast-math; both are within
// about one ulp of the correctly rounded value (tests/test_normal_streams.cpp measures it). Every operation, fused
// multiply-adds included, is one IEEE rounding, so vector and scalar code give the same bytes (compared: -O0, and
// -O3 for SSE2, AVX2 and AVX-512; without hardware FMA, std::fma is a library call: the same numbers, far slower).
//
// Is not: the project's general random number generator (that is Rng, nn/random.h); its numbers are not
// Rng's numbers; not a cryptographic generator.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace awd {

// S independent streams of N(0, 1) pairs, one stream per lane (per run of a landscape): stream s
// depends only on (seed, s), never on S or on how lanes are split over threads.
class NormalPairStreams {
public:
    NormalPairStreams(uint64_t seed, size_t streams);
    size_t size() const { return s0_.size(); }
    // z1[s], z2[s] for s in [begin, end): the next pair of every stream in the range (one Box-Muller pair)
    void next(double* z1, double* z2, size_t begin, size_t end);
    void next(double* z1, double* z2) { next(z1, z2, 0, size()); }
    // The four xoshiro256++ state arrays (word k of stream s at state()[k][s]), for a loop that draws its pairs with
    // normal_pair() (nn/normal_pair.h) in the same pass that uses them: the same pairs as next().
    std::array<uint64_t*, 4> state() { return {s0_.data(), s1_.data(), s2_.data(), s3_.data()}; }

private:
    std::vector<uint64_t> s0_, s1_, s2_, s3_;  // xoshiro256++ state word k of every stream: (S)
};

// The two kernels of next(), one value at a time, for the tests.
// ln u for u in (0, 1] (normal numbers: the smallest u that next() makes is 2^-53).
double log_unit_interval(double u);
// sin(2 pi v) and cos(2 pi v) for v in [0, 1).
void sincos_two_pi(double v, double* sine, double* cosine);

}  // namespace awd
