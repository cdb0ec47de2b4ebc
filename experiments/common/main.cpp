// main.cpp: the awd command-line program. Each subcommand lives in its own cmd_*.cpp and is
// listed once, in commands.h. Exit codes: 0 success, 1 an error from any layer (one clear line),
// 2 a command line that does not parse or a flag outside its range (CLI11 names the flag).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "experiments/common/commands.h"

int main(int argc, char** argv) {
    CLI::App app{"awd: exact Hessians and the activity-weight duality of small MLPs"};
    app.require_subcommand(1);
    for (auto add_command : awd::kCommands) add_command(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;  // --help is a ParseError that exits 0
    } catch (const std::exception& e) {
        std::fprintf(stderr, "awd: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
