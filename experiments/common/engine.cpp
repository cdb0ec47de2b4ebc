// engine.cpp: the local engine (child processes in a pool of threads) and the Slurm engine
// (sbatch scripts written into the grid folder, submitted and watched with Slurm's own commands).
#include "experiments/common/engine.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "experiments/common/flags.h"
#include "nn/files.h"

extern char** environ;

namespace awd {

void add_engine_options(CLI::App* cmd, EngineOptions& o) {
    cmd->add_option(
           "--engine", o.engine,
           "local (child processes here) | slurm (a job array and a report job, see experiments/common/SLURM.md)")
        ->check(CLI::IsMember({"local", "slurm"}))
        ->capture_default_str();
    cmd->add_option("--slurm-args", o.slurm_args,
                    "slurm: extra sbatch arguments for both jobs, e.g. \"--partition=cpu --time=2:00:00\"");
    cmd->add_option("--runs-per-task", o.runs_per_task, "slurm: runs per array task (batches short runs)")
        ->check(integer_in(1, 1000000))
        ->capture_default_str();
    cmd->add_flag("--wait", o.wait, "slurm: wait for the report job and print its output");
    cmd->add_flag("--report-only", o.report_only,
                  "run nothing: build the tables from the finished runs in the folder and list the missing ones");
}

void check_engine_options(const EngineOptions& o) {
    if (o.engine != "slurm" && (o.wait || !o.slurm_args.empty() || o.runs_per_task != 1))
        throw std::invalid_argument(
            "--slurm-args, --runs-per-task and --wait are for --engine slurm; this command would run the grid here");
}

std::string awd_binary() {
    char buffer[4096];
    const ssize_t n = readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    if (n <= 0) throw std::runtime_error("cannot find the awd binary (/proc/self/exe)");
    return std::string(buffer, n);
}

std::string shell_quote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

std::string exact_number(double v) {
    char s[32];
    for (int digits = 15; digits <= 17; ++digits)
        if (std::snprintf(s, sizeof s, "%.*g", digits, v), std::strtod(s, nullptr) == v) break;
    return s;
}

namespace {

// Runs argv (found on PATH) with stdout and stderr into the given files; 127 when it cannot start.
int spawn_and_wait(const std::vector<std::string>& args, const std::string& out_path, const std::string& err_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err_path == out_path) posix_spawn_file_actions_adddup2(&actions, 1, 2);
    else posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid;
    const int error = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error == ENOENT) return 127;
    if (error) throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(error));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// LOG.exit: what became of the run's last attempt, "STATE WHERE" (state: running, killed or the exit code).
