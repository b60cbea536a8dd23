// TCP sockets for the rendezvous and the CPU communicator: an owning descriptor, "host:port"
// parsing, listen / connect / accept, and whole-message send and receive bounded by a deadline.
//
// IPv4 only (hosts are dotted quads or names that resolve to one). Every wait is a poll() that
// ends at the caller's deadline; nothing here blocks without one. Sends use MSG_NOSIGNAL, so a
// closed peer is an error, never a SIGPIPE.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace dsv4::dist {

using Clock = std::chrono::steady_clock;

// A point in time after which a wait gives up; `seconds` from now.
struct Deadline {
  Clock::time_point at;
  static Deadline in(double seconds);
  bool passed() const { return Clock::now() >= at; }
  // Milliseconds left for poll(), at least 0 (rounded up, so a wait never ends early).
  int poll_ms() const;
};

// "host:port" (port 0..65535; 0 = an ephemeral port where a listener is created).
struct HostPort {
  std::string host;
  int port = 0;
  std::string str() const;
};
HostPort parse_host_port(const std::string& text);  // throws dsv4::Error naming the text

// An owned file descriptor (closed on destruction; moves only).
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { close(); }
  Socket(Socket&& o) noexcept : fd_(o.release()) {}
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void close();

 private:
  int fd_ = -1;
};

// A listening socket bound to host:port (port 0: the kernel picks one; see local_port()).
Socket listen_tcp(const HostPort& where, int backlog = 128);
// The local port / address of a bound or connected socket.
int local_port(const Socket& s);
std::string local_host(const Socket& s);  // dotted quad
std::string peer_host(const Socket& s);   // dotted quad of the other end

// Connects to `where`, retrying refused / unreachable attempts every ~50 ms until the deadline.
// Throws dsv4::Error("... could not connect to H:P within S s (last error: ...)"), with `who`
// (e.g. "rank 2") leading the message.
Socket connect_tcp(const HostPort& where, Deadline deadline, const std::string& who);
// Accepts one connection; an invalid Socket when the deadline passes first.
Socket accept_tcp(const Socket& listener, Deadline deadline);

void set_nonblocking(const Socket& s);
void set_nodelay(const Socket& s);

// Outcome of a whole-buffer transfer with a deadline.
enum class IoResult { ok, timeout, closed };
// Sends / receives exactly `bytes` (blocking or non-blocking sockets alike). `error` gets the
// errno text for `closed` (peer reset, EOF, ...).
IoResult send_all(const Socket& s, const void* data, size_t bytes, Deadline deadline, std::string* error);
IoResult recv_all(const Socket& s, void* data, size_t bytes, Deadline deadline, std::string* error);

}  // namespace dsv4::dist
