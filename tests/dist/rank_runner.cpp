#include "rank_runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <thread>

#include "dist/socket.h"
#include "dist/tcp_communicator.h"

namespace dsv4::dist::test {

namespace {

RendezvousOptions rank_options(int world, int rank, int port, double timeout_s, int listener_fd) {
  RendezvousOptions o;
  o.addr = {"127.0.0.1", port};
  o.world_size = world;
  o.rank = rank;
  o.timeout_s = timeout_s;
  o.listener_fd = rank == 0 ? listener_fd : -1;
  return o;
}

}  // namespace

std::vector<std::string> run_in_threads(int world, double timeout_s, const std::function<void(Communicator&)>& body) {
  Socket listener = listen_tcp({"127.0.0.1", 0});
  const int port = local_port(listener);
  const int fd = listener.release();
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        auto comm = connect_tcp_communicator(rank_options(world, r, port, timeout_s, fd), timeout_s);
        body(*comm);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
        if (errors[static_cast<size_t>(r)].empty()) errors[static_cast<size_t>(r)] = "(empty error)";
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

std::vector<ProcessOutcome> run_in_processes(int world, double timeout_s, double wait_s,
                                             const std::function<void(Communicator&)>& body) {
  Socket listener = listen_tcp({"127.0.0.1", 0});
  const int port = local_port(listener);
  const auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  std::vector<int> pipes;
  for (int r = 0; r < world; ++r) {
    int fds[2];
    if (pipe(fds) != 0) break;
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      int code = 2;
      std::string message;
      try {
        auto comm = connect_tcp_communicator(rank_options(world, r, port, timeout_s, listener.fd()), timeout_s);
        code = 1;
        body(*comm);
        code = 0;
      } catch (const std::exception& e) {
        message = e.what();
      }
      [[maybe_unused]] const ssize_t n = write(fds[1], message.data(), message.size());
      _exit(code);
    }
    close(fds[1]);
    pids.push_back(pid);
    pipes.push_back(fds[0]);
  }
  listener.close();
  std::vector<ProcessOutcome> out(pids.size());
  std::vector<bool> done(pids.size(), false);
  const auto give_up = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(wait_s));
  size_t left = pids.size();
  while (left > 0 && std::chrono::steady_clock::now() < give_up) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (done[i]) continue;
      char buf[4096];
      pollfd p{pipes[i], POLLIN, 0};
      if (poll(&p, 1, 0) > 0) {
        const ssize_t n = read(pipes[i], buf, sizeof buf);
        if (n > 0) {
          out[i].message.append(buf, static_cast<size_t>(n));
          continue;
        }
      }
      int status = 0;
      if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        while (true) {  // the rest of the message
          const ssize_t n = read(pipes[i], buf, sizeof buf);
          if (n <= 0) break;
          out[i].message.append(buf, static_cast<size_t>(n));
        }
        out[i].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (WIFSIGNALED(status)) out[i].signal = WTERMSIG(status);
        else out[i].exit_code = WEXITSTATUS(status);
        done[i] = true;
        --left;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (size_t i = 0; i < pids.size(); ++i) {
    if (!done[i]) {
      kill(pids[i], SIGKILL);
      int status = 0;
      waitpid(pids[i], &status, 0);
      out[i].signal = SIGKILL;
      out[i].message += "(still running after the test's wait: killed)";
      out[i].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    close(pipes[i]);
  }
  return out;
}

}  // namespace dsv4::dist::test
