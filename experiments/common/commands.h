// commands.h: the list of awd's subcommands, in the order `awd --help` shows them. Each
// add_*_command lives in its cmd_*.cpp and adds its options and its callback to the app; main.cpp
// adds every entry of kCommands. Is not: the commands themselves.
#pragma once

#include <CLI/CLI.hpp>

namespace awd {

void add_train_command(CLI::App& app);
void add_hessian_command(CLI::App& app);
void add_duality_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_overview_command(CLI::App& app);
void add_check_hessian_command(CLI::App& app);
void add_gan_command(CLI::App& app);
void add_gan_paper_command(CLI::App& app);
void add_landscape_command(CLI::App& app);
void add_sgd_noise_command(CLI::App& app);
void add_continual_command(CLI::App& app);
void add_continual_table_command(CLI::App& app);
void add_claims_command(CLI::App& app);
void add_rl_command(CLI::App& app);

inline constexpr void (*kCommands[])(CLI::App&) = {
    add_train_command,     add_hessian_command,   add_duality_command,
    add_sweep_command,     add_overview_command,  add_check_hessian_command,
    add_gan_command,       add_gan_paper_command, add_landscape_command,
    add_sgd_noise_command, add_continual_command, add_continual_table_command,
    add_claims_command,    add_rl_command,
};

}  // namespace awd
