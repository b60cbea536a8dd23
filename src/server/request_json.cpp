#include "server/request_json.h"

#include <cmath>

#include "server/api_error.h"

namespace dsv4::server {

int json_nesting_depth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

Json parse_json_body(std::string_view body) {
  if (json_nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth)
    throw ApiError(400, fmt::format("the request body nests deeper than {} levels", kMaxJsonDepth));
  Json j;
  try {
    j = Json::parse(body.begin(), body.end());
  } catch (const Json::exception& e) {  // parse errors, and numbers out of range (1e999)
    throw ApiError(400, fmt::format("the request body is not valid JSON: {}", e.what()));
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

namespace {

std::string field(const std::string& where, const std::string& key) { return where.empty() ? key : where + "." + key; }

const Json* present(const Json& obj, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string type_of(const Json& v) { return v.type_name(); }

}  // namespace

std::optional<bool> get_bool(const Json& obj, const std::string& key, const std::string& where) {
  const Json* v = present(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) bad_request(field(where, key), "'{}' must be a boolean, got {}", field(where, key), type_of(*v));
  return v->get<bool>();
}

std::optional<int64_t> get_int(const Json& obj, const std::string& key, const std::string& where) {
  const Json* v = present(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX))
      bad_request(field(where, key), "'{}' is too large", field(where, key));
    return v->get<int64_t>();
  }
  if (v->is_number_float()) {  // 3.0 is accepted as 3 (as Python clients may send it)
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return int64_t(d);
  }
  bad_request(field(where, key), "'{}' must be an integer, got {}", field(where, key),
              v->is_number() ? v->dump() : type_of(*v));
}

std::optional<double> get_number(const Json& obj, const std::string& key, const std::string& where) {
  const Json* v = present(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad_request(field(where, key), "'{}' must be a number, got {}", field(where, key), type_of(*v));
  return v->get<double>();
}

std::optional<std::string> get_string(const Json& obj, const std::string& key, const std::string& where) {
  const Json* v = present(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad_request(field(where, key), "'{}' must be a string, got {}", field(where, key), type_of(*v));
  return v->get<std::string>();
}

const Json* get_object(const Json& obj, const std::string& key, const std::string& where) {
  const Json* v = present(obj, key);
  if (v && !v->is_object()) bad_request(field(where, key), "'{}' must be an object, got {}", field(where, key), type_of(*v));
  return v;
}

const Json* get_array(const Json& obj, const std::string& key, const std::string& where) {
  const Json* v = present(obj, key);
  if (v && !v->is_array()) bad_request(field(where, key), "'{}' must be an array, got {}", field(where, key), type_of(*v));
  return v;
}

std::optional<int64_t> get_int_in(const Json& obj, const std::string& key, int64_t lo, int64_t hi) {
  const std::optional<int64_t> v = get_int(obj, key);
  if (v && (*v < lo || *v > hi)) bad_request(key, "'{}' must be in [{}, {}], got {}", key, lo, hi, *v);
  return v;
}

std::vector<std::string> get_string_list(const Json& obj, const std::string& key) {
  const Json* v = present(obj, key);
  if (!v) return {};
  if (v->is_string()) return {v->get<std::string>()};
  if (!v->is_array()) bad_request(key, "'{}' must be a string or a list of strings", key);
  std::vector<std::string> out;
  for (const Json& s : *v) {
    if (!s.is_string()) bad_request(key, "'{}' must be a string or a list of strings", key);
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::string dump_json(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }
std::string dump_json(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace dsv4::server
