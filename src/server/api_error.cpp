#include "server/api_error.h"

namespace dsv4::server {

std::string ApiError::default_type(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 405: return "method_not_allowed";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

nlohmann::json ApiError::openai_json() const {
  nlohmann::json e{{"message", message_}, {"type", type_}, {"param", nullptr}, {"code", nullptr}};
  if (!param_.empty()) e["param"] = param_;
  e["code"] = code_.empty() ? nlohmann::json(status_) : nlohmann::json(code_);
  return nlohmann::json{{"error", e}};
}

nlohmann::json ApiError::anthropic_json() const {
  std::string type = type_;
  if (status_ == 429) type = "rate_limit_error";
  if (status_ == 503) type = "overloaded_error";
  if (status_ == 413) type = "request_too_large";
  if (status_ >= 500 && status_ != 503) type = "api_error";
  return nlohmann::json{{"type", "error"}, {"error", {{"type", type}, {"message", message_}}}};
}

}  // namespace dsv4::server
