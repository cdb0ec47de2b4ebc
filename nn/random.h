// random.h: the project's general random number generator. The engine is mt19937_64, whose
// output the C++ standard fixes; the distributions are written here (not std::*_distribution,
// whose algorithms vary between standard libraries), so a seed gives the same numbers anywhere.
// Is not: a source of entropy (every stream is seeded), nor the landscapes' vectorised normal pairs
// (nn/normal_streams.h).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace awd {

// A seed for an independent stream (initialisation, shuffling, dropout, ...) derived from one
// user seed by the splitmix64 finaliser, so that streams do not overlap.
inline uint64_t stream_seed(uint64_t seed, uint64_t stream) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

class Rng {
public:
    explicit Rng(uint64_t seed) : engine_(seed) {}

    uint64_t bits() { return engine_(); }
    double uniform() { return (double)(engine_() >> 11) * 0x1.0p-53; }  // [0, 1), 53 random bits
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    double normal() {  // Box-Muller; 1 - u is in (0, 1], so the log is finite
        const double u = 1.0 - uniform(), v = uniform();
        return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
    }
    // Uniform in [0, n) without modulo bias.
    uint64_t index(uint64_t n) {
        const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
        uint64_t r;
        do r = engine_();
        while (r >= limit);
        return r % n;
    }
    template <class T>
    void shuffle(std::vector<T>& v) {  // Fisher-Yates
        for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[index(i)]);
    }

private:
    std::mt19937_64 engine_;
};

}  // namespace awd
