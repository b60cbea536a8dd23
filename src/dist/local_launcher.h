// Starts the local ranks of one node from one command: `local_world_size` copies of a program
// (by default this very binary with this process's arguments), one per GPU, and supervises them.
//
// fork + exec, not fork alone: CUDA state does not survive fork (a child of a process that has
// touched CUDA cannot use it, and the engine may have), and threads do not either; exec gives
// every rank a fresh process that initialises its own device, as torchrun and vLLM's
// multiprocessing workers do. The child learns its place from the environment:
//   DSV4_LOCAL_RANK, DSV4_LOCAL_WORLD_SIZE, and for local rank 0 DSV4_RENDEZVOUS_FD: a bound,
//   listening socket the launcher created (port 0 = ephemeral, so concurrent launches never
//   collide), which rank 0 adopts as its rendezvous listener (RendezvousOptions::listener_fd).
// Each child gets PR_SET_PDEATHSIG = SIGKILL, so the ranks die with the launcher. When one rank
// fails (non-zero exit or a signal) the others get SIGTERM, and SIGKILL after grace_s.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dsv4::dist {

struct LaunchOptions {
  int local_world_size = 1;
  std::vector<std::string> argv;  // program and arguments; empty: /proc/self/exe + this process's arguments
  std::vector<std::pair<std::string, std::string>> env;  // added to each child's environment
  int rendezvous_fd = -1;         // handed to local rank 0 (see above); -1: none
  double grace_s = 5;
};

struct RankExit {
  int local_rank = 0;
  int pid = 0;
  int exit_code = 0;  // when it exited
  int signal = 0;     // when a signal ended it (0: it exited)
  bool ok() const { return signal == 0 && exit_code == 0; }
};

struct LaunchResult {
  std::vector<RankExit> ranks;
  int first_failure = -1;  // local rank that failed first, -1 if none
  // 0 when every rank succeeded, else the first failure's exit code (128 + signal when signalled).
  int exit_code() const;
  std::string summary() const;  // "local rank 1 (pid 123) was killed by signal 9; ..."
};

// Starts the ranks and waits for all of them. Throws dsv4::Error when a child cannot be started.
LaunchResult launch_local_ranks(const LaunchOptions& options);

// In a child of the launcher: its place (nullopt when DSV4_LOCAL_RANK is not set).
struct LocalRankEnv {
  int local_rank = 0;
  int local_world_size = 1;
  int rendezvous_fd = -1;
};
std::optional<LocalRankEnv> local_rank_from_env();

}  // namespace dsv4::dist
