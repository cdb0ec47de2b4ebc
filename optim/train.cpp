// train.cpp: the training loop.
#include "optim/train.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "optim/step.h"

namespace awd {

Evaluation evaluate(const Model& model, const LossFunction& loss_fn, const Tensor& X, const std::vector<int>& labels) {
    NoGradGuard inference;
    const Var out = model.forward(constant_view(X));
    Evaluation e;
    e.loss = loss_fn(out, labels).value().item();
    const Tensor& f = out.value();
    for (int n = 0; n < f.rows; ++n) {
        const double* row = &f.data[(size_t)n * f.cols];
        e.accuracy += (std::max_element(row, row + f.cols) - row) == labels[n];
    }
    e.accuracy /= std::max(f.rows, 1);
    return e;
}

namespace {

int outcome_steps(size_t samples, int batch) { return (int)((samples + batch - 1) / batch); }  // steps in an epoch

}  // namespace

EpochOutcome train_epoch(Model& model, const LossFunction& loss_fn, const Dataset& data, const TrainConfig& c,
                         double lr, bool decay, Optimizer& optimizer, Rng& shuffle_rng, Rng& dropout_rng,
                         StepScratch& s) {
    const size_t n = data.size(), d = data.X.cols;
    s.order.resize(n);
    for (size_t i = 0; i < n; ++i) s.order[i] = i;
    shuffle_rng.shuffle(s.order);
    const StepRule rule{decay ? c.weight_decay : 0.0, c.decay_kind, c.clip_norm};
    EpochOutcome out;
    int steps = 0;
    for (size_t start = 0; start < n; start += c.batch, ++steps) {
        const int rows = (int)std::min<size_t>(c.batch, n - start);
        if (s.batch.rows != rows) s.batch = Tensor(rows, (int)d), s.labels.resize(rows);
        for (int r = 0; r < rows; ++r) {  // gather the minibatch: (rows, d)
            std::memcpy(&s.batch.data[(size_t)r * d], &data.X.data[s.order[start + r] * d], d * sizeof(double));
            s.labels[r] = data.y[s.order[start + r]];
        }
        Var loss;
        try {
            loss = loss_fn(model.forward(constant_view(s.batch), dropout_rng), s.labels);
        } catch (const NonFiniteError& e) {  // an op refused a non-finite value
            out.failed_step = steps, out.failure = e.what();
            return out;
        }
        out.mean_loss += loss.value().item();
        out.failure = optimizer_step(model, optimizer, loss, lr, rule);
        if (!out.failure.empty()) {
            out.failed_step = steps;
            return out;
        }
    }
    out.mean_loss /= std::max(steps, 1);
    return out;
}

TrainResult train(Model& model, const LossFunction& loss_fn, const Dataset& train_set, const Dataset& test_set,
                  const TrainConfig& c, const std::function<void(const EpochRecord&, const Model&)>& on_epoch) {
    if (c.batch <= 0) throw std::invalid_argument("batch size " + std::to_string(c.batch) + " is not positive");
    if (c.max_epochs <= 0)
        throw std::invalid_argument("maximum epochs " + std::to_string(c.max_epochs) + " is not positive");
    if (!(c.lr > 0)) throw std::invalid_argument("learning rate " + std::to_string(c.lr) + " is not positive");
    if (train_set.size() == 0) throw std::invalid_argument("the training set is empty");
    const std::string bad = first_non_finite(model);
    if (!bad.empty()) throw std::invalid_argument("initial parameter " + bad + " is NaN or Inf");

    const auto t0 = std::chrono::steady_clock::now();
    Optimizer optimizer(c.optimizer, model);
    Rng shuffle_rng(stream_seed(c.seed, 1)), dropout_rng(stream_seed(c.seed, 2));
    StepScratch scratch;
    Tensor last_good = model.theta();
    TrainResult result;
    result.status = "max_epochs";
    for (int epoch = 0; epoch < c.max_epochs; ++epoch) {
        EpochRecord r;
        r.epoch = epoch + 1;
        r.lr = learning_rate(c.schedule, c.lr, epoch);
        const bool decay = c.weight_decay > 0 && (c.decay_epochs == 0 || epoch < c.decay_epochs);
        const EpochOutcome outcome =
            train_epoch(model, loss_fn, train_set, c, r.lr, decay, optimizer, shuffle_rng, dropout_rng, scratch);
        Evaluation tr, te;
        std::string what = outcome.failure;
        int step = outcome.failed_step + 1;
        if (what.empty()) {
            try {
                tr = evaluate(model, loss_fn, train_set.X, train_set.y);
                if (test_set.size()) te = evaluate(model, loss_fn, test_set.X, test_set.y);
            } catch (const NonFiniteError& e) {  // after the epoch's last step
                what = std::string("the evaluation after it failed: ") + e.what(),
                step = outcome_steps(train_set.size(), c.batch);
            }
        }
        if (!what.empty()) {
            model.theta() = last_good;
            result.status = "diverged";
            result.failed_epoch = r.epoch, result.failed_step = step;
            result.message = "diverged at epoch " + std::to_string(r.epoch) + ", step " + std::to_string(step) +
                " of " + std::to_string(outcome_steps(train_set.size(), c.batch)) + ": " + what +
                "; parameters restored to the end of epoch " + std::to_string(epoch);
            break;
        }
        last_good = model.theta();
        r.train_loss = tr.loss, r.train_accuracy = tr.accuracy, r.test_loss = te.loss, r.test_accuracy = te.accuracy;
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        result.log.push_back(r);
        if (on_epoch) on_epoch(r, model);
        if (c.stop_loss > 0 && r.train_loss < c.stop_loss && r.train_accuracy > c.stop_accuracy) {
            result.status = "converged";
            break;
        }
    }
    if (result.message.empty())
        result.message = result.status == "converged"
            ? "stop rule met after " + std::to_string(result.log.size()) + " epochs"
            : "reached the maximum of " + std::to_string(c.max_epochs) + " epochs";
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
}

}  // namespace awd
