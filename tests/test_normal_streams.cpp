// test_normal_streams.cpp: NormalPairStreams (nn/normal_streams.h) and its two kernels.
// References: long-double libm (64-bit significands) for ln, sin and cos; the exact symmetries of sin and cos
// near their zeros; the moments of N(0, 1) and Kolmogorov-Smirnov against Phi = erfc(-z / sqrt 2) / 2.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "nn/normal_streams.h"
#include "nn/random.h"

using namespace awd;

namespace {

constexpr long double kTwoPi = 6.283185307179586476925286766559005768L;

double relative_error(double ours, long double reference) {
    return (double)(std::fabs((long double)ours - reference) / std::fabs(reference));
}

// n pairs from `steps` calls of next() on S streams: z1 values then z2 values, in step-major order.
void draw(uint64_t seed, size_t S, int steps, std::vector<double>& z1, std::vector<double>& z2) {
    NormalPairStreams streams(seed, S);
    z1.assign(S * steps, 0.0), z2.assign(S * steps, 0.0);
    for (int t = 0; t < steps; ++t) streams.next(&z1[t * S], &z2[t * S]);
}

double correlation(const std::vector<double>& a, const std::vector<double>& b) {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
    const double n = (double)a.size();
    for (size_t i = 0; i < a.size(); ++i)
        sa += a[i], sb += b[i], saa += a[i] * a[i], sbb += b[i] * b[i], sab += a[i] * b[i];
    const double ca = saa / n - (sa / n) * (sa / n), cb = sbb / n - (sb / n) * (sb / n);
    return (sab / n - (sa / n) * (sb / n)) / std::sqrt(ca * cb);
}

}  // namespace

TEST_CASE("normal streams: ln on (0, 1] within one ulp of long-double ln, exact at 1") {
    CHECK(log_unit_interval(1.0) == 0.0);
    std::vector<double> points = {0x1p-53,
                                  0x1p-52,
                                  0.5,
                                  1.0 - 0x1p-53,
                                  1.0 - 0x1p-52,
                                  0.75,
                                  M_SQRT1_2,
                                  std::nextafter(M_SQRT1_2, 1.0),
                                  std::nextafter(M_SQRT1_2, 0.0),
                                  0.7071,
                                  0.35355};
    Rng rng(11);
    for (int i = 0; i < 300000; ++i) points.push_back(1.0 - rng.uniform());  // as next() draws u
    for (int i = 0; i < 300000; ++i) points.push_back(std::ldexp(1.0 + rng.uniform(), -1 - (int)rng.index(53)));
    for (int i = 0; i < 100000; ++i) points.push_back(1.0 - std::ldexp(rng.uniform(), -(int)rng.index(52)));  // near 1
    double worst = 0, worst_std = 0;
    for (double u : points) {
        const double ours = log_unit_interval(u);
        if (u == 1.0) continue;
        worst = std::max(worst, relative_error(ours, std::log((long double)u)));
        worst_std = std::max(worst_std, std::fabs(ours - std::log(u)) / std::fabs(std::log(u)));
    }
    MESSAGE("ln: max relative error " << worst << " against long double, " << worst_std << " against std::log");
    CHECK(worst <= 2.3e-16);  // fdlibm's bound: < 1 ulp
    CHECK(worst_std <= 4e-16);
}

