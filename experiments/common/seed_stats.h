// seed_stats.h: the mean of a setting's runs over seeds, with their spread, for result tables.
// Is not: a significance test.
#pragma once

#include <cmath>
#include <vector>

namespace awd {

struct SeedStats {
    double mean = 0;
    double std = 0;             // sample standard deviation (n - 1); 0 for a single run
    double standard_error = 0;  // of the mean: std / sqrt(n)
};

inline SeedStats seed_stats(const std::vector<double>& v) {
    SeedStats s;
    for (double x : v) s.mean += x / v.size();
    if (v.size() > 1) {
        double squares = 0;
        for (double x : v) squares += (x - s.mean) * (x - s.mean);
        s.std = std::sqrt(squares / (v.size() - 1));
        s.standard_error = std::sqrt(squares / (v.size() - 1) / v.size());
    }
    return s;
}

}  // namespace awd
