// random.h: the project's general random number generator. The engine is mt19937_64, whose
// output the C++ standard fixes; it is written out here (Mt19937_64, tested against
// std::mt19937_64) so that many numbers can be drawn at once in loops the compiler vectorises.
// The distributions are written here too (not std::*_distribution, whose algorithms vary between
// standard libraries), so a seed gives the same numbers anywhere.
// Is not: a source of entropy (every stream is seeded), nor the landscapes' vectorised normal pairs
// (nn/normal_streams.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
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

// The 64-bit Mersenne Twister of the C++ standard (std::mt19937_64 with its default
// parameters): the same numbers for the same seed. Its state is refilled 312 words at a time;
// fill() copies out whole runs of tempered words, which is what makes bulk draws fast.
class Mt19937_64 {
public:
    explicit Mt19937_64(uint64_t seed) {
        x_[0] = seed;
        for (int i = 1; i < kN; ++i) x_[i] = 6364136223846793005ull * (x_[i - 1] ^ (x_[i - 1] >> 62)) + (uint64_t)i;
        next_ = kN;
    }
    uint64_t operator()() {
        if (next_ == kN) refill();
        return out_[next_++];
    }
    // out[0 .. n): the next n numbers, as n calls of operator() would give them.
    void fill(uint64_t* out, size_t n) {
        while (n > 0) {
            if (next_ == kN) refill();
            const size_t take = std::min(n, (size_t)(kN - next_));
            std::copy_n(out_ + next_, take, out);
            next_ += (int)take, out += take, n -= take;
        }
    }

private:
    static constexpr int kN = 312, kM = 156;
    static constexpr uint64_t kMatrix = 0xB5026F5AA96619E9ull, kUpper = ~0ull << 31, kLower = ~kUpper;
    static uint64_t twist(uint64_t here, uint64_t next, uint64_t far) {
        const uint64_t y = (here & kUpper) | (next & kLower);
        return far ^ (y >> 1) ^ ((y & 1) ? kMatrix : 0);
    }
    // The next 312 words of state (three loops, so that none reads a word it wrote in the same
    // vector), then the 312 outputs tempered from them.
    void refill() {
        for (int i = 0; i < kN - kM; ++i) x_[i] = twist(x_[i], x_[i + 1], x_[i + kM]);
        for (int i = kN - kM; i < kN - 1; ++i) x_[i] = twist(x_[i], x_[i + 1], x_[i + kM - kN]);
        x_[kN - 1] = twist(x_[kN - 1], x_[0], x_[kM - 1]);
        for (int i = 0; i < kN; ++i) {
            uint64_t y = x_[i];
            y ^= (y >> 29) & 0x5555555555555555ull;
            y ^= (y << 17) & 0x71D67FFFEDA60000ull;
            y ^= (y << 37) & 0xFFF7EEE000000000ull;
            out_[i] = y ^ (y >> 43);
        }
        next_ = 0;
    }
    uint64_t x_[kN], out_[kN];
    int next_;
};

// [0, 1) from 53 random bits of a 64-bit draw.
inline double uniform_of_bits(uint64_t bits) { return (double)(bits >> 11) * 0x1.0p-53; }

class Rng {
public:
    explicit Rng(uint64_t seed) : engine_(seed) {}

    uint64_t bits() { return engine_(); }
    double uniform() { return uniform_of_bits(engine_()); }  // [0, 1), 53 random bits
    // out[0 .. n): the next n uniform() values, drawn in bulk (dropout masks).
    void uniforms(double* out, size_t n) {
        uint64_t bits[512];
        for (size_t done = 0; done < n; done += 512) {
            const size_t take = std::min<size_t>(512, n - done);
            engine_.fill(bits, take);
            for (size_t k = 0; k < take; ++k) out[done + k] = uniform_of_bits(bits[k]);
        }
    }
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
    Mt19937_64 engine_;
};

}  // namespace awd
