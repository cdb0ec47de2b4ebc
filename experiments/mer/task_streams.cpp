// task_streams.cpp: rotations and permutations of a digit data set, task by task.
#include "experiments/mer/task_streams.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "nn/data.h"
#include "nn/random.h"

namespace awd {

void rotate_image(const double* in, int side, double degrees, double* out) {
    const double c = (side - 1) / 2.0, angle = degrees * M_PI / 180.0, cs = std::cos(angle), sn = std::sin(angle);
    auto pixel = [&](int r, int col) {
        return r < 0 || r >= side || col < 0 || col >= side ? 0.0 : in[r * side + col];
    };
    for (int r = 0; r < side; ++r)
        for (int col = 0; col < side; ++col) {
            const double dx = col - c, dy = c - r;                         // y upwards
            const double sx = dx * cs + dy * sn, sy = -dx * sn + dy * cs;  // R(-angle) (dx, dy)
            const double src_col = c + sx, src_row = c - sy;
            const int r0 = (int)std::floor(src_row), c0 = (int)std::floor(src_col);
            const double fr = src_row - r0, fc = src_col - c0;
            out[r * side + col] = (1 - fr) * ((1 - fc) * pixel(r0, c0) + fc * pixel(r0, c0 + 1)) +
                fr * ((1 - fc) * pixel(r0 + 1, c0) + fc * pixel(r0 + 1, c0 + 1));
        }
}

void default_pool_sizes(const std::string& data, int* pool_per_class, int* test) {
    const bool mnist = data == "mnist";
    if (*pool_per_class <= 0) *pool_per_class = mnist ? 660 : 6000;
    if (*test <= 0) *test = mnist ? 2000 : 10000;
}

TaskStream::TaskStream(const StreamConfig& config) : config_(config) {
    if (config_.kind == StreamKind::ManyPermutations && (config_.tasks != 100 || config_.per_task != 200))
        throw std::invalid_argument("many-permutations is 100 tasks of 200 examples (got " +
                                    std::to_string(config_.tasks) + " of " + std::to_string(config_.per_task) + ")");
    if (config_.tasks < 1 || config_.per_task < 1)
        throw std::invalid_argument("a stream needs at least one task and one example per task");
    DataConfig dc;
    dc.source = config_.data, dc.mnist_dir = config_.mnist_dir, dc.fashion_dir = config_.fashion_dir;
    default_pool_sizes(config_.data, &config_.pool_per_class, &config_.test);
    dc.train_per_class = config_.pool_per_class, dc.test = config_.test,
    dc.seed = 0;  // one fixed pool for every stream seed
    const Split split = load_data(dc);
    pool_X_ = split.train.X, pool_y_ = split.train.y, test_X_ = split.test.X, test_y_ = split.test.y;
    classes_ = split.train.classes;
    side_ = (int)std::lround(std::sqrt((double)pool_X_.cols));
    if (side_ * side_ != pool_X_.cols) throw std::runtime_error(config_.data + ": images are not square");
    if (config_.per_task > (int)pool_y_.size())
        throw std::invalid_argument("--per-task " + std::to_string(config_.per_task) +
                                    " exceeds the training pool of " + std::to_string(pool_y_.size()));

    Rng rng(stream_seed(config_.seed, 7));
    const int T = config_.tasks;
    for (int t = 0; t < T; ++t) {
        Task task;
        if (config_.kind == StreamKind::Rotations) {
            task.degrees = rng.uniform(180.0 * t / T, 180.0 * (t + 1) / T);
        } else {
            task.permutation.resize(pool_X_.cols);
            for (int k = 0; k < pool_X_.cols; ++k) task.permutation[k] = k;
            rng.shuffle(task.permutation);
        }
        std::vector<int> order(pool_y_.size());
        for (size_t k = 0; k < order.size(); ++k) order[k] = (int)k;
        for (int i = 0; i < config_.per_task; ++i)
            std::swap(order[i], order[i + rng.index(order.size() - i)]);  // partial Fisher-Yates
        order.resize(config_.per_task);
        tasks_.push_back(std::move(task));
        train_index_.push_back(std::move(order));
    }
    description_ = split.description.substr(0, split.description.find(',')) + ", pool " +
        std::to_string(pool_y_.size()) + ", test " + std::to_string(test_y_.size()) + "; " + stream_name(config_.kind) +
        " " + std::to_string(T) + " tasks x " + std::to_string(config_.per_task);
}

void TaskStream::transform(int t, const double* in, double* out) const {
    const Task& task = tasks_[t];
    if (task.permutation.empty()) {
        rotate_image(in, side_, task.degrees, out);
    } else {
        for (size_t k = 0; k < task.permutation.size(); ++k) out[k] = in[task.permutation[k]];
    }
}

int TaskStream::example(int t, int i, double* x) const {
    const int row = train_index_[t][i];
    transform(t, &pool_X_.data[(size_t)row * pool_X_.cols], x);
    return pool_y_[row];
}

Tensor TaskStream::test_inputs(int t) const {
    Tensor X(test_X_.rows, test_X_.cols);
    for (int n = 0; n < test_X_.rows; ++n)
        transform(t, &test_X_.data[(size_t)n * test_X_.cols], &X.data[(size_t)n * X.cols]);
    return X;
}

}  // namespace awd
