#include "dist/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "core/error.h"

namespace dsv4::dist {

Deadline Deadline::in(double seconds) {
  return {Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))};
}

int Deadline::poll_ms() const {
  const auto left = at - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(ms);
}

std::string HostPort::str() const { return fmt::format("{}:{}", host, port); }

HostPort parse_host_port(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    fail("'{}' is not host:port", text);
  HostPort hp;
  hp.host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    fail("'{}': the port '{}' is not a number in 0..65535", text, port);
  hp.port = std::stoi(port);
  if (hp.port > 65535) fail("'{}': the port {} is not in 0..65535", text, hp.port);
  return hp;
}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.release();
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

sockaddr_in resolve(const HostPort& where) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(where.port));
  if (inet_pton(AF_INET, where.host.c_str(), &addr.sin_addr) == 1) return addr;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(where.host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) fail("cannot resolve host '{}': {}", where.host, gai_strerror(rc));
  addr.sin_addr = reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr;
  freeaddrinfo(found);
  return addr;
}

std::string dotted(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return buf;
}

sockaddr_in sock_name(const Socket& s, bool peer) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  const int rc = peer ? getpeername(s.fd(), reinterpret_cast<sockaddr*>(&a), &len)
                      : getsockname(s.fd(), reinterpret_cast<sockaddr*>(&a), &len);
  if (rc != 0) fail("get{}name: {}", peer ? "peer" : "sock", std::strerror(errno));
  return a;
}

Socket new_tcp_socket() {
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) fail("socket(): {}", std::strerror(errno));
  return s;
}

// Waits until `fd` is ready for `events`; false when the deadline passed.
bool wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, deadline.poll_ms());
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return true;  // let the following call report the error
  }
}

}  // namespace

Socket listen_tcp(const HostPort& where, int backlog) {
  Socket s = new_tcp_socket();
  const int one = 1;
  setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in addr = resolve(where);
  if (::bind(s.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    fail("cannot listen on {}: bind: {}", where.str(), std::strerror(errno));
  if (::listen(s.fd(), backlog) != 0) fail("cannot listen on {}: {}", where.str(), std::strerror(errno));
  return s;
}

int local_port(const Socket& s) { return ntohs(sock_name(s, false).sin_port); }
std::string local_host(const Socket& s) { return dotted(sock_name(s, false)); }
std::string peer_host(const Socket& s) { return dotted(sock_name(s, true)); }

Socket connect_tcp(const HostPort& where, Deadline deadline, const std::string& who) {
  const sockaddr_in addr = resolve(where);
  std::string last = "no attempt";
  while (true) {
    Socket s = new_tcp_socket();
    set_nonblocking(s);
    int rc = ::connect(s.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      if (!wait_for(s.fd(), POLLOUT, deadline)) {
        last = "timed out connecting";
        break;
      }
      socklen_t len = sizeof err;
      getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    }
    if (err == 0) {
      const int flags = fcntl(s.fd(), F_GETFL);
      fcntl(s.fd(), F_SETFL, flags & ~O_NONBLOCK);
      return s;
    }
    last = std::strerror(err);
    if (err != ECONNREFUSED && err != ENETUNREACH && err != EHOSTUNREACH && err != ETIMEDOUT &&
        err != ECONNRESET && err != EAGAIN)
      break;
    if (deadline.passed()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50, deadline.poll_ms())));
    if (deadline.passed()) break;
  }
  fail("{}: could not connect to {} before the deadline (last error: {})", who, where.str(), last);
}

Socket accept_tcp(const Socket& listener, Deadline deadline) {
  while (wait_for(listener.fd(), POLLIN, deadline)) {
    Socket s(::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    if (s.valid()) return s;
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
      fail("accept: {}", std::strerror(errno));
  }
  return Socket();
}

void set_nonblocking(const Socket& s) {
  const int flags = fcntl(s.fd(), F_GETFL);
  if (flags < 0 || fcntl(s.fd(), F_SETFL, flags | O_NONBLOCK) != 0) fail("fcntl(O_NONBLOCK): {}", std::strerror(errno));
}

void set_nodelay(const Socket& s) {
  const int one = 1;
  setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

IoResult send_all(const Socket& s, const void* data, size_t bytes, Deadline deadline, std::string* error) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (bytes > 0) {
    const ssize_t n = ::send(s.fd(), p, bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_for(s.fd(), POLLOUT, deadline)) return IoResult::timeout;
      continue;
    }
    if (error != nullptr) *error = std::strerror(errno);
    return IoResult::closed;
  }
  return IoResult::ok;
}

IoResult recv_all(const Socket& s, void* data, size_t bytes, Deadline deadline, std::string* error) {
  auto* p = static_cast<uint8_t*>(data);
  while (bytes > 0) {
    const ssize_t n = ::recv(s.fd(), p, bytes, MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      if (error != nullptr) *error = "connection closed";
      return IoResult::closed;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_for(s.fd(), POLLIN, deadline)) return IoResult::timeout;
      continue;
    }
    if (error != nullptr) *error = std::strerror(errno);
    return IoResult::closed;
  }
  return IoResult::ok;
}

}  // namespace dsv4::dist
