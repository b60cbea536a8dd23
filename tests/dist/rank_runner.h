// Runs a body on several ranks of the CPU communicator, over loopback with ephemeral ports (so
// parallel ctest runs never collide): as threads of this process, or as forked processes (for the
// tests that kill a rank).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace dsv4::dist::test {

// One thread per rank, each with its own TcpCommunicator. Returns per rank the error it threw
// ("" when it returned). `timeout_s` bounds the rendezvous and every collective.
std::vector<std::string> run_in_threads(int world, double timeout_s, const std::function<void(Communicator&)>& body);

struct ProcessOutcome {
  int exit_code = -1;   // 0: the body returned; 1: it threw (message holds what()); 2: set-up threw
  int signal = 0;       // the signal that ended it, 0 if it exited
  std::string message;
  double seconds = 0;   // from the start of the run to the end of this rank's process
};

// One forked process per rank (the body runs in the child, which then _exits). Waits at most
// `wait_s` for all of them (then kills the rest, which report signal 9).
std::vector<ProcessOutcome> run_in_processes(int world, double timeout_s, double wait_s,
                                             const std::function<void(Communicator&)>& body);

}  // namespace dsv4::dist::test
