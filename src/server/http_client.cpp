#include "server/http_client.h"

#include <httplib.h>

#include "core/error.h"

namespace dsv4::server {

BaseUrl parse_base_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) fail("base URL '{}' must start with http://", url);
  std::string rest = url.substr(scheme.size());
  BaseUrl b;
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    b.prefix = rest.substr(slash);
    rest = rest.substr(0, slash);
    while (!b.prefix.empty() && b.prefix.back() == '/') b.prefix.pop_back();
  }
  const size_t colon = rest.rfind(':');
  b.host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (colon != std::string::npos) {
    try {
      b.port = std::stoi(rest.substr(colon + 1));
    } catch (const std::exception&) {
      fail("base URL '{}' has a bad port", url);
    }
  }
  if (b.host.empty() || b.port <= 0 || b.port > 65535) fail("base URL '{}' has no host or a bad port", url);
  return b;
}

struct HttpClient::Impl {
  httplib::Client client;
  Impl(const std::string& host, int port) : client(host, port) {}
};

HttpClient::HttpClient(const std::string& host, int port, int timeout_s) : impl_(std::make_unique<Impl>(host, port)) {
  impl_->client.set_connection_timeout(30);
  impl_->client.set_read_timeout(timeout_s);
  impl_->client.set_write_timeout(timeout_s);
  impl_->client.set_keep_alive(true);
  impl_->client.set_tcp_nodelay(true);
}

HttpClient::~HttpClient() = default;

namespace {

httplib::Headers to_headers(const HttpClient::Headers& h) {
  httplib::Headers out;
  for (const auto& [k, v] : h) out.emplace(k, v);
  return out;
}

HttpResult from(const httplib::Result& r, std::string body) {
  HttpResult out;
  if (!r) {
    out.error = httplib::to_string(r.error());
    out.body = std::move(body);
    return out;
  }
  out.status = r->status;
  out.body = body.empty() ? r->body : std::move(body);
  return out;
}

}  // namespace

HttpResult HttpClient::get(const std::string& path, const Headers& headers) {
  return from(impl_->client.Get(path, to_headers(headers)), {});
}

HttpResult HttpClient::post(const std::string& path, const std::string& body, const Headers& headers,
                            const std::function<bool(std::string_view)>& on_chunk) {
  if (!on_chunk) return from(impl_->client.Post(path, to_headers(headers), body, "application/json"), {});
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.headers = to_headers(headers);
  req.headers.emplace("Content-Type", "application/json");
  req.body = body;
  std::string received;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    received.append(data, n);
    return on_chunk(std::string_view(data, n));
  };
  return from(impl_->client.send(req), std::move(received));
}

}  // namespace dsv4::server
