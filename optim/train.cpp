// train.cpp: the training loop.
#include "optim/train.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace awd {

EpochOutcome train_epoch(Mlp& net, const Dataset& data, const TrainConfig& c, double lr, bool decay, Optimizer& optimizer,
                         Rng& shuffle_rng, Rng& dropout_rng, StepScratch& s) {
    const size_t n = data.size(), d = data.X.cols;
    s.grad.resize(net.theta.size());
    s.order.resize(n);
    for (size_t i = 0; i < n; ++i) s.order[i] = i;
    shuffle_rng.shuffle(s.order);
    EpochOutcome out;
    int batches = 0;
    for (size_t start = 0; start < n; start += c.batch, ++batches) {
        const int rows = (int)std::min<size_t>(c.batch, n - start);
        if (s.batch.rows != rows) s.batch = Tensor(rows, (int)d), s.labels.resize(rows);
        for (int r = 0; r < rows; ++r) {  // gather the minibatch: (rows, d)
            std::memcpy(&s.batch.data[(size_t)r * d], &data.X.data[s.order[start + r] * d], d * sizeof(double));
            s.labels[r] = data.y[s.order[start + r]];
        }
        const double loss = mlp_loss_gradient(net, s.batch, s.labels.data(), s.ws, s.grad.data(), &c.dropout, &dropout_rng);
        if (!std::isfinite(loss)) {
            out.failed_batch = batches, out.failed_loss = loss;
            return out;
        }
        out.mean_loss += loss;
        if (decay) apply_weight_decay(net.spec, c.decay_kind, c.weight_decay, lr, net.theta.data(), s.grad.data());
        optimizer.step(net.theta.data(), s.grad.data(), lr);
    }
    out.mean_loss /= std::max(batches, 1);
    return out;
}

namespace {

bool all_finite(const std::vector<double>& v) {
    for (double x : v)
        if (!std::isfinite(x)) return false;
    return true;
}

}  // namespace

TrainResult train(Mlp& net, const Dataset& train_set, const Dataset& test_set, const TrainConfig& c,
                  const std::function<void(const EpochRecord&, const Mlp&)>& on_epoch) {
    if (c.batch <= 0) throw std::invalid_argument("batch size " + std::to_string(c.batch) + " is not positive");
    if (c.max_epochs <= 0) throw std::invalid_argument("maximum epochs " + std::to_string(c.max_epochs) + " is not positive");
    if (!(c.lr > 0)) throw std::invalid_argument("learning rate " + std::to_string(c.lr) + " is not positive");
    if (train_set.X.cols != net.spec.widths[0] || test_set.X.cols != net.spec.widths[0])
        throw std::invalid_argument("data has " + std::to_string(train_set.X.cols) + " inputs per sample, architecture " + net.spec.arch() +
                                    " expects " + std::to_string(net.spec.widths[0]));
    if (train_set.classes > net.spec.widths.back())
        throw std::invalid_argument("data has " + std::to_string(train_set.classes) + " classes, architecture " + net.spec.arch() + " has " +
                                    std::to_string(net.spec.widths.back()) + " outputs");
    if (!all_finite(net.theta)) throw std::invalid_argument("initial parameters contain NaN or Inf");

    const auto t0 = std::chrono::steady_clock::now();
    Optimizer optimizer(c.optimizer, net.theta.size());
    Rng shuffle_rng(stream_seed(c.seed, 1)), dropout_rng(stream_seed(c.seed, 2));
    StepScratch scratch;
    std::vector<double> last_good = net.theta;
    TrainResult result;
    result.status = "max_epochs";
    for (int epoch = 0; epoch < c.max_epochs; ++epoch) {
        EpochRecord r;
        r.epoch = epoch + 1;
        r.lr = learning_rate(c.schedule, c.lr, epoch);
        const bool decay = c.weight_decay > 0 && (c.decay_epochs == 0 || epoch < c.decay_epochs);
        const EpochOutcome outcome = train_epoch(net, train_set, c, r.lr, decay, optimizer, shuffle_rng, dropout_rng, scratch);
        Evaluation tr, te;
        std::string what;
        if (outcome.failed_batch >= 0) {
            what = "the loss of minibatch " + std::to_string(outcome.failed_batch + 1) + " is " + std::to_string(outcome.failed_loss);
        } else if (!all_finite(net.theta)) {
            what = "a parameter became NaN or Inf";
        } else {
            tr = evaluate(net, train_set.X, train_set.y), te = evaluate(net, test_set.X, test_set.y);
            if (!std::isfinite(tr.loss) || !std::isfinite(te.loss)) what = "the evaluated loss is not finite";
        }
        if (!what.empty()) {
            net.theta = last_good;
            result.status = "diverged";
            result.message = "training diverged in epoch " + std::to_string(r.epoch) + ": " + what + "; parameters restored to the end of epoch " +
                             std::to_string(epoch);
            break;
        }
        last_good = net.theta;
        r.train_loss = tr.loss, r.train_accuracy = tr.accuracy, r.test_loss = te.loss, r.test_accuracy = te.accuracy;
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        result.log.push_back(r);
        if (on_epoch) on_epoch(r, net);
        if (c.stop_loss > 0 && r.train_loss < c.stop_loss && r.train_accuracy > c.stop_accuracy) {
            result.status = "converged";
            break;
        }
    }
    if (result.message.empty())
        result.message = result.status == "converged" ? "stop rule met after " + std::to_string(result.log.size()) + " epochs"
                                                      : "reached the maximum of " + std::to_string(c.max_epochs) + " epochs";
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
}

}  // namespace awd
