// engine.h: where the runs of a grid execute. `local`: here, as child processes, a few at a time.
// `slurm`: on a Slurm cluster, as one job array (K runs per array task) and a report job that
// depends on it (afterany), submitted with Slurm's own sbatch; squeue is the only thing polled.
// It is not a scheduler: the grid command decides what its runs are and what its report is.
//
// A grid is a folder GRID and a list of runs. A run is one shell line, the per-run command the
// local engine runs too, with its own log; it writes its results folder atomically, so a run is
// either done (its folder complete) or missing. Beside each run's log, LOG.exit says what became of
// its last attempt: "running WHERE", then "CODE WHERE" (its exit code) or "killed WHERE" (SIGTERM),
// WHERE being "local" or "slurm JOB_TASK". With slurm the engine writes into GRID/engine/:
//   tasks.tsv       the runs to do, one per line: NAME <tab> LOG <tab> COMMAND
//   array.sbatch    the job array: task i runs lines K i + 1 .. K i + K of tasks.tsv
//   report.sbatch   the report step (the grid command with --report-only)
//   jobs.tsv        appended at each submission: array job id, report job id, runs, tasks
//   report-JOB.exit the report job's exit code (for --wait)
//   logs/           Slurm's own output of each array task (JOB_TASK.out) and report (report-JOB.out)
// Running the grid command again submits only the runs that are still missing (failed, killed or
// never started); the report lists each of them with its log and its exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace awd {

struct EngineOptions {
    std::string engine = "local";  // local | slurm
    std::string slurm_args;        // extra sbatch arguments (partition, time, account, ...), shell-quoted
    int runs_per_task = 1;         // K: runs per array task
    bool wait = false;             // slurm: wait for the report job and print its output
    bool report_only = false;      // build the tables from the runs present; run nothing
};
// --engine, --slurm-args, --runs-per-task, --wait, --report-only on a grid command.
void add_engine_options(CLI::App* cmd, EngineOptions& options);
// Refuses Slurm's flags without --engine slurm (the grid would silently run here instead).
void check_engine_options(const EngineOptions& options);

struct GridRun {
    std::string name;     // unique in the grid, e.g. "lr=0.01/seed0"; no tab or newline
    std::string log;      // where the command's stdout and stderr go
    std::string command;  // one shell line
    bool done = false;    // its results are complete in the grid folder
};

// The path of the running awd binary (an array task runs the same one: it must be on a shared file system).
std::string awd_binary();
// 'text' with single quotes, safe to paste into a shell line.
std::string shell_quote(const std::string& text);
// The shortest decimal text (15 to 17 digits) that reads back as exactly v: for command lines and run names.
std::string exact_number(double v);
// Runs argv (no shell) with stdout and stderr into log_path; the exit status, 128 + N if killed by signal N.
int run_process(const std::vector<std::string>& argv, const std::string& log_path);

// Local engine: the runs not done, `jobs` at a time, each `sh -c COMMAND > LOG 2>&1`. Returns each
// run's exit status (0 for runs already done) and prints one line per finished run.
std::vector<int> run_local(const std::vector<GridRun>& runs, int jobs);

// Slurm engine: writes GRID/engine/{tasks.tsv, array.sbatch, report.sbatch}, submits the array of the
// runs not done and the report (or only the report when none is missing), prints the job ids; with
// options.wait, waits for the report job, prints its output and throws if the report failed.
// Every Slurm command runs under a timeout: an unreachable controller is an error, not a hang.
void run_slurm(const std::string& grid, const std::vector<GridRun>& runs, const std::string& report_command,
               const EngineOptions& options);

// The sbatch script of one array task: runs lines K i + 1 .. K i + K of ENGINE_DIR/tasks.tsv
// (i = SLURM_ARRAY_TASK_ID), writing LOG.exit for each: "running", then its exit code, or "killed"
// when the task was sent SIGTERM (scancel, the time limit) or the run died of it (exit 143).
std::string array_script(const std::string& name, const std::string& engine_dir, const std::string& cwd,
                         int runs_per_task);

// For the report: one line per run that is not done, with its log and what Slurm or the local
// engine recorded (exit code, killed, never started). Empty when every run is done.
std::vector<std::string> missing_runs(const std::string& grid, const std::vector<GridRun>& runs);
// For a report that needs every run: throws std::runtime_error "N of M NOUN failed or are missing;
// UNWRITTEN not written; run the command again to resubmit them:" and the missing_runs lines.
void require_every_run(const std::string& grid, const std::vector<GridRun>& runs, const std::string& noun,
                       const std::string& unwritten);

}  // namespace awd
