// Reading a JSON request body safely: size and nesting limits checked before the parser runs
// (nlohmann's parser recurses, so a deeply nested body must be refused up front), and typed
// field accessors whose errors are 400s naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/python_json.h"  // chat::Json (ordered: tool schemas keep their key order)

namespace dsv4::server {

using Json = chat::Json;

inline constexpr int kMaxJsonDepth = 64;

// Parses a request body that must be a JSON object. Throws ApiError 400 for malformed JSON
// (including invalid UTF-8), nesting deeper than kMaxJsonDepth, or a non-object.
Json parse_json_body(std::string_view body);

// Nesting depth of JSON text (brackets outside strings), stopping early past `limit`.
int json_nesting_depth(std::string_view text, int limit);

// Typed optional fields of a request object; absent or null => nullopt. A wrong type is a 400
// naming `key` (prefixed with `where` when given, e.g. "stream_options.include_usage").
std::optional<bool> get_bool(const Json& obj, const std::string& key, const std::string& where = {});
std::optional<int64_t> get_int(const Json& obj, const std::string& key, const std::string& where = {});
std::optional<double> get_number(const Json& obj, const std::string& key, const std::string& where = {});
std::optional<std::string> get_string(const Json& obj, const std::string& key, const std::string& where = {});
const Json* get_object(const Json& obj, const std::string& key, const std::string& where = {});
const Json* get_array(const Json& obj, const std::string& key, const std::string& where = {});

// An integer field within [lo, hi].
std::optional<int64_t> get_int_in(const Json& obj, const std::string& key, int64_t lo, int64_t hi);

// "stop": a string or a list of strings (null/absent => empty).
std::vector<std::string> get_string_list(const Json& obj, const std::string& key);

// JSON text for a response: never throws on invalid UTF-8 (replaced by U+FFFD).
std::string dump_json(const Json& j);
std::string dump_json(const nlohmann::json& j);

}  // namespace dsv4::server
