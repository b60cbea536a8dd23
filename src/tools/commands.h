// The dsv4 CLI's subcommands: each file in tools/ adds one to the app.
#pragma once

#include <CLI/CLI.hpp>

namespace dsv4::tools {

void add_inspect_command(CLI::App& app);
void add_make_model_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_detokenize_command(CLI::App& app);
void add_render_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_drift_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_bench_serve_command(CLI::App& bench);  // `dsv4 bench serve`, under add_bench_command's bench

}  // namespace dsv4::tools
