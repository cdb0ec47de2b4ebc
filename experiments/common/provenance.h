// provenance.h: what made a run (version, commit, command line, flags, threads, BLAS kernel),
// rerunning a run from the summary it wrote, and never replacing a run folder silently.
//
// Every summary a command writes carries a "provenance" object:
//   {"version": "0.1.0", "commit": "1a2b3c4d5e6f" (or "unknown" outside a git checkout, "-dirty"
//    appended for uncommitted changes), "command": "train", "command_line": ["awd", "train", ...],
//    "flags": {"lr": "0.05", "no-bias": "true", "widths": ["3", "4"]}   every flag given, as typed
//    "threads": 1, "blas": {"core": "Haswell", "config": "OpenBLAS 0.3.21 ..."}}
// The same seed gives other bytes on another BLAS kernel, so the kernel is part of the record.
//
// `awd COMMAND --config FILE` reads provenance.flags of FILE (any summary with that object) as if
// typed before the flags on the command line: explicit flags override it, a flag the command does
// not have or a value out of its range is refused, naming it. Not: a general config-file format.
//
// A command's --out folder that already holds a summary with provenance is compared with this
// invocation before the command runs: the same command and flags onto a complete folder say so and
// exit 0 without doing the work again; other flags are refused, naming each flag that differs,
// unless --overwrite is given. A folder written by an awd without provenance is refused the same way.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace awd {

// "awd 0.1.0 (commit 1a2b3c4d5e6f)"
std::string version_text();

// --version on the app; --config on it and --overwrite on every subcommand with --out; the record
// of the invocation and the check of the --out folder once the command line is parsed. Call after
// every subcommand is added.
void add_run_options(CLI::App& app, int argc, char** argv);

// The provenance object of the current invocation (threads and BLAS read now).
nlohmann::json provenance();
// summary with "provenance" added: what a command writes as its summary.
nlohmann::json with_provenance(nlohmann::json summary);

}  // namespace awd
