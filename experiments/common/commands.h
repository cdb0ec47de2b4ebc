// commands.h: one function per awd subcommand; each adds its options and its callback to the app.
#pragma once

#include <CLI/CLI.hpp>

namespace awd {

void add_check_hessian_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_hessian_command(CLI::App& app);
void add_duality_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_overview_command(CLI::App& app);
void add_gan_command(CLI::App& app);
void add_gan_paper_command(CLI::App& app);
void add_landscape_command(CLI::App& app);
void add_sgd_noise_command(CLI::App& app);
void add_continual_command(CLI::App& app);
void add_continual_table_command(CLI::App& app);
void add_claims_command(CLI::App& app);
void add_rl_command(CLI::App& app);

}  // namespace awd