TEST_CASE("normal streams: sin(2 pi v) and cos(2 pi v) within one ulp of long-double sin and cos") {
    double s, c;
    const double exact[][3] = {{0.0, 0.0, 1.0}, {0.25, 1.0, 0.0}, {0.5, 0.0, -1.0}, {0.75, -1.0, 0.0}};
    for (const auto& e : exact) {
        sincos_two_pi(e[0], &s, &c);
        CHECK(s == e[1]);
        CHECK(c == e[2]);
    }
    // Relative error where the reference is good to ~1e-17 relative (|value| >= 0.01: the long-double argument
    // 2 pi v carries an absolute error ~ 4e-19).
    Rng rng(12);
    double worst = 0, worst_std = 0;
    std::vector<double> points = {1.0 - 0x1p-53, 0x1p-53, 0.125, 0.375, 0.625, 0.875, 0.1, 0.2, 0.3, 0.9};
    for (int i = 0; i < 400000; ++i) points.push_back(rng.uniform());
    for (double v : points) {
        sincos_two_pi(v, &s, &c);
        const long double S = std::sin(kTwoPi * v), C = std::cos(kTwoPi * v);
        if (std::fabs(S) >= 0.01) worst = std::max(worst, relative_error(s, S));
        if (std::fabs(C) >= 0.01) worst = std::max(worst, relative_error(c, C));
        // std::sin(2 pi v) rounds its argument 2 pi v first: an absolute error up to ~ 2 pi 2^-53
        worst_std = std::max({worst_std, std::fabs(s - std::sin(2 * M_PI * v)), std::fabs(c - std::cos(2 * M_PI * v))});
    }
    // Near the zeros: v = k/4 + d (d = v - k/4 is exact), where sin or cos equals +-sin(2 pi d) by symmetry.
    for (int k = 0; k <= 4; ++k)
        for (int e = 2; e <= 53; ++e)
            for (double sign : {-1.0, 1.0}) {
                const double v = k * 0.25 + sign * std::ldexp(1.0 + 0.3 * rng.uniform(), -e), d = v - k * 0.25;
                if (v < 0 || v >= 1) continue;
                sincos_two_pi(v, &s, &c);
                const long double small = std::sin(kTwoPi * d);  // the value that vanishes at v = k/4
                const double vanishing = k % 2 == 0 ? s : c;
                const long double expected = (k == 0 || k == 4) ? small : k == 1 ? -small : k == 2 ? -small : small;
                worst = std::max(worst, relative_error(vanishing, expected));
            }
    MESSAGE("sincos: max relative error " << worst << " against long double; max |ours - std(2 pi v)| " << worst_std);
    CHECK(worst <= 2.3e-16);
    CHECK(worst_std <= 8e-16);
}

TEST_CASE("normal streams: a pair is Box-Muller of the documented uniforms of xoshiro256++, to a few ulps") {
    // xoshiro256++ as Blackman and Vigna publish it, written out here; from the state (1, 2, 3, 4) its first output is
    // rotl(1 + 4, 23) + 1 = 41943041
    uint64_t s[4] = {1, 2, 3, 4};
    const auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
    const auto xoshiro = [&] {
        const uint64_t result = rotl(s[0] + s[3], 23) + s[0], t = s[1] << 17;
        s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
        return result;
    };
    NormalPairStreams streams(1, 1);
    const std::array<uint64_t*, 4> state = streams.state();
    for (int k = 0; k < 4; ++k) state[k][0] = k + 1;
    double worst = 0;
    for (int i = 0; i < 100000; ++i) {
        const uint64_t r1 = xoshiro(), r2 = xoshiro();
        if (i == 0) CHECK(r1 == 41943041);
        // u = 1 - (top 52 bits of r1) 2^-52, v = (top 52 bits of r2) 2^-52, exactly in long double
        const long double u = 1.0L - std::ldexp((long double)(r1 >> 12), -52),
                          v = std::ldexp((long double)(r2 >> 12), -52);
        const long double rho = std::sqrt(-2.0L * std::log(u));
        double z1, z2;
        streams.next(&z1, &z2);
        // errors relative to rho: ln and sincos within one ulp each, the square root and the products half an ulp
        worst = std::max({worst, (double)(std::fabs(z1 - rho * std::cos(kTwoPi * v)) / rho),
                          (double)(std::fabs(z2 - rho * std::sin(kTwoPi * v)) / rho)});
    }
    MESSAGE("Box-Muller pairs against long double: max error " << worst << " of rho");
    CHECK(worst <= 6e-16);
}

