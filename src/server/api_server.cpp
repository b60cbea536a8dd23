#include "server/api_server.h"

#include <cstdio>
#include <functional>

#include "core/error.h"
#include "server/api_error.h"
#include "server/api_handlers.h"

namespace dsv4::server {

bool same_secret(const std::string& given, const std::string& expected) {
  size_t diff = given.size() ^ expected.size();
  const size_t n = std::max(given.size(), expected.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char a = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    const unsigned char b = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    diff |= size_t(a ^ b);
  }
  return diff == 0;
}

namespace {

using Handler = std::function<HttpResponse(const ServingContext&, const HttpRequest&)>;

struct Route {
  const char* method;
  const char* path;
  bool authenticated;
  Handler handler;  // null: served by ApiServer itself
};

const std::vector<Route>& routes() {
  static const std::vector<Route> r = {
      {"GET", "/health", false, nullptr},
      {"GET", "/version", false, nullptr},
      {"GET", "/metrics", false, nullptr},
      {"GET", "/v1/models", true, nullptr},
      {"POST", "/v1/chat/completions", true, handle_chat_completions},
      {"POST", "/v1/completions", true, handle_completions},
      {"POST", "/v1/messages", true, handle_messages},
      {"POST", "/tokenize", true, handle_tokenize},
      {"POST", "/detokenize", true, handle_detokenize},
  };
  return r;
}

HttpResponse error_response(const ApiError& e, bool anthropic) {
  HttpResponse r = json_response(e.status(), anthropic ? Json(e.anthropic_json()) : Json(e.openai_json()));
  if (e.status() == 429 || e.status() == 503) r.headers.emplace_back("Retry-After", "1");
  if (e.status() == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace

ApiServer::ApiServer(ApiServerOptions options) : options_(std::move(options)), created_(unix_time()) {
  http_ = std::make_unique<HttpServer>(options_.http, [this](const HttpRequest& r) { return dispatch(r); });
}

ApiServer::~ApiServer() { http_->stop(); }

void ApiServer::set_ready(const ServingContext* ctx) { ctx_.store(ctx); }

HttpResponse ApiServer::dispatch(const HttpRequest& request) {
  const bool anthropic = request.path == "/v1/messages";
  const ServingContext* ctx = ctx_.load();
  const Route* route = nullptr;
  bool path_known = false;
  std::string allow;
  for (const Route& r : routes()) {
    if (request.path != r.path) continue;
    path_known = true;
    allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    if (request.method == r.method) route = &r;
  }
  HttpResponse res;
  try {
    if (!route) {
      if (!path_known) throw ApiError(404, "no such endpoint: " + request.method + " " + request.path);
      HttpResponse r = error_response(ApiError(405, "method " + request.method + " is not allowed on " + request.path), anthropic);
      r.headers.emplace_back("Allow", allow);
      res = std::move(r);
    } else if (route->authenticated && !options_.api_key.empty() &&
               !same_secret(request.header("authorization"), "Bearer " + options_.api_key) &&
               !same_secret(request.header("x-api-key"), options_.api_key)) {
      throw ApiError(401, "invalid or missing API key (send 'Authorization: Bearer <key>')", "", "authentication_error",
                     "invalid_api_key");
    } else if (request.path == "/health") {
      if (!ctx) {
        res = json_response(503, Json{{"status", "loading"}});
      } else {
        const bool healthy = ctx->driver->stats().healthy;
        res = json_response(healthy ? 200 : 503, Json{{"status", healthy ? "ok" : "error"}});
      }
    } else if (request.path == "/version") {
      res = json_response(200, Json{{"version", DSV4_VERSION}});
    } else if (!ctx) {
      throw ApiError(503, "the model is still loading", "", "service_unavailable", "loading");
    } else if (request.path == "/metrics") {
      res.content_type = "text/plain; version=0.0.4; charset=utf-8";
      res.body = ctx->metrics->render(ctx->driver->stats());
    } else if (request.path == "/v1/models") {
      Json model{{"id", options_.model_name}, {"object", "model"}, {"created", created_}, {"owned_by", "dsv4"},
                 {"root", ctx->model_dir}, {"parent", nullptr}, {"max_model_len", ctx->max_model_len}};
      res = json_response(200, Json{{"object", "list"}, {"data", Json::array({model})}});
    } else {
      res = route->handler(*ctx, request);
    }
  } catch (const ApiError& e) {
    res = error_response(e, anthropic);
  } catch (const Error& e) {  // the engine or the tokenizer refused the input
    res = error_response(ApiError(400, e.what()), anthropic);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "[serve] internal error on %s %s: %s\n", request.method.c_str(), request.path.c_str(), e.what());
    res = error_response(ApiError(500, std::string("internal error: ") + e.what()), anthropic);
  }
  if (ctx && ctx->metrics) ctx->metrics->count_http(route ? route->path : (path_known ? request.path : "other"), res.status);
  if (res.status >= 400 && ctx && ctx->log_requests)
    std::fprintf(stderr, "[serve] %s %s %d\n", request.method.c_str(), request.path.c_str(), res.status);
  return res;
}

}  // namespace dsv4::server
