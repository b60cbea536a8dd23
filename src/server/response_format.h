// OpenAI's response_format: {"type": "text"} | {"type": "json_object"} |
// {"type": "json_schema", "json_schema": {"name", "schema", "strict", "description"}}.
// Parsed and validated here; the constraint itself (a grammar-constrained sampler) attaches in
// attach_response_format(), the one place that will wire it.
#pragma once

#include <string>

#include "runtime/engine.h"
#include "server/request_json.h"

namespace dsv4::server {

struct ResponseFormat {
  enum class Type { Text, JsonObject, JsonSchema };
  Type type = Type::Text;
  std::string schema_name;
  Json schema;        // json_schema: the JSON Schema object
  bool strict = false;
};

// Parses request["response_format"] (absent or null => text). Throws ApiError 400 naming
// response_format.* on a malformed value.
ResponseFormat parse_response_format(const Json& request);

// Attaches the constraint of `format` to one engine request. Text needs none. JSON formats need
// the grammar-constrained sampler, which is not part of the engine yet: they are a 400 until it is.
void attach_response_format(const ResponseFormat& format, GenerationRequest& request);

}  // namespace dsv4::server
