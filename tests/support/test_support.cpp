#include "support/test_support.h"

#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace dsv4::test {

uint64_t fresh_seed(const char* what) {
  uint64_t seed;
  if (const char* env = std::getenv("DSV4_TEST_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  } else {
    std::random_device rd;
    seed = (uint64_t(rd()) << 32) ^ rd() ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  std::printf("[seed] %s: %llu\n", what, static_cast<unsigned long long>(seed));
  return seed;
}

std::string shared_dir() {
  // DSV4_SHARED_DIR in the environment overrides the build-time path (the GPU machine gets a copy).
  if (const char* env = std::getenv("DSV4_SHARED_DIR")) return env;
  return DSV4_SHARED_DIR;
}
std::string source_dir() { return DSV4_SOURCE_DIR; }
std::string binary_dir() { return DSV4_BINARY_DIR; }
std::string cli_path() { return DSV4_CLI_PATH; }
std::string golden_dir(const std::string& name) { return shared_dir() + "/golden/" + name; }

std::string make_temp_dir(const std::string& prefix) {
  std::string templ = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) return {};
  return templ;
}

int run_command(const std::string& command, std::string* output) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0)
    if (output != nullptr) output->append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

CliResult run_cli(const std::string& args) {
  CliResult r;
  r.code = run_command(cli_path() + " " + args + " 2>&1", &r.out);
  return r;
}

}  // namespace dsv4::test
