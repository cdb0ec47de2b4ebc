// flags.h: range checks for numeric command-line flags.
//
// CLI11 runs a validator on the text the user typed, before converting it, so these see
// "-1", "nan" or "1e400" as written. Each refuses NaN, Inf, text that is not entirely a number
// and values outside its range; the message names the flag (CLI11 prefixes it) and repeats the
// value as typed. The range shows in --help next to the option's type. main() exits 2 on
// every such refusal.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>

namespace awd {

constexpr double kNoLimit = std::numeric_limits<double>::infinity();
constexpr int64_t kIntMax = std::numeric_limits<int>::max();

enum class Ends { Closed, LowOpen, HighOpen, Open };  // which ends of [lo, hi] belong to the range

// A finite real number in the range (hi may be +infinity: no upper bound).
CLI::Validator real_in(double lo, double hi, Ends ends = Ends::Closed);
// An integer in [lo, hi] (no decimal point, no exponent).
CLI::Validator integer_in(int64_t lo, int64_t hi);
// A seed: an integer in [0, 2^63 - 1].
CLI::Validator seed_range();
// A comma-separated list of finite numbers (sweep --values).
CLI::Validator finite_number_list();

}  // namespace awd
