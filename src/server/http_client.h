// A small HTTP/1.1 client (cpp-httplib underneath) for `dsv4 bench serve` and the server tests:
// GET / POST with JSON, and streamed responses handed over chunk by chunk.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace dsv4::server {

struct BaseUrl {
  std::string host;
  int port = 80;
  std::string prefix;  // path prefix without a trailing slash, e.g. "" or "/v1"
};
// "http://127.0.0.1:8000[/prefix]" (https is not supported). Throws dsv4::Error.
BaseUrl parse_base_url(const std::string& url);

struct HttpResult {
  int status = -1;     // -1: no response (error says why)
  std::string body;    // whole body (for streamed responses too, unless on_chunk returned false)
  std::string error;
};

class HttpClient {
 public:
  HttpClient(const std::string& host, int port, int timeout_s = 600);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  using Headers = std::multimap<std::string, std::string>;
  HttpResult get(const std::string& path, const Headers& headers = {});
  // on_chunk sees the body as it arrives; returning false aborts the request (disconnects).
  HttpResult post(const std::string& path, const std::string& body, const Headers& headers = {},
                  const std::function<bool(std::string_view)>& on_chunk = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsv4::server
