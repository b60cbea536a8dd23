// Errors the HTTP API reports: an HTTP status plus the OpenAI error object
// {"error": {"message", "type", "param", "code"}}. Handlers throw ApiError; the server turns it
// into the response (OpenAI-shaped, or Anthropic-shaped on /v1/messages).
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace dsv4::server {

class ApiError : public std::exception {
 public:
  ApiError(int status, std::string message, std::string param = {}, std::string type = {}, std::string code = {})
      : status_(status), message_(std::move(message)), param_(std::move(param)), type_(std::move(type)),
        code_(std::move(code)) {
    if (type_.empty()) type_ = default_type(status_);
  }
  const char* what() const noexcept override { return message_.c_str(); }
  int status() const { return status_; }
  const std::string& message() const { return message_; }
  const std::string& param() const { return param_; }
  const std::string& type() const { return type_; }
  const std::string& code() const { return code_; }

  // {"error": {"message", "type", "param", "code"}} (param and code null when empty).
  nlohmann::json openai_json() const;
  // {"type": "error", "error": {"type", "message"}} as Anthropic's API writes it.
  nlohmann::json anthropic_json() const;

  static std::string default_type(int status);

 private:
  int status_;
  std::string message_, param_, type_, code_;
};

// A 400 invalid_request_error naming the offending field.
template <typename... Args>
[[noreturn]] void bad_request(const std::string& param, fmt::format_string<Args...> format, Args&&... args) {
  throw ApiError(400, fmt::format(format, std::forward<Args>(args)...), param);
}

}  // namespace dsv4::server
