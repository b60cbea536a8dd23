#include "dist/local_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/file_io.h"

extern char** environ;

namespace dsv4::dist {

namespace {

std::vector<std::string> self_argv() {
  const std::string all = read_file("/proc/self/cmdline", "this process's arguments");
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == '\0') {
      args.push_back(all.substr(start, i - start));
      start = i + 1;
    }
  if (args.empty()) fail("launcher: cannot read this process's arguments from /proc/self/cmdline");
  args[0] = "/proc/self/exe";
  return args;
}

// Everything the child needs, prepared before fork (the child only calls async-signal-safe
// functions: in a multi-threaded parent nothing else is safe after fork).
struct ChildPlan {
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  std::vector<char*> argvp;
};

ChildPlan plan_child(const std::vector<std::string>& argv, const LaunchOptions& o, int local_rank) {
  ChildPlan plan;
  std::vector<std::pair<std::string, std::string>> add = o.env;
  add.emplace_back("DSV4_LOCAL_RANK", std::to_string(local_rank));
  add.emplace_back("DSV4_LOCAL_WORLD_SIZE", std::to_string(o.local_world_size));
  if (local_rank == 0 && o.rendezvous_fd >= 0) add.emplace_back("DSV4_RENDEZVOUS_FD", std::to_string(o.rendezvous_fd));
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    bool replaced = key == "DSV4_RENDEZVOUS_FD";
    for (const auto& [k, v] : add) replaced = replaced || k == key;
    if (!replaced) plan.env_strings.push_back(kv);
  }
  for (const auto& [k, v] : add) plan.env_strings.push_back(k + "=" + v);
  for (auto& s : plan.env_strings) plan.envp.push_back(s.data());
  plan.envp.push_back(nullptr);
  for (const auto& a : argv) plan.argvp.push_back(const_cast<char*>(a.c_str()));
  plan.argvp.push_back(nullptr);
  return plan;
}

[[noreturn]] void exec_child(const ChildPlan& plan, int pass_fd, int close_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (pass_fd >= 0) fcntl(pass_fd, F_SETFD, 0);  // keep it across exec
  if (close_fd >= 0) close(close_fd);
  execve(plan.argvp[0], plan.argvp.data(), plan.envp.data());
  const char msg[] = "dsv4 launcher: exec failed\n";
  [[maybe_unused]] const ssize_t n = write(2, msg, sizeof msg - 1);
  _exit(127);
}

}  // namespace

int LaunchResult::exit_code() const {
  if (first_failure < 0) return 0;
  const RankExit& r = ranks[static_cast<size_t>(first_failure)];
  return r.signal != 0 ? 128 + r.signal : r.exit_code;
}

std::string LaunchResult::summary() const {
  std::string s;
  for (const RankExit& r : ranks) {
    if (r.ok()) continue;
    s += fmt::format("{}local rank {} (pid {}) {}", s.empty() ? "" : "; ", r.local_rank, r.pid,
                     r.signal != 0 ? fmt::format("was killed by signal {} ({})", r.signal, strsignal(r.signal))
                                   : fmt::format("exited with status {}", r.exit_code));
  }
  return s.empty() ? "every local rank exited with status 0" : s;
}

LaunchResult launch_local_ranks(const LaunchOptions& o) {
  if (o.local_world_size < 1) fail("launcher: local world size {} < 1", o.local_world_size);
  const std::vector<std::string> argv = o.argv.empty() ? self_argv() : o.argv;
  std::vector<ChildPlan> plans;
  for (int r = 0; r < o.local_world_size; ++r) plans.push_back(plan_child(argv, o, r));

  LaunchResult result;
  std::vector<bool> running;
  for (int r = 0; r < o.local_world_size; ++r) {
    const pid_t pid = fork();
    if (pid < 0) {
      for (const RankExit& started : result.ranks) kill(started.pid, SIGKILL);
      fail("launcher: fork for local rank {}: {}", r, std::strerror(errno));
    }
    if (pid == 0) exec_child(plans[static_cast<size_t>(r)], r == 0 ? o.rendezvous_fd : -1, r == 0 ? -1 : o.rendezvous_fd);
    result.ranks.push_back({r, pid, 0, 0});
    running.push_back(true);
  }

  int left = o.local_world_size;
  std::chrono::steady_clock::time_point kill_at{};
  bool terminating = false;
  while (left > 0) {
    bool reaped = false;
    for (RankExit& r : result.ranks) {
      if (!running[static_cast<size_t>(r.local_rank)]) continue;
      int status = 0;
      const pid_t got = waitpid(r.pid, &status, WNOHANG);
      if (got != r.pid) continue;
      reaped = true;
      running[static_cast<size_t>(r.local_rank)] = false;
      --left;
      if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
      else r.exit_code = WEXITSTATUS(status);
      if (!r.ok() && result.first_failure < 0 && !terminating) {
        result.first_failure = r.local_rank;
        terminating = true;
        kill_at = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                          std::chrono::duration<double>(o.grace_s));
        for (const RankExit& other : result.ranks)
          if (running[static_cast<size_t>(other.local_rank)]) kill(other.pid, SIGTERM);
      }
    }
    if (terminating && std::chrono::steady_clock::now() >= kill_at)
      for (const RankExit& other : result.ranks)
        if (running[static_cast<size_t>(other.local_rank)]) kill(other.pid, SIGKILL);
    if (!reaped && left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return result;
}

std::optional<LocalRankEnv> local_rank_from_env() {
  const char* rank = std::getenv("DSV4_LOCAL_RANK");
  if (rank == nullptr) return std::nullopt;
  LocalRankEnv e;
  e.local_rank = std::atoi(rank);
  if (const char* w = std::getenv("DSV4_LOCAL_WORLD_SIZE")) e.local_world_size = std::atoi(w);
  if (const char* fd = std::getenv("DSV4_RENDEZVOUS_FD")) e.rendezvous_fd = std::atoi(fd);
  if (e.local_rank < 0 || e.local_rank >= e.local_world_size)
    fail("DSV4_LOCAL_RANK={} is not in 0..{} (DSV4_LOCAL_WORLD_SIZE)", e.local_rank, e.local_world_size - 1);
  return e;
}

}  // namespace dsv4::dist
