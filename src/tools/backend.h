// --device for the CLI: "cpu" (the reference backend) or "cuda" / "cuda:N" (the CUDA backend on
// device N, when this build has it), with weight-upload progress shown on stderr.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "backends/ops.h"

namespace dsv4::tools {

struct Backend {
  std::unique_ptr<Ops> owned;  // null for the CPU (a process-wide singleton)
  Ops* ops = nullptr;
  std::string device = "cpu";
};

// Throws dsv4::Error for an unknown device or a build without CUDA.
Backend make_backend(const std::string& device);

// Adds --device to a command.
void add_device_option(CLI::App* cmd, std::string& device);

}  // namespace dsv4::tools