void mark(const std::string& log, const std::string& state, const std::string& where) {
    write_file_atomically(log + ".exit", state + " " + where + "\n");
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

struct Captured {
    int code;
    std::string out, err;
};

// A Slurm command under `timeout`, its stdout and stderr kept apart in GRID/engine/, in files named for this process
// and call: a grid's report job and the `--wait` of the command that submitted it poll squeue in the same folder at
// the same time, and with one name per tool either could read, or delete, the other's output.
Captured slurm_command(const std::string& engine_dir, std::vector<std::string> args, int seconds) {
    static std::atomic<long> calls{0};
    const std::string tool = args[0];
    args.insert(args.begin(), {"timeout", "-k", "5", std::to_string(seconds)});
    const std::string stem = engine_dir + "/." + tool + "." + std::to_string(getpid()) + "." + std::to_string(calls++);
    const std::string out = stem + ".out", err = stem + ".err";
    Captured c{spawn_and_wait(args, out, err), "", ""};
    c.out = trim(read_file(out)), c.err = trim(read_file(err));
    std::filesystem::remove(out), std::filesystem::remove(err);
    if (c.code == 124 || c.code == 137)
        throw std::runtime_error(tool + " did not answer within " + std::to_string(seconds) +
                                 " s: is the Slurm controller reachable? (try `scontrol ping`; SLURM_CONF or "
                                 "/etc/slurm/slurm.conf names it)");
    if (c.code == 127)
        throw std::runtime_error(tool +
                                 " not found: run on a Slurm submit host (Debian: apt-get install slurm-client)");
    return c;
}

std::vector<std::string> split_slurm_args(const std::string& text) {
    wordexp_t words;
    const int error = wordexp(text.c_str(), &words, WRDE_NOCMD | WRDE_UNDEF);
    if (error)
        throw std::invalid_argument("--slurm-args: cannot split \"" + text +
                                    "\" into arguments (unbalanced quotes, $( ) or an unset variable?)");
    std::vector<std::string> args(words.we_wordv, words.we_wordv + words.we_wordc);
    wordfree(&words);
    return args;
}

// sbatch --parsable prints "JOBID" or "JOBID;CLUSTER".
std::string submit(const std::string& engine_dir, std::vector<std::string> args, const std::string& what) {
    args.insert(args.begin(), {"sbatch", "--parsable"});
    const Captured c = slurm_command(engine_dir, args, 60);
    const std::string id = c.out.substr(0, c.out.find(';'));
    if (c.code != 0 || id.empty() || id.find_first_not_of("0123456789") != std::string::npos)
        throw std::runtime_error("sbatch refused the " + what + " (exit " + std::to_string(c.code) +
                                 "): " + (c.err.empty() ? c.out : c.err));
    return id;
}

// True while squeue still lists the job (pending, running or completing).
bool in_queue(const std::string& engine_dir, const std::string& job) {
    const Captured c = slurm_command(engine_dir, {"squeue", "-h", "-j", job, "-o", "%T"}, 30);
    if (c.code != 0 && c.err.find("Invalid job id") != std::string::npos)
        return false;  // already purged from the controller
    if (c.code != 0) throw std::runtime_error("squeue failed (exit " + std::to_string(c.code) + "): " + c.err);
    return !c.out.empty();
}

// The array and report job ids of the grid's last submission (jobs.tsv's last line).
std::pair<std::string, std::string> last_submission(const std::string& engine_dir) {
    std::istringstream in(read_file(engine_dir + "/jobs.tsv"));
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    std::istringstream fields(last);
    std::string array, report;
    fields >> array >> report;
    return {array, report};
}

std::string report_script(const std::string& name, const std::string& engine_dir, const std::string& cwd,
                          const std::string& command) {
    return "#!/bin/sh\n"
           "# The grid's report: its tables and figures from the runs present, and the list of the missing ones.\n"
           "#SBATCH --job-name=awd-report-" +
        name +
        "\n"
        "#SBATCH --output=" +
        engine_dir +
        "/logs/report-%j.out\n"
        "#SBATCH --chdir=" +
        cwd +
        "\n"
        "#SBATCH --ntasks=1\n"
        "export OPENBLAS_NUM_THREADS=\"${OPENBLAS_NUM_THREADS:-1}\" OMP_NUM_THREADS=\"${OMP_NUM_THREADS:-1}\"\n" +
        command +
        "\n"
        "code=$?\n"
        "echo \"$code\" > " +
        shell_quote(engine_dir) +
        "/report-\"$SLURM_JOB_ID\".exit\n"
        "exit \"$code\"\n";
}

}  // namespace

std::string array_script(const std::string& name, const std::string& engine_dir, const std::string& cwd,
                         int runs_per_task) {
    return "#!/bin/sh\n"
           "# One array task of the grid: runs lines K i + 1 .. K i + K of tasks.tsv (i = SLURM_ARRAY_TASK_ID), each "
           "with\n"
           "# its log and LOG.exit (running, then its exit code, or killed on SIGTERM from scancel or the time "
           "limit).\n"
           "#SBATCH --job-name=awd-" +
        name +
        "\n"
        "#SBATCH --output=" +
        engine_dir +
        "/logs/%A_%a.out\n"
        "#SBATCH --chdir=" +
        cwd +
        "\n"
        "#SBATCH --ntasks=1\n"
        "K=" +
        std::to_string(runs_per_task) +
        "\n"
        "tasks=" +
        shell_quote(engine_dir + "/tasks.tsv") +
        "\n"
        "export OPENBLAS_NUM_THREADS=\"${OPENBLAS_NUM_THREADS:-1}\" OMP_NUM_THREADS=\"${OMP_NUM_THREADS:-1}\"\n"
        "where=\"slurm ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
        "killed=0 failed=0\n"
        "trap 'killed=1' TERM\n"
        "mark() { printf '%s %s\\n' \"$2\" \"$where\" > \"$1.exit.tmp\" && mv -f \"$1.exit.tmp\" \"$1.exit\"; }\n"
        "n=$((SLURM_ARRAY_TASK_ID * K + 1))\n"
        "last=$((n + K - 1))\n"
        "while [ \"$n\" -le \"$last\" ] && [ \"$killed\" = 0 ]; do\n"
        "  line=$(sed -n \"${n}p\" \"$tasks\")\n"
        "  [ -n \"$line\" ] || break\n"
        "  name=$(printf '%s\\n' \"$line\" | cut -f1)\n"
        "  log=$(printf '%s\\n' \"$line\" | cut -f2)\n"
        "  command=$(printf '%s\\n' \"$line\" | cut -f3-)\n"
        "  mark \"$log\" running\n"
        "  sh -c \"$command\" > \"$log\" 2>&1 < /dev/null\n"
        "  code=$?\n"
        "  # 143 = 128 + SIGTERM: the run may die of scancel's signal before this shell's own trap has run\n"
        "  [ \"$code\" = 143 ] && killed=1\n"
        "  if [ \"$killed\" = 1 ]; then mark \"$log\" killed; else mark \"$log\" \"$code\"; fi\n"
        "  [ \"$code\" = 0 ] || failed=1\n"
        "  echo \"$name: exit $code (log $log)\"\n"
        "  n=$((n + 1))\n"
        "done\n"
        "[ \"$killed\" = 0 ] || exit 143\n"
        "exit $failed\n";
}