TEST_CASE(
    "normal streams: 2 x 10^6 normals have N(0, 1)'s moments and distribution, pairs and neighbours uncorrelated") {
    const size_t S = 1000;
    const int steps = 1000;
    std::vector<double> z1, z2;
    draw(42, S, steps, z1, z2);
    std::vector<double> all(z1);
    all.insert(all.end(), z2.begin(), z2.end());
    const double n = (double)all.size();
    double m1 = 0, m2 = 0, m4 = 0;
    for (double z : all) m1 += z, m2 += z * z, m4 += z * z * z * z;
    m1 /= n, m2 /= n, m4 /= n;
    CHECK(std::fabs(m1) < 5 / std::sqrt(n));           // sd of z: 1
    CHECK(std::fabs(m2 - 1) < 5 * std::sqrt(2 / n));   // sd of z^2: sqrt 2
    CHECK(std::fabs(m4 - 3) < 5 * std::sqrt(96 / n));  // sd of z^4: sqrt(105 - 9)
    std::sort(all.begin(), all.end());
    double ks = 0;
    for (size_t i = 0; i < all.size(); ++i) {
        const double F = 0.5 * std::erfc(-all[i] / M_SQRT2);
        ks = std::max({ks, F - i / n, (i + 1) / n - F});
    }
    MESSAGE("KS sqrt(n) D = " << std::sqrt(n) * ks << " (1% critical value 1.628)");
    CHECK(std::sqrt(n) * ks < 1.628);
    const double pairs = (double)z1.size();
    CHECK(std::fabs(correlation(z1, z2)) < 5 / std::sqrt(pairs));
    std::vector<double> lane(z1.size() - 1), neighbour(z1.size() - 1);  // stream s against s + 1, same step
    size_t k = 0;
    for (int t = 0; t < steps; ++t)
        for (size_t s = 0; s + 1 < S; ++s) lane[k] = z1[t * S + s], neighbour[k++] = z1[t * S + s + 1];
    lane.resize(k), neighbour.resize(k);
    CHECK(std::fabs(correlation(lane, neighbour)) < 5 / std::sqrt((double)k));
    std::vector<double> now(z1.begin(), z1.end() - S), later(z1.begin() + S, z1.end());  // step t against t + 1
    CHECK(std::fabs(correlation(now, later)) < 5 / std::sqrt((double)now.size()));
}

TEST_CASE("normal streams: same seed same bytes; a stream depends only on (seed, s), not on S or the range split") {
    std::vector<double> a1, a2, b1, b2;
    draw(7, 1000, 5, a1, a2);
    draw(7, 1000, 5, b1, b2);
    CHECK(std::memcmp(a1.data(), b1.data(), a1.size() * sizeof(double)) == 0);
    CHECK(std::memcmp(a2.data(), b2.data(), a2.size() * sizeof(double)) == 0);
    // split ranges, unaligned and odd, give the same bytes as the whole
    NormalPairStreams split(7, 1000);
    std::vector<double> c1(1000), c2(1000);
    for (int t = 0; t < 5; ++t) {
        for (auto [begin, end] : {std::pair<size_t, size_t>{0, 3}, {3, 3}, {3, 517}, {517, 999}, {999, 1000}})
            split.next(c1.data(), c2.data(), begin, end);
        CHECK(std::memcmp(c1.data(), &a1[t * 1000], 1000 * sizeof(double)) == 0);
        CHECK(std::memcmp(c2.data(), &a2[t * 1000], 1000 * sizeof(double)) == 0);
    }
    // the first 10 streams of a 10-stream and of a 1000-stream generator
    std::vector<double> d1, d2;
    draw(7, 10, 5, d1, d2);
    for (int t = 0; t < 5; ++t)
        for (int s = 0; s < 10; ++s) {
            CHECK(d1[t * 10 + s] == a1[t * 1000 + s]);
            CHECK(d2[t * 10 + s] == a2[t * 1000 + s]);
        }
    // another seed: other numbers everywhere
    std::vector<double> e1, e2;
    draw(8, 1000, 5, e1, e2);
    size_t equal = 0;
    for (size_t i = 0; i < a1.size(); ++i) equal += (e1[i] == a1[i]) + (e2[i] == a2[i]);
    CHECK(equal == 0);
    CHECK(std::all_of(a1.begin(), a1.end(), [](double z) { return std::isfinite(z); }));
}

TEST_CASE("normal streams: no streams or a range outside them is refused with a message") {
    CHECK_THROWS_WITH_AS(NormalPairStreams(1, 0), "NormalPairStreams: streams must be at least 1, got 0",
                         std::invalid_argument);
    NormalPairStreams streams(1, 4);
    CHECK(streams.size() == 4);
    double z1[8], z2[8];
    CHECK_THROWS_WITH_AS(streams.next(z1, z2, 2, 5),
                         "NormalPairStreams::next: range [2, 5) is not inside the 4 streams", std::invalid_argument);
    CHECK_THROWS_WITH_AS(streams.next(z1, z2, 3, 2),
                         "NormalPairStreams::next: range [3, 2) is not inside the 4 streams", std::invalid_argument);
}
