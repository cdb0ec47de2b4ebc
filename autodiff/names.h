// names.h: one table per enum, {value, name}, from which both directions are made: the name of a
// value (for files, logs and errors) and the value of a command-line name.
// Is not: a reflection library; each enum writes its table once, beside its declaration.
//
// A table lists the values in enum order, checked at compile time by in_enum_order, so a value
// cannot get a neighbour's name; a value missing from the end of its table is an error at its
// first use (name_of throws), never a wrong name.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace awd {

template <class E>
struct Named {
    E value;
    const char* name;
};

// True when entry k holds the value k: no value skipped, none out of order.
template <class E, size_t N>
constexpr bool in_enum_order(const Named<E> (&table)[N]) {
    for (size_t k = 0; k < N; ++k)
        if (static_cast<size_t>(table[k].value) != k) return false;
    return true;
}

// The name of `value` in `table`.
template <class E, size_t N>
const char* name_of(const Named<E> (&table)[N], E value) {
    const size_t k = static_cast<size_t>(value);
    if (k >= N)
        throw std::logic_error("enum value " + std::to_string(k) + " has no entry in its name table (" + table[0].name +
                               ", ...)");
    return table[k].name;
}

// The value whose name is `name`; otherwise an error naming `what` and listing every name.
template <class E, size_t N>
E parse_name(const std::string& name, const Named<E> (&table)[N], const std::string& what) {
    std::string expected;
    for (size_t k = 0; k < N; ++k) {
        if (name == table[k].name) return table[k].value;
        expected += std::string(k == 0 ? "" : k + 1 == N ? " or " : ", ") + table[k].name;
    }
    throw std::invalid_argument("unknown " + what + " '" + name + "' (expected " + expected + ")");
}

// The older form, a list of values and a function from value to name (experiments/gan/gan.cpp still
// uses it; a table above is preferred: with it the names cannot drift from the values).
template <class E, size_t N>
E parse_name(const std::string& name, const E (&all)[N], const char* (*name_of)(E), const std::string& what) {
    std::string expected;
    for (size_t k = 0; k < N; ++k) {
        if (name == name_of(all[k])) return all[k];
        expected += std::string(k == 0 ? "" : k + 1 == N ? " or " : ", ") + name_of(all[k]);
    }
    throw std::invalid_argument("unknown " + what + " '" + name + "' (expected " + expected + ")");
}

// Every name of `table`, in enum order (for a command line's list of allowed values).
template <class E, size_t N>
std::vector<std::string> names_in(const Named<E> (&table)[N]) {
    std::vector<std::string> out;
    for (const auto& entry : table) out.emplace_back(entry.name);
    return out;
}

}  // namespace awd
