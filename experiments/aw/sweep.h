// sweep.h: one sweep of the A-W experiments (experiments/aw/README.md): the reference setup trained for
// each value of one parameter and each seed, each run analysed at layer 1.
//
// Every run is the pair of commands a user would type, `awd train` then `awd duality`, started
// as child processes (one BLAS thread each, `jobs` at a time), so a sweep's runs are exactly
// reproducible by hand and a failing run cannot take the others down. A run folder that passes
// its manifest check is not trained again, and one whose duality.json exists (written last) is
// not analysed again. Each run's output goes to RUN.train.log and RUN.duality.log beside it.
// With --engine slurm the runs are the lines of a job array instead (experiments/common/engine.h).
#pragma once

#include <string>
#include <vector>

namespace awd {

struct SweepOptions {
    std::string param, data = "mnist", out, train_args;
    std::vector<std::string> values;  // empty: the paper's values for this parameter and data set
    int repeats = 2, jobs = 2;
};

struct SweepRow {                      // one run: the columns of sweep.csv
    std::string param, value, status;  // status: converged, max_epochs, diverged, failed
    int seed = 0, epochs = 0;
    double train_loss = 0, test_loss = 0, test_accuracy = 0, gap = 0, gap_paired = 0, identity_estimate = 0,
           curvature_estimate = 0;
    double sum_sigma_w = 0, sum_sigma_g = 0, top_eigenvalue = 0, trace = 0, weight_norm = 0, mean_dW_norm = 0,
           seconds = 0;
    bool analysed = false;
    std::vector<double> sigma_g;  // per eigen-direction, from directions.csv, for the spectrum figure
};

// The paper's values (experiments/aw/README.md), adapted where the data set cannot provide them.
std::vector<std::string> default_values(const std::string& param, const std::string& data);
// The `awd train` flags that set the parameter to a value.
std::string train_flags(const std::string& param, const std::string& value);

// options.values, or the paper's; throws on an unknown parameter.
std::vector<std::string> sweep_values(const SweepOptions& options);
// OUT/PARAM=VALUE/seedS
std::string sweep_run_dir(const SweepOptions& options, const std::string& value, int seed);
// The run is trained (its folder passes its manifest) and analysed (or diverged: nothing to analyse).
bool sweep_run_complete(const SweepOptions& options, const std::string& value, int seed);
// One run, what it lacks (training, analysis), into row; returns a note for the progress line.
// The local engine runs it in its threads; each Slurm array task runs it as `awd sweep ... --run VALUE:SEED`.
std::string run_sweep_run(const SweepOptions& options, const std::string& value, int seed, SweepRow& row);
// The local engine: every run, options.jobs at a time.
std::vector<SweepRow> run_sweep(const SweepOptions& options);
// The report step: every complete run read back; the others are rows with status failed.
std::vector<SweepRow> read_sweep_runs(const SweepOptions& options);
void write_sweep_outputs(const SweepOptions& options, const std::vector<SweepRow>& rows);
std::vector<SweepRow> read_sweep_csv(const std::string& path);

// How a quantity moves with the swept value: Spearman's rank correlation over the analysed
// runs, and the relative change of its mean over seeds from the smallest value to the largest.
struct Trend {
    double spearman = 0, first_mean = 0, last_mean = 0, relative_change = 0;
    bool defined = false;  // at least two values with analysed runs
};
Trend trend(const std::vector<SweepRow>& rows, double SweepRow::*quantity);

}  // namespace awd
