// normal_streams.cpp: xoshiro256++ streams in structure-of-arrays form and a branch-free Box-Muller
// (normal_streams.h); the per-lane kernels are in nn/normal_pair.h.

#include "nn/normal_streams.h"

#include <stdexcept>
#include <string>

#include "nn/normal_pair.h"
#include "nn/random.h"

namespace awd {

namespace {

// The loop of NormalPairStreams::next over lanes [begin, end); __restrict (on parameters, where g++ honours it)
// tells the vectoriser that the four state arrays and the two outputs do not overlap.
void next_pairs(uint64_t* __restrict a, uint64_t* __restrict b, uint64_t* __restrict c, uint64_t* __restrict d,
                double* __restrict z1, double* __restrict z2, size_t begin, size_t end) {
    for (size_t s = begin; s < end; ++s) {
        // state and pair in locals: g++ 12 vectorises this loop only so
        uint64_t sa = a[s], sb = b[s], sc = c[s], sd = d[s];
        double pair1, pair2;
        normal_pair(sa, sb, sc, sd, pair1, pair2);
        a[s] = sa, b[s] = sb, c[s] = sc, d[s] = sd, z1[s] = pair1, z2[s] = pair2;
    }
}

}  // namespace

NormalPairStreams::NormalPairStreams(uint64_t seed, size_t streams)
    : s0_(streams), s1_(streams), s2_(streams), s3_(streams) {
    if (streams == 0) throw std::invalid_argument("NormalPairStreams: streams must be at least 1, got 0");
    for (size_t s = 0; s < streams; ++s) {  // the first four splitmix64 outputs from state stream_seed(seed, s)
        const uint64_t state = stream_seed(seed, s);
        s0_[s] = stream_seed(state, 0), s1_[s] = stream_seed(state, 1), s2_[s] = stream_seed(state, 2),
        s3_[s] = stream_seed(state, 3);  // four distinct outputs of a bijection: never the all-zero state
    }
}

void NormalPairStreams::next(double* z1, double* z2, size_t begin, size_t end) {
    if (begin > end || end > size())
        throw std::invalid_argument("NormalPairStreams::next: range [" + std::to_string(begin) + ", " +
                                    std::to_string(end) + ") is not inside the " + std::to_string(size()) + " streams");
    next_pairs(s0_.data(), s1_.data(), s2_.data(), s3_.data(), z1, z2, begin, end);
}

double log_unit_interval(double u) { return normal_pair_kernels::log_kernel(u); }

void sincos_two_pi(double v, double* sine, double* cosine) {
    normal_pair_kernels::sincos_2pi_kernel(v, *sine, *cosine);
}

}  // namespace awd
