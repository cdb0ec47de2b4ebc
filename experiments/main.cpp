// main.cpp: the awd command-line program. Each subcommand lives in its own cmd_*.cpp and
// registers itself here; errors from any layer end as one clear line and exit code 1, bad flags exit 2.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "experiments/commands.h"

int main(int argc, char** argv) {
    CLI::App app{"awd: exact Hessians and the activity-weight duality of small MLPs"};
    app.require_subcommand(1);
    awd::add_train_command(app);
    awd::add_hessian_command(app);
    awd::add_duality_command(app);
    awd::add_sweep_command(app);
    awd::add_overview_command(app);
    awd::add_check_hessian_command(app);
    awd::add_continual_command(app);
    awd::add_continual_table_command(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, or the error naming the flag
        return code == 0 ? 0 : 2;      // bad flags: exit code 2, whatever CLI11's internal code
    } catch (const std::exception& e) {
        std::fprintf(stderr, "awd: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
