// train.h: minibatch training with evaluation every epoch, the reference stop rule, and
// divergence detection.
//
// Each epoch shuffles the training set (seeded), walks it in minibatches (the last one may be
// smaller), and then evaluates the loss and accuracy on the whole training and test sets
// (without dropout). Training stops when the stop rule holds (training loss < stop_loss and
// training accuracy > stop_accuracy), after max_epochs, or when a loss or parameter becomes
// NaN/Inf: then the parameters are restored to the end of the last good epoch.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nn/data.h"
#include "nn/mlp.h"
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
    Dropout dropout;
    double weight_decay = 0.0;
    WeightDecay decay_kind = WeightDecay::Norm;
    int decay_epochs = 0;  // decay acts during the first decay_epochs epochs only; 0: always
    uint64_t seed = 0;     // shuffling and dropout (initialisation is the caller's)
};

struct EpochRecord {
    int epoch = 0;  // 1-based
    double lr = 0, train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0, seconds = 0;
};

struct TrainResult {
    std::vector<EpochRecord> log;
    std::string status;   // "converged" (stop rule met), "max_epochs" or "diverged"
    std::string message;  // what happened, in one sentence
    double seconds = 0;
};

// Scratch reused across steps, so the hot loop allocates nothing.
struct StepScratch {
    MlpWorkspace ws;
    std::vector<double> grad;
    Tensor batch;
    std::vector<int> labels;
    std::vector<size_t> order;
};

struct EpochOutcome {
    double mean_loss = 0;     // mean of the minibatch losses
    int failed_batch = -1;    // the first minibatch whose loss was not finite, or -1
    double failed_loss = 0;
};

// One shuffled pass over `data`; stops at the first non-finite minibatch loss.
EpochOutcome train_epoch(Mlp& net, const Dataset& data, const TrainConfig& config, double lr, bool decay, Optimizer& optimizer,
                         Rng& shuffle_rng, Rng& dropout_rng, StepScratch& scratch);

// Trains net in place. on_epoch sees every finished good epoch (progress, checkpoints).
TrainResult train(Mlp& net, const Dataset& train_set, const Dataset& test_set, const TrainConfig& config,
                  const std::function<void(const EpochRecord&, const Mlp&)>& on_epoch = {});

}  // namespace awd
