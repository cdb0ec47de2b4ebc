// plot.cpp: running gnuplot: one script, three files (PNG, SVG, PDF), one style.
#include "experiments/common/plot.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace awd {

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

namespace {

// Okabe and Ito's eight colours, which readers with any common colour-vision deficiency can tell
// apart, as the line types 1-8; viridis (perceptually uniform, readable in grey) for colour maps.
const char kStyle[] =
    "set encoding utf8\n"
    "set linetype 1 lc rgb '#0072B2' lw 1.5\nset linetype 2 lc rgb '#D55E00' lw 1.5\nset linetype 3 lc rgb '#009E73' "
    "lw 1.5\n"
    "set linetype 4 lc rgb '#E69F00' lw 1.5\nset linetype 5 lc rgb '#CC79A7' lw 1.5\nset linetype 6 lc rgb '#56B4E9' "
    "lw 1.5\n"
    "set linetype 7 lc rgb '#F0E442' lw 1.5\nset linetype 8 lc rgb '#000000' lw 1.5\nset linetype cycle 8\n"
    "set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')\n";

std::string with_extension(const std::string& png_path, const std::string& extension) {
    const std::string stem = png_path.size() > 4 && png_path.compare(png_path.size() - 4, 4, ".png") == 0
        ? png_path.substr(0, png_path.size() - 4)
        : png_path;
    return stem + extension;
}

}  // namespace

bool plot_png(const std::string& png_path, const std::string& script,
              const std::vector<std::pair<std::string, std::string>>& data, int width, int height) {
    if (!gnuplot_available()) {
        static bool said = false;
        if (!said)
            std::fprintf(stderr, "note: gnuplot is not installed, so no figures (apt-get install gnuplot-nox)\n"),
                said = true;
        return false;
    }
    // The same script on three terminals: the PNG, and SVG and PDF for papers (vector, text as text).
    const std::string pid = std::to_string(getpid());
    const std::vector<std::pair<std::string, std::string>> outputs = {
        {png_path, "pngcairo size " + std::to_string(width) + "," + std::to_string(height) + " font 'sans,10'"},
        {with_extension(png_path, ".svg"),
         "svg size " + std::to_string(width) + "," + std::to_string(height) + " font 'sans,10' dynamic enhanced"},
        {with_extension(png_path, ".pdf"),
         "pdfcairo size " + std::to_string(width / 100.0) + "in," + std::to_string(height / 100.0) +
             "in font 'sans,7'"}};
    std::vector<std::string> temporaries;
    for (const auto& [path, terminal] : outputs)
        temporaries.push_back(path + ".tmp." + pid + (path == png_path ? ".png" : ""));
    FILE* pipe = popen("gnuplot 2>&1", "w");
    if (!pipe) throw std::runtime_error("cannot start gnuplot");
    for (const auto& [name, text] : data) std::fprintf(pipe, "$%s << EOD\n%sEOD\n", name.c_str(), text.c_str());
    for (size_t k = 0; k < outputs.size(); ++k)
        std::fprintf(pipe, "reset\n%sset terminal %s\nset output '%s'\n%s\nset output\n", kStyle,
                     outputs[k].second.c_str(), temporaries[k].c_str(), script.c_str());
    const bool failed = pclose(pipe) != 0;
    bool all_drawn = !failed;
    for (const std::string& t : temporaries) all_drawn = all_drawn && std::filesystem::exists(t);
    if (!all_drawn) {
        std::error_code error;
        for (const std::string& t : temporaries) std::filesystem::remove(t, error);  // no half-drawn file left behind
        throw std::runtime_error("gnuplot failed to draw " + png_path);
    }
    for (size_t k = 0; k < outputs.size(); ++k) std::filesystem::rename(temporaries[k], outputs[k].first);
    return true;
}

}  // namespace awd
