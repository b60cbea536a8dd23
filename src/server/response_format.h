// OpenAI's response_format: {"type": "text"} | {"type": "json_object"} |
// {"type": "json_schema", "json_schema": {"name", "schema", "strict", "description"}}.
// Parsed and validated here; attach_response_format() turns it into the grammar-constrained
// sampler's token constraint (runtime/structured). JSON formats switch a chat request to
// non-thinking mode: the constraint holds from the first generated token, so the answer must not
// begin with reasoning.
#pragma once

#include <memory>
#include <string>

#include "runtime/engine.h"
#include "runtime/structured/token_trie.h"
#include "server/request_json.h"

namespace dsv4::server {

struct ResponseFormat {
  enum class Type { Text, JsonObject, JsonSchema };
  Type type = Type::Text;
  std::string schema_name;
  Json schema;        // json_schema: the JSON Schema object
  bool strict = false;
  Json raw;           // the request's response_format object as sent (null for none)
  bool constrained() const { return type != Type::Text; }
};

// Parses request["response_format"] (absent or null => text). Throws ApiError 400 naming
// response_format.* on a malformed value.
ResponseFormat parse_response_format(const Json& request);

// Attaches the constraint of `format` to one engine request (text: none). `vocabulary` is the
// served tokenizer's token trie (null without a tokenizer: JSON formats are then a 400). A schema
// outside the supported subset is a 400 on response_format.
void attach_response_format(const ResponseFormat& format, const std::shared_ptr<const structured::TokenTrie>& vocabulary,
                            GenerationRequest& request);

}  // namespace dsv4::server
