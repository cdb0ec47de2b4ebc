// gan_plots.cpp: gnuplot scripts for the GAN particle figures.
#include "experiments/gan/gan_plots.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "experiments/common/plot.h"

namespace awd {

namespace {

std::string one_dimensional(const Tensor& Q, const GanTarget& t, std::ostringstream& density,
                            std::ostringstream& histogram) {
    double lo = 1e300, hi = -1e300;
    for (double v : Q.data) lo = std::min(lo, v), hi = std::max(hi, v);
    for (double v : t.points.data) lo = std::min(lo, v), hi = std::max(hi, v);
    lo -= 1, hi += 1;
    const double w = std::max(t.width, 0.02);
    for (int k = 0; k <= 800; ++k) {
        const double x = lo + (hi - lo) * k / 800;
        double p = 0;
        for (double mu : t.points.data)
            p += std::exp(-0.5 * (x - mu) * (x - mu) / (w * w)) / (w * std::sqrt(2 * M_PI) * t.size());
        density << x << ' ' << p << '\n';
    }
    const int bins = 200;
    const double width = (hi - lo) / bins;
    std::vector<int> counts(bins, 0);
    for (double v : Q.data) ++counts[std::clamp((int)((v - lo) / width), 0, bins - 1)];
    for (int b = 0; b < bins; ++b) histogram << lo + (b + 0.5) * width << ' ' << counts[b] / (Q.rows * width) << '\n';
    return "set xlabel 'x (data units)'\nset ylabel 'probability density'\nset style fill solid 0.5\nset boxwidth " +
        std::to_string(width) +
        "\nplot $density with lines lw 2 lc rgb '#7f7f7f' title 'target', $hist with boxes lt 1 title "
        "'particles'";
}

std::string two_dimensional(const Tensor& Q, const GanTarget& t, std::ostringstream& modes,
                            std::ostringstream& particles) {
    const double r = std::max(2 * t.width, 0.05);
    for (int k = 0; k < t.size(); ++k) modes << t.points(k, 0) << ' ' << t.points(k, 1) << ' ' << r << '\n';
    for (int i = 0; i < Q.rows; ++i) particles << Q(i, 0) << ' ' << Q(i, 1) << '\n';
    return "set size ratio -1\nset xlabel 'x_1 (data units)'\nset ylabel 'x_2 (data units)'\nset style fill solid 0.3\n"
           "plot $modes with circles lc rgb '#7f7f7f' title 'target modes (2σ)', $particles with points pt 7 ps "
           "0.6 lt 1 title 'particles'";
}

// The particles as a mosaic of side x side images, 10 per row, one pixel of the darkest value
// between tiles; written as a gnuplot matrix (one text line per mosaic row, top row first).
std::string image_grid(const Tensor& Q, int side, std::ostringstream& pixels) {
    const int per_row = 10, tiles_down = (Q.rows + per_row - 1) / per_row, stride = side + 1;
    double background = 1e300;
    for (double v : Q.data) background = std::min(background, v);
    for (int Y = 0; Y < tiles_down * stride; ++Y) {
        for (int X = 0; X < per_row * stride; ++X) {
            const int i = (Y / stride) * per_row + X / stride, y = Y % stride, x = X % stride;
            pixels << (i < Q.rows && x < side && y < side ? Q(i, y * side + x) : background)
                   << (X + 1 < per_row * stride ? ' ' : '\n');
        }
    }
    return "unset xtics\nunset ytics\nunset colorbox\nset size ratio -1\nset palette gray\nset yrange [*:*] reverse\n"
           "set autoscale xfix\nset autoscale yfix\nplot $pixels matrix with image notitle";
}

}  // namespace

bool plot_particles(const std::string& png, const Tensor& Q, const GanTarget& target, const std::string& title) {
    std::ostringstream a, b;
    a.precision(10), b.precision(10);
    std::string script;
    if (target.image_side > 0) script = image_grid(Q, target.image_side, a);
    else if (target.dim() == 1) script = one_dimensional(Q, target, a, b);
    else if (target.dim() == 2) script = two_dimensional(Q, target, a, b);
    else return false;
    const std::string names = target.image_side > 0 ? "pixels" : target.dim() == 1 ? "density" : "modes";
    return plot_png(png, "set title '" + title + "'\n" + script,
                    {{names, a.str()}, {target.dim() == 1 ? "hist" : "particles", b.str()}},
                    target.image_side > 0 ? 700 : 700, target.image_side > 0 ? 700 : 600);
}

void plot_trajectory(const std::string& png, const std::vector<GanRecord>& trajectory, const std::string& title) {
    std::ostringstream d;
    d.precision(10);
    for (const GanRecord& r : trajectory)
        d << r.step << ' ' << r.order.collapse << ' ' << r.order.mean_min_distance << ' '
          << std::max(r.order.energy, 1e-300) << '\n';
    plot_png(png,
             "set title '" + title +
                 "'\nset xlabel 'generator step'\nset ylabel 'collapse score ln K − H(p) (nats)'\nset y2label "
                 "'distance (data units)'\n"
                 "set logscale y2\nset ytics nomirror\nset y2tics\nset grid\nset key outside bottom center horizontal\n"
                 "plot $t using 1:2 with lines lw 2 lt 2 title 'collapse score', $t using 1:3 axes x1y2 "
                 "with lines lw 2 lt 1 "
                 "title 'mean distance to nearest target', $t using 1:4 axes x1y2 with lines lw 2 lt 3 "
                 "title 'energy distance'",
             {{"t", d.str()}}, 900, 500);
}

}  // namespace awd
