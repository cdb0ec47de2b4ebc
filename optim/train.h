// train.h: minibatch training of any model with any loss, evaluation every epoch, the
// reference stop rule, gradient clipping and divergence detection.
// Is not: the papers' own loops (continual learning, the GAN), which live in experiments/.
//
// Each epoch shuffles the training set (seeded), walks it in minibatches (the last one may be
// smaller): loss = loss_fn(model.forward(batch)), then one optimizer_step (step.h). Then it
// evaluates the loss and accuracy on the whole training and test sets (evaluation mode, no
// graph recorded). Training stops when the stop rule holds (training loss < stop_loss and
// training accuracy > stop_accuracy), after max_epochs, or when a loss, gradient or parameter
// becomes NaN/Inf: then the parameters are restored to the end of the last good epoch and the
// message names the epoch, the step and the parameter.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nn/data.h"
#include "nn/loss.h"
#include "nn/model.h"
#include "optim/optimizer.h"

namespace awd {

struct TrainConfig {
    OptimizerConfig optimizer;
    double lr = 0.1;
    ScheduleConfig schedule;
    int batch = 25;
    int max_epochs = 1000;
    double stop_loss = 1e-3;  // 0 disables the stop rule
    double stop_accuracy = 0.99;
    double weight_decay = 0.0;
    WeightDecay decay_kind = WeightDecay::Norm;
    int decay_epochs = 0;  // decay acts during the first decay_epochs epochs only; 0: always
    double clip_norm = 0;  // > 0: clip the gradient's global norm to this
    uint64_t seed = 0;     // shuffling and dropout (initialisation is the caller's)
};

struct EpochRecord {
    int epoch = 0;  // 1-based
    double lr = 0, train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0, seconds = 0;
};

struct TrainResult {
    std::vector<EpochRecord> log;
    std::string status;                     // "converged" (stop rule met), "max_epochs" or "diverged"
    std::string message;                    // what happened, in one sentence
    int failed_epoch = 0, failed_step = 0;  // where training diverged (1-based), else 0
    double seconds = 0;
};

struct Evaluation {
    double loss = 0.0, accuracy = 0.0;
};
// Mean loss and accuracy (argmax of each output row against its label) over a data set.
Evaluation evaluate(const Model& model, const LossFunction& loss_fn, const Tensor& X, const std::vector<int>& labels);

// Reused across steps, so the hot loop allocates only the graph.
struct StepScratch {
    Tensor batch;
    std::vector<int> labels;
    std::vector<size_t> order;
};

struct EpochOutcome {
    double mean_loss = 0;  // mean of the minibatch losses
    int failed_step = -1;  // the first minibatch whose loss, gradient or update was not finite, or -1
    std::string failure;   // what was not finite
};

// One shuffled pass over `data`; stops at the first non-finite minibatch.
EpochOutcome train_epoch(Model& model, const LossFunction& loss_fn, const Dataset& data, const TrainConfig& config,
                         double lr, bool decay, Optimizer& optimizer, Rng& shuffle_rng, Rng& dropout_rng,
                         StepScratch& scratch);

// Trains model in place. on_epoch sees every finished good epoch (progress, checkpoints).
TrainResult train(Model& model, const LossFunction& loss_fn, const Dataset& train_set, const Dataset& test_set,
                  const TrainConfig& config,
                  const std::function<void(const EpochRecord&, const Model&)>& on_epoch = {});

}  // namespace awd
