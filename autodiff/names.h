// names.h: command-line names of enums (activations, losses, optimizers, ...) and back.
#pragma once

#include <stdexcept>
#include <string>

namespace awd {

// The value of `all` whose name_of is `name`; otherwise an error listing every name.
template <class E, size_t N>
E parse_name(const std::string& name, const E (&all)[N], const char* (*name_of)(E), const std::string& what) {
    std::string expected;
    for (size_t k = 0; k < N; ++k) {
        if (name == name_of(all[k])) return all[k];
        expected += std::string(k == 0 ? "" : k + 1 == N ? " or " : ", ") + name_of(all[k]);
    }
    throw std::invalid_argument("unknown " + what + " '" + name + "' (expected " + expected + ")");
}

}  // namespace awd
