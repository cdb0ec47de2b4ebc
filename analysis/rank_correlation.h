// rank_correlation.h: Spearman's rank correlation, the one implementation the project uses (the
// SGD-noise statistics and the A-W sweeps' trends). Is not: a significance test.
#pragma once

#include <vector>

namespace awd {

// The rank of each value, 0-based; tied values share the average of their ranks.
std::vector<double> ranks(const std::vector<double>& v);

// Pearson correlation of the ranks of a and b (same length). 0 when either side has no spread
// (all values tied, or fewer than two): a constant has no trend, and 0/0 would be a NaN.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace awd
