// run_folder.h: what `awd train` leaves behind, and reading it back.
// Is not: the atomic writing and locking (run_dir.h).
//
// A run folder holds
//   checkpoint.bin             the network (binary, checksummed; see below)
//   W0.npy, W1.npy, ...        float64 weights, (n_out, n_in) like PyTorch
//   b0.npy, ...                float64 biases (when the net has them)
//   X_train.npy, X_test.npy    float64 inputs, one row per sample, exactly what the net saw
//   y_train.npy, y_test.npy    int64 labels
//   noisy_train.npy            int64, 1 where label noise replaced the training label
//   log.csv, summary.json      per-epoch log; results and the full configuration
// Every file is written atomically (temporary file, then rename).
//
// checkpoint.bin (any Model): "AWDCKPT1", a little-endian uint32 n, n bytes of JSON (epoch,
// n_params, and the layout: each parameter's name and shape), n_params little-endian doubles
// (theta), and a uint32 CRC-32 of all bytes before it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "nn/data.h"
#include "nn/mlp.h"

namespace awd {

void write_checkpoint(const std::string& path, const Model& model, int epoch);
// Reads theta into `model` and returns the epoch. The stored layout must be the model's:
// otherwise the error names the first parameter that differs and both shapes.
int read_checkpoint(const std::string& path, Model& model);

void write_weights_npy(const std::string& dir, const Mlp& net);
// Reads W<l>.npy (and b<l>.npy) into net, checking every shape against net.spec.
void read_weights_npy(const std::string& dir, Mlp& net);

void write_split_npy(const std::string& dir, const Split& split);

struct Run {
    std::string dir;
    Mlp net;
    Dataset train, test;
    nlohmann::json summary;
};
// Loads summary.json (for the architecture), the weights and the data splits, with checks that
// they agree (input width, label range, sample counts). Errors name the file and the problem.
Run load_run(const std::string& dir);

}  // namespace awd
