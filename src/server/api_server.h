// `dsv4 serve`'s server: the routes, API-key checks, health while loading, errors rendered in
// each API's shape, /v1/models and /metrics, on top of HttpServer and the engine driver. The
// HTTP side starts before the model is loaded (GET /health says 503 until set_ready()).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "server/http_server.h"
#include "server/serving.h"

namespace dsv4::server {

struct ApiServerOptions {
  HttpServerOptions http;
  std::string api_key;       // empty: no authentication
  std::string model_name;    // as /v1/models lists it
};

class ApiServer {
 public:
  explicit ApiServer(ApiServerOptions options);
  ~ApiServer();

  int bind() { return http_->bind(); }
  void serve() { http_->serve(); }
  void stop() { http_->stop(); }

  // The model is loaded and the engine runs: generation endpoints open. `ctx` must outlive the
  // server (or a later set_ready).
  void set_ready(const ServingContext* ctx);
  bool ready() const { return ctx_.load() != nullptr; }

  // Routing, for tests: what a request gets.
  HttpResponse dispatch(const HttpRequest& request);

 private:
  ApiServerOptions options_;
  std::atomic<const ServingContext*> ctx_{nullptr};
  int64_t created_;
  std::unique_ptr<HttpServer> http_;
};

// Constant-time comparison (no early exit on the first differing byte).
bool same_secret(const std::string& given, const std::string& expected);

}  // namespace dsv4::server
