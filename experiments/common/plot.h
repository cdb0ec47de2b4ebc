// plot.h: PNG figures through gnuplot (Debian's gnuplot-nox), when it is installed.
// Is not: a plotting library: gnuplot does the drawing.
//
// A figure is a gnuplot script plus named data blocks, sent to gnuplot on a pipe; the PNG is
// written to a temporary name and renamed, like every other output.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace awd {

bool gnuplot_available();

// Data blocks are (name, text) pairs: the script refers to them as $name. Returns false
// without writing anything when gnuplot is missing; throws when gnuplot fails.
bool plot_png(const std::string& png_path, const std::string& script, const std::vector<std::pair<std::string, std::string>>& data,
              int width = 800, int height = 500);

}  // namespace awd
