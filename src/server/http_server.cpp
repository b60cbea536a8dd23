#include "server/http_server.h"

#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/select.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <cctype>

#include "core/error.h"
#include "server/api_error.h"
#include "server/request_json.h"

namespace dsv4::server {

namespace {

class SinkAdapter final : public StreamSink {
 public:
  explicit SinkAdapter(httplib::DataSink& sink) : sink_(sink) {}
  bool write(std::string_view data) override {
    if (!ok_) return false;
    ok_ = sink_.write(data.data(), data.size());
    return ok_;
  }
  bool ok() const { return ok_; }

 private:
  httplib::DataSink& sink_;
  bool ok_ = true;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

std::string error_body(int status, const std::string& message) {
  return dump_json(ApiError(status, message).openai_json());
}

// cpp-httplib 0.11 waits on sockets with select(): a descriptor at or above FD_SETSIZE would be
// out of the fd_set's bounds. Keep the process's descriptor limit below it, so that accept()
// fails (and the connection waits in the backlog) instead.
void cap_descriptor_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  if (r.rlim_cur == RLIM_INFINITY || r.rlim_cur > rlim_t(FD_SETSIZE)) {
    r.rlim_cur = FD_SETSIZE;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

// Debian's cpp-httplib 0.11 is compiled with a listen backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG):
// a burst of connections overflows it, and the kernel drops handshakes that clients then retry
// after 1, 3, 7 s. listen() again on the bound socket raises the backlog; the socket is found by
// the port it listens on (cpp-httplib does not expose it).
void raise_listen_backlog(int port) {
  for (int fd = 3; fd < FD_SETSIZE; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port) ::listen(fd, SOMAXCONN);
  }
}

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
  return -1;
}

// The socket of a request's connection. cpp-httplib 0.11 does not hand it to handlers (and
// Debian builds it as a library, so its connection loop cannot be wrapped): it is the descriptor
// whose two ends are the request's (the local port, the peer's port and address, formatted as
// cpp-httplib formats remote_addr). -1 when none matches. The descriptor stays the connection's
// while its handler runs: cpp-httplib closes it only after the response is written.
int connection_socket(const std::string& remote_addr, int remote_port, int local_port) {
  for (int fd = 3; fd < FD_SETSIZE; ++fd) {
    sockaddr_storage peer{}, local{};
    socklen_t plen = sizeof peer, llen = sizeof local;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0 || port_of(peer) != remote_port) continue;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) != 0 || port_of(local) != local_port) continue;
    char host[NI_MAXHOST];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&peer), plen, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    if (remote_addr == host) return fd;
  }
  return -1;
}

// The peer has closed its side (FIN), or the connection was reset. A request body is read in
// full before the handler runs, so an HTTP client that waits for its answer sends nothing more
// and keeps its side open.
bool peer_closed(int fd) {
  pollfd p{fd, short(POLLIN | POLLRDHUP), 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpDispatch dispatch;
  httplib::Server server;
  int port = -1;
  std::atomic<bool> stop_requested{false}, serving{false};

  void handle(const httplib::Request& req, httplib::Response& res) {
    HttpRequest r;
    r.method = req.method;
    r.path = req.path;
    r.body = req.body;
    r.remote = req.remote_addr;
    for (const auto& [k, v] : req.headers) r.headers.emplace(lower(k), v);
    r.client_gone = [addr = req.remote_addr, remote_port = req.remote_port, local_port = req.local_port, fd = -2]() mutable {
      if (fd == -2) fd = connection_socket(addr, remote_port, local_port);  // found once, on first use
      return fd >= 0 && peer_closed(fd);
    };
    HttpResponse out;
    try {
      out = dispatch(r);
    } catch (const std::exception& e) {
      out = HttpResponse{};
      out.status = 500;
      out.body = error_body(500, std::string("internal error: ") + e.what());
    }
    res.status = out.status;
    for (const auto& [k, v] : out.headers) res.set_header(k, v);
    if (out.stream) {
      auto stream = std::make_shared<std::function<void(StreamSink&)>>(std::move(out.stream));
      auto on_close = std::make_shared<std::function<void()>>(std::move(out.on_close));
      res.set_chunked_content_provider(
          out.content_type,
          [stream](size_t, httplib::DataSink& sink) {
            SinkAdapter a(sink);
            (*stream)(a);
            if (!a.ok()) return false;
            sink.done();
            return true;
          },
          [on_close](bool) {
            if (*on_close) (*on_close)();
          });
    } else {
      res.set_content(out.body, out.content_type);
      if (out.on_close) out.on_close();
    }
  }
};

HttpServer::HttpServer(HttpServerOptions options, HttpDispatch dispatch) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->dispatch = std::move(dispatch);
  httplib::Server& s = impl_->server;
  const int threads = std::max(1, impl_->options.threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  s.set_payload_max_length(impl_->options.max_body_bytes);
  s.set_read_timeout(impl_->options.read_timeout_s);
  s.set_write_timeout(impl_->options.write_timeout_s);
  s.set_keep_alive_timeout(impl_->options.keep_alive_timeout_s);
  s.set_keep_alive_max_count(size_t(impl_->options.keep_alive_max_requests));
  s.set_tcp_nodelay(true);
  Impl* impl = impl_.get();
  auto h = [impl](const httplib::Request& req, httplib::Response& res) { impl->handle(req, res); };
  s.Get(".*", h);
  s.Post(".*", h);
  s.Put(".*", h);
  s.Patch(".*", h);
  s.Delete(".*", h);
  s.Options(".*", h);
  // Errors cpp-httplib decides itself (413 body too large, 400 malformed request line, ...).
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      const std::string message =
          res.status == 413 ? "the request body is too large" : fmt::format("HTTP error {}", res.status);
      res.set_content(error_body(res.status, message), "application/json");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content(error_body(500, "internal error"), "application/json");
  });
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  cap_descriptor_limit();
  httplib::Server& s = impl_->server;
  if (impl_->options.port == 0)
    impl_->port = s.bind_to_any_port(impl_->options.host);
  else
    impl_->port = s.bind_to_port(impl_->options.host, impl_->options.port) ? impl_->options.port : -1;
  if (impl_->port <= 0) fail("cannot listen on {}:{}", impl_->options.host, impl_->options.port);
  raise_listen_backlog(impl_->port);
  return impl_->port;
}

void HttpServer::serve() {
  impl_->serving.store(true);
  if (!impl_->stop_requested.load()) impl_->server.listen_after_bind();
  impl_->serving.store(false);
}

void HttpServer::stop() {
  impl_->stop_requested.store(true);
  // cpp-httplib's stop() does nothing until listen has started: retry briefly for that window.
  for (int i = 0; i < 200 && !impl_->server.is_running() && impl_->serving.load(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  impl_->server.stop();
}

}  // namespace dsv4::server
