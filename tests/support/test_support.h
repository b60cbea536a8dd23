// Helpers shared by the test executables: fresh random seeds (printed, overridable), paths.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace dsv4::test {

// A seed that differs on every run unless DSV4_TEST_SEED is set; the value is printed so a
// failure can be reproduced with DSV4_TEST_SEED=<seed>.
uint64_t fresh_seed(const char* what);

// ../shared (golden data, encoding cases), the source tree, the build tree, the CLI binary.
std::string shared_dir();
std::string source_dir();
std::string binary_dir();
std::string cli_path();
std::string golden_dir(const std::string& name);  // ../shared/golden/<name>

// A fresh empty temporary directory (removed by the OS's tmp cleaning, not by the test).
std::string make_temp_dir(const std::string& prefix);

// Runs a shell command and captures stdout; returns the exit code.
int run_command(const std::string& command, std::string* output);

// Runs the dsv4 binary with `args`; `out` holds stdout and stderr together.
struct CliResult {
  int code = -1;
  std::string out;
};
CliResult run_cli(const std::string& args);

}  // namespace dsv4::test

// Use inside a test to attach the seed to every failure message in scope.
#define DSV4_SEED_TRACE(seed) SCOPED_TRACE(::testing::Message() << "seed=" << (seed) << " (rerun with DSV4_TEST_SEED=" << (seed) << ")")
