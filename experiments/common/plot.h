// plot.h: figures through gnuplot (Debian's gnuplot-nox), when it is installed.
// Is not: a plotting library: gnuplot does the drawing.
//
// A figure is a gnuplot script plus named data blocks, sent to gnuplot on a pipe. Each figure is
// written three times: NAME.png (for screens and the READMEs), NAME.svg and NAME.pdf (vector, for
// papers), each to a temporary name and renamed, like every other output. Every script starts from
// one style: the Okabe-Ito colours as line types 1-8 (distinct under colour-vision deficiencies),
// viridis as the colour map, UTF-8 text (write Greek letters as they are: η, σ, λ_{max}).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace awd {

bool gnuplot_available();

// Data blocks are (name, text) pairs: the script refers to them as $name. png_path ends in .png;
// the .svg and .pdf go beside it. Returns false without writing anything when gnuplot is missing;
// throws when gnuplot fails (and leaves none of the three).
bool plot_png(const std::string& png_path, const std::string& script,
              const std::vector<std::pair<std::string, std::string>>& data, int width = 800, int height = 500);

}  // namespace awd