int run_process(const std::vector<std::string>& args, const std::string& log_path) {
    return spawn_and_wait(args, log_path, log_path);
}

std::vector<int> run_local(const std::vector<GridRun>& runs, int jobs) {
    std::vector<int> codes(runs.size(), 0);
    std::vector<size_t> todo;
    for (size_t i = 0; i < runs.size(); ++i)
        if (!runs[i].done) todo.push_back(i);
    std::atomic<size_t> next{0};
    std::mutex print;
    size_t finished = 0;
    const auto t0 = std::chrono::steady_clock::now();
    auto worker = [&] {
        for (size_t t; (t = next++) < todo.size();) {
            const GridRun& run = runs[todo[t]];
            make_directories(std::filesystem::path(run.log).parent_path().string());
            mark(run.log, "running", "local");
            const int code = codes[todo[t]] = run_process({"/bin/sh", "-c", run.command}, run.log);
            mark(run.log, std::to_string(code), "local");
            std::lock_guard<std::mutex> lock(print);
            std::printf("  [%zu/%zu] %s: %s (%.0f s elapsed)\n", ++finished, todo.size(), run.name.c_str(),
                        code == 0 ? "done" : ("exit " + std::to_string(code) + ", log " + run.log).c_str(),
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            std::fflush(stdout);
        }
    };
    std::vector<std::thread> pool;
    for (int j = 0; j < std::min<int>(jobs, (int)todo.size()); ++j) pool.emplace_back(worker);
    for (std::thread& th : pool) th.join();
    return codes;
}

void run_slurm(const std::string& grid, const std::vector<GridRun>& runs, const std::string& report_command,
               const EngineOptions& o) {
    const std::string engine_dir = std::filesystem::absolute(grid + "/engine").lexically_normal().string();
    const std::string cwd = std::filesystem::current_path().string();
    const std::string name = std::filesystem::absolute(grid).lexically_normal().filename().string();
    make_directories(engine_dir + "/logs");
    const std::vector<std::string> extra = split_slurm_args(o.slurm_args);
    // the last submission's array still reads tasks.tsv: it must be out of the queue before tasks.tsv changes
    if (file_exists(engine_dir + "/jobs.tsv")) {
        const auto [array, report] = last_submission(engine_dir);
        const char* self = std::getenv("SLURM_JOB_ID");  // a report job submitting the grid's next stage
        for (const std::string& job : {array, report})
            if (job != "-" && !job.empty() && (!self || job != self) && in_queue(engine_dir, job))
                throw std::runtime_error("job " + job + " of this grid (" + engine_dir +
                                         "/jobs.tsv) is still queued or running; "
                                         "wait for it (squeue -j " +
                                         job + ") or cancel it (scancel " + job + ") first");
    }
    std::ostringstream tasks;
    size_t missing = 0;
    for (const GridRun& r : runs) {
        if (r.done) continue;
        if (r.name.find_first_of("\t\n") != std::string::npos || r.log.find_first_of("\t\n") != std::string::npos ||
            r.command.find('\n') != std::string::npos)
            throw std::invalid_argument("run '" + r.name +
                                        "': a name, log or command with a tab or newline cannot go into tasks.tsv");
        make_directories(std::filesystem::path(r.log).parent_path().string());
        tasks << r.name << '\t' << r.log << '\t' << r.command << '\n';
        ++missing;
    }
    const size_t array_tasks = (missing + o.runs_per_task - 1) / o.runs_per_task;
    write_file_atomically(engine_dir + "/tasks.tsv", tasks.str());
    write_file_atomically(engine_dir + "/array.sbatch", array_script(name, engine_dir, cwd, o.runs_per_task));
    write_file_atomically(engine_dir + "/report.sbatch", report_script(name, engine_dir, cwd, report_command));
    std::string array_id = "-";
    if (missing > 0) {
        std::vector<std::string> args = {"--array=0-" + std::to_string(array_tasks - 1)};
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(engine_dir + "/array.sbatch");
        array_id = submit(engine_dir, args, "job array");
    }
    std::vector<std::string> args;
    if (missing > 0) args = {"--dependency=afterany:" + array_id, "--kill-on-invalid-dep=yes"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(engine_dir + "/report.sbatch");
    std::string report_id;
    try {
        report_id = submit(engine_dir, args, "report job");
    } catch (const std::exception&) {
        if (missing > 0) slurm_command(engine_dir, {"scancel", array_id}, 30);  // no array without its report
        throw;
    }
    std::ofstream(engine_dir + "/jobs.tsv", std::ios::app)
        << array_id << '\t' << report_id << '\t' << missing << " runs\t" << array_tasks << " tasks\n";
    if (missing > 0)
        std::printf(
            "submitted job array %s: %zu of %zu runs in %zu tasks (%d per task); report job %s after it (afterany)\n",
            array_id.c_str(), missing, runs.size(), array_tasks, o.runs_per_task, report_id.c_str());
    else std::printf("all %zu runs are done; submitted report job %s\n", runs.size(), report_id.c_str());
    std::printf("  scripts and logs: %s\n", engine_dir.c_str());
    std::fflush(stdout);
    if (!o.wait) return;
    // a report job may submit the grid's next stage (gan-paper's bisection): follow jobs.tsv to the last report
    for (std::string next = report_id;;) {
        while (in_queue(engine_dir, report_id)) std::this_thread::sleep_for(std::chrono::seconds(2));
        next = last_submission(engine_dir).second;
        if (next == report_id) break;
        const std::string log = engine_dir + "/logs/report-" + report_id + ".out";
        if (file_exists(log)) std::printf("%s", read_file(log).c_str());
        std::printf("report job %s submitted the next stage; waiting for report job %s\n", report_id.c_str(),
                    next.c_str());
        std::fflush(stdout);
        report_id = next;
    }
    const std::string log = engine_dir + "/logs/report-" + report_id + ".out",
                      exit_file = engine_dir + "/report-" + report_id + ".exit";
    if (file_exists(log)) std::printf("%s", read_file(log).c_str());
    const std::string code = file_exists(exit_file) ? trim(read_file(exit_file)) : "";
    if (code != "0")
        throw std::runtime_error(
            "the report job " + report_id + " " +
            (code.empty() ? "did not finish (cancelled, or its dependency failed)" : "failed (exit " + code + ")") +
            "; its log: " + log);
}

std::vector<std::string> missing_runs(const std::string& grid, const std::vector<GridRun>& runs) {
    std::vector<std::string> lines;
    for (const GridRun& r : runs) {
        if (r.done) continue;
        std::string state = "never started (not run yet, or its array task was cancelled before it began)", where;
        if (file_exists(r.log + ".exit")) {
            std::istringstream in(read_file(r.log + ".exit"));
            std::string code, engine, task;
            in >> code >> engine >> task;
            where =
                engine == "slurm" ? "; Slurm task " + task + ", its log " + grid + "/engine/logs/" + task + ".out" : "";
            if (code == "running")
                state = "killed without an exit code (SIGKILL, out of memory, node failure) or still running";
            else if (code == "killed" || code == "143") state = "killed (SIGTERM: scancel or the time limit), exit code 143";
            else if (code == "0") state = "exit code 0, but its results are missing or incomplete";
            else state = "failed, exit code " + code;
        }
        lines.push_back(r.name + ": " + state + "; log " + r.log + where);
    }
    return lines;
}

void require_every_run(const std::string& grid, const std::vector<GridRun>& runs, const std::string& noun,
                       const std::string& unwritten) {
    const std::vector<std::string> missing = missing_runs(grid, runs);
    if (missing.empty()) return;
    std::string lines;
    for (const std::string& line : missing) lines += "\n  " + line;
    throw std::runtime_error(std::to_string(missing.size()) + " of " + std::to_string(runs.size()) + " " + noun +
                             " failed or are missing; " + unwritten +
                             " not written; run the command again to resubmit them:" + lines);
}

}  // namespace awd
