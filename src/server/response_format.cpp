#include "server/response_format.h"

#include "core/error.h"
#include "runtime/structured/response_format.h"
#include "server/api_error.h"

namespace dsv4::server {

ResponseFormat parse_response_format(const Json& request) {
  ResponseFormat f;
  const Json* rf = get_object(request, "response_format");
  if (!rf) return f;
  f.raw = *rf;
  const std::optional<std::string> type = get_string(*rf, "type", "response_format");
  if (!type) bad_request("response_format.type", "'response_format.type' is required");
  if (*type == "text") return f;
  if (*type == "json_object") {
    f.type = ResponseFormat::Type::JsonObject;
    return f;
  }
  if (*type != "json_schema")
    bad_request("response_format.type", "'response_format.type' must be text, json_object or json_schema, got '{}'", *type);
  f.type = ResponseFormat::Type::JsonSchema;
  const Json* js = get_object(*rf, "json_schema", "response_format");
  if (!js) bad_request("response_format.json_schema", "'response_format.json_schema' is required for type json_schema");
  const std::optional<std::string> name = get_string(*js, "name", "response_format.json_schema");
  if (!name || name->empty() || name->size() > 64)
    bad_request("response_format.json_schema.name", "'response_format.json_schema.name' must be a string of 1 to 64 characters");
  f.schema_name = *name;
  const Json* schema = get_object(*js, "schema", "response_format.json_schema");
  f.schema = schema ? *schema : Json::object();
  f.strict = get_bool(*js, "strict", "response_format.json_schema").value_or(false);
  get_string(*js, "description", "response_format.json_schema");
  return f;
}

void attach_response_format(const ResponseFormat& format, const std::shared_ptr<const structured::TokenTrie>& vocabulary,
                            GenerationRequest& request) {
  if (!format.constrained()) return;
  if (!vocabulary)
    throw ApiError(400, "response_format json_object / json_schema needs the model's tokenizer.json", "response_format.type",
                   "invalid_request_error", "unsupported_response_format");
  try {
    request.params.constraint = structured::response_format_constraint(format.raw, vocabulary);
  } catch (const Error& e) {
    throw ApiError(400, e.message(), "response_format");
  }
}

}  // namespace dsv4::server
