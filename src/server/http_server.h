// The HTTP layer behind a small interface (cpp-httplib underneath; only http_server.cpp
// includes it, so another implementation can replace it). One dispatch function sees every
// request; a response is either a whole body or a stream written piece by piece (SSE).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsv4::server {

struct HttpRequest {
  std::string method, path, body;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string remote;
  // True once the client has closed the connection (or it broke): a handler that waits for
  // the engine without writing asks it now and then. Null: the transport cannot tell.
  std::function<bool()> client_gone;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Where a streaming response writes; write() returns false once the client is gone.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual bool write(std::string_view data) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed (chunked transfer) by calling this once on the connection's
  // thread. It must return when the sink fails. `on_close` runs when the connection is done with
  // the response, whether or not `stream` ran (the client may have left first).
  std::function<void(StreamSink&)> stream;
  std::function<void()> on_close;
};

using HttpDispatch = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                 // 0 = any free port
  int threads = 512;               // connection threads (one per open connection)
  size_t max_body_bytes = 32u << 20;
  int read_timeout_s = 30, write_timeout_s = 30;
  int keep_alive_timeout_s = 5;    // idle keep-alive connections close after this (and shutdown waits for them)
  int keep_alive_max_requests = 1000;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpDispatch dispatch);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the socket (throws dsv4::Error when it cannot); returns the port.
  int bind();
  // Serves until stop(); returns after the connection threads have finished.
  void serve();
  // Stops accepting; serve() returns once in-flight connections are done. Safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsv4::server
