// plot.cpp: running gnuplot.
#include "experiments/common/plot.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace awd {

bool gnuplot_available() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

bool plot_png(const std::string& png_path, const std::string& script, const std::vector<std::pair<std::string, std::string>>& data, int width,
              int height) {
    if (!gnuplot_available()) {
        static bool said = false;
        if (!said) std::fprintf(stderr, "note: gnuplot is not installed, so no figures (apt-get install gnuplot-nox)\n"), said = true;
        return false;
    }
    const std::string temporary = png_path + ".tmp." + std::to_string(getpid()) + ".png";
    FILE* pipe = popen("gnuplot 2>&1", "w");
    if (!pipe) throw std::runtime_error("cannot start gnuplot");
    for (const auto& [name, text] : data) std::fprintf(pipe, "$%s << EOD\n%sEOD\n", name.c_str(), text.c_str());
    std::fprintf(pipe, "set terminal pngcairo size %d,%d font 'sans,10'\nset output '%s'\n%s\nset output\n", width, height, temporary.c_str(),
                 script.c_str());
    if (pclose(pipe) != 0 || !std::filesystem::exists(temporary)) {
        std::error_code error;
        std::filesystem::remove(temporary, error);  // no half-drawn file left behind
        throw std::runtime_error("gnuplot failed to draw " + png_path);
    }
    std::filesystem::rename(temporary, png_path);
    return true;
}

}  // namespace awd
