#include "runtime/structured/response_format.h"

#include "core/error.h"
#include "runtime/structured/json_constraint.h"

namespace dsv4::structured {

std::shared_ptr<const TokenConstraintFactory> json_schema_constraint(const nlohmann::ordered_json& schema,
                                                                     std::shared_ptr<const TokenTrie> vocabulary,
                                                                     GrammarLimits limits) {
  return std::make_shared<JsonConstraintFactory>(compile_json_schema(schema, limits), std::move(vocabulary), "json_schema");
}

std::shared_ptr<const TokenConstraintFactory> json_object_constraint(std::shared_ptr<const TokenTrie> vocabulary,
                                                                     GrammarLimits limits) {
  return std::make_shared<JsonConstraintFactory>(json_object_grammar(limits), std::move(vocabulary), "json_object");
}

std::shared_ptr<const TokenConstraintFactory> response_format_constraint(const nlohmann::ordered_json& rf,
                                                                         std::shared_ptr<const TokenTrie> vocabulary,
                                                                         GrammarLimits limits) {
  return with_context("response_format", [&]() -> std::shared_ptr<const TokenConstraintFactory> {
    if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
      fail("must be an object with a string 'type' (text, json_object or json_schema)");
    const std::string type = rf["type"].get<std::string>();
    if (type == "text") return nullptr;
    if (type == "json_object") return json_object_constraint(std::move(vocabulary), limits);
    if (type != "json_schema") fail("unsupported type '{}' (text, json_object or json_schema)", type);
    if (!rf.contains("json_schema") || !rf["json_schema"].is_object())
      fail("type json_schema needs a 'json_schema' object {{name, schema, strict}}");
    const auto& js = rf["json_schema"];
    if (!js.contains("schema")) fail("'json_schema' has no 'schema'");
    return json_schema_constraint(js["schema"], std::move(vocabulary), limits);
  });
}

}  // namespace dsv4::structured
