// flags.cpp: the numeric flag validators.
#include "experiments/common/flags.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace awd {

namespace {

std::string shown(double v) {
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    std::ostringstream out;
    out << v;
    return out.str();
}

// Empty when text is a finite number (stored in *value); otherwise why it is not.
std::string parse_finite(const std::string& text, double* value) {
    const char* begin = text.c_str();
    char* end = nullptr;
    errno = 0;
    *value = std::strtod(begin, &end);
    if (text.empty() || end != begin + text.size() || std::isspace((unsigned char)text[0]))
        return "'" + text + "' is not a number";
    if (std::isnan(*value) || std::isinf(*value) || errno == ERANGE) {
        if (errno == ERANGE && std::fabs(*value) < 1) return "";  // underflow to (nearly) zero is still a number
        return "'" + text + "' is not a finite number";
    }
    return "";
}

}  // namespace

CLI::Validator real_in(double lo, double hi, Ends ends) {
    const bool lo_open = ends == Ends::LowOpen || ends == Ends::Open,
               hi_open = ends == Ends::HighOpen || ends == Ends::Open || std::isinf(hi);
    const std::string range = std::string(lo_open ? "(" : "[") + shown(lo) + ", " + shown(hi) + (hi_open ? ")" : "]");
    return CLI::Validator(
        [=](std::string& text) {
            double v;
            const std::string problem = parse_finite(text, &v);
            if (!problem.empty()) return problem;
            if ((lo_open ? v <= lo : v < lo) || (hi_open ? v >= hi : v > hi))
                return "'" + text + "' is outside " + range;
            return std::string();
        },
        "in " + range);
}

CLI::Validator integer_in(int64_t lo, int64_t hi) {
    const bool unbounded = hi == std::numeric_limits<int64_t>::max();
    const std::string range =
        "[" + std::to_string(lo) + ", " + (unbounded ? std::string("inf)") : std::to_string(hi) + "]");
    return CLI::Validator(
        [=](std::string& text) {
            const char* begin = text.c_str();
            char* end = nullptr;
            errno = 0;
            const long long v = std::strtoll(begin, &end, 10);
            if (text.empty() || end != begin + text.size() || std::isspace((unsigned char)text[0]))
                return "'" + text + "' is not an integer";
            if (errno == ERANGE || v < lo || v > hi) return "'" + text + "' is outside " + range;
            return std::string();
        },
        "in " + range);
}

CLI::Validator seed_range() { return integer_in(0, std::numeric_limits<int64_t>::max()); }

CLI::Validator finite_number_list() {
    return CLI::Validator(
        [](std::string& text) {
            std::stringstream in(text);
            for (std::string item; std::getline(in, item, ',');) {
                double v;
                const std::string problem = parse_finite(item, &v);
                if (!problem.empty()) return "'" + text + "': " + problem;
            }
            return text.empty() || text.back() == ',' ? "'" + text + "' has an empty value" : std::string();
        },
        "finite numbers, comma-separated");
}

}  // namespace awd
