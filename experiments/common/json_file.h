// json_file.h: writing the JSON reports. nlohmann::json writes NaN and Inf as null, which would
// hide a failed computation; every number is checked first, and the file is written atomically.
// Is not: the run folder's writing as a unit (run_dir.h).
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "nn/files.h"

namespace awd {

inline void require_finite_json(const nlohmann::json& j, const std::string& where) {
    if (j.is_number_float() && !std::isfinite(j.get<double>()))
        throw std::runtime_error(where + " is not finite (" + std::to_string(j.get<double>()) +
                                 "); refusing to write it");
    if (j.is_object())
        for (auto it = j.begin(); it != j.end(); ++it) require_finite_json(it.value(), where + "." + it.key());
    if (j.is_array())
        for (size_t k = 0; k < j.size(); ++k) require_finite_json(j[k], where + "[" + std::to_string(k) + "]");
}

inline void write_json_file(const std::string& path, const nlohmann::json& j) {
    require_finite_json(j, path);
    write_file_atomically(path, j.dump(2) + "\n");
}

}  // namespace awd
