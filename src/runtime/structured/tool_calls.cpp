#include "runtime/structured/tool_calls.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "runtime/structured/json_constraint.h"
#include "runtime/structured/json_schema.h"

namespace dsv4::structured {

namespace {

using OJson = nlohmann::ordered_json;

const std::set<std::string, std::less<>> kParameterKeys = {
    "type",  "properties", "required", "additionalProperties", "$defs",    "definitions", "title",    "description",
    "$schema", "$id",      "$comment", "default",              "examples", "deprecated",  "readOnly", "writeOnly"};

constexpr std::string_view kMarkerUtf8 = "\xEF\xBD\x9C";  // U+FF5C

// The DSML tags, as render_tool_calls writes them.
struct Tags {
  std::string m;
  std::string block_open() const { return fmt::format("\n\n<{}tool_calls>\n", m); }
  std::string block_close() const { return fmt::format("\n</{}tool_calls>", m); }
  std::string invoke_open(const std::string& name) const { return fmt::format("<{}invoke name=\"{}\">\n", m, name); }
  std::string invoke_close() const { return fmt::format("</{}invoke>", m); }
  std::string invoke_close_empty() const { return fmt::format("\n</{}invoke>", m); }
  std::string param_open(const std::string& key) const { return fmt::format("<{}parameter name=\"{}\" string=\"", m, key); }
  std::string param_close() const { return fmt::format("</{}parameter>\n", m); }
};

// A property's schema split by how the encoder writes its values: strings raw, the rest as JSON.
struct ValueParts {
  std::vector<uint32_t> raw, json;
};

void split_values(GrammarBuilder& b, uint32_t node, ValueParts& parts, int depth) {
  if (depth > 64) fail("JSON schema: $ref chain too deep at {}", b.node(node).path);
  const NodeKind kind = b.node(node).kind;
  if (kind == NodeKind::Ref) return split_values(b, b.node(node).children[0], parts, depth + 1);
  if (kind == NodeKind::AnyOf) {
    const std::vector<uint32_t> alternatives = b.node(node).children;
    for (uint32_t c : alternatives) split_values(b, c, parts, depth + 1);
    return;
  }
  if (kind == NodeKind::String) {
    const uint32_t min = b.node(node).min, max = b.node(node).max;
    parts.raw.push_back(b.text(min, max, '<', b.node(node).path));
    return;
  }
  if (kind == NodeKind::Literal && b.node(node).literal[0] == '"') {
    const std::string path = b.node(node).path;
    const std::string value = OJson::parse(b.node(node).literal).get<std::string>();
    if (value.find(kMarkerUtf8) != std::string::npos) {  // only as JSON, with the marker character escaped
      std::string escaped = b.node(node).literal;
      for (size_t at; (at = escaped.find(kMarkerUtf8)) != std::string::npos;) escaped.replace(at, kMarkerUtf8.size(), "\\uff5c");
      parts.json.push_back(b.literal(std::move(escaped), path));
    } else if (value.empty()) {
      parts.raw.push_back(b.text(0, 0, '<', path));
    } else {
      parts.raw.push_back(b.literal(value, path));
    }
    return;
  }
  parts.json.push_back(node);
}

bool bad_name(const std::string& s) { return s.empty() || s.find_first_of("\"\n") != std::string::npos; }

// The object schema of `parameters` (a top-level $ref followed).
const OJson& parameters_object(const OJson& params) {
  const OJson* s = &params;
  for (int hops = 0; s->is_object() && s->contains("$ref"); ++hops) {
    const OJson& r = (*s)["$ref"];
    if (hops > 16 || !r.is_string() || r.get<std::string>().rfind('#', 0) != 0)
      fail("'parameters' may use only a local $ref at the top");
    try {
      s = &params.at(OJson::json_pointer(r.get<std::string>().substr(1)));
    } catch (const OJson::exception&) {
      fail("'$ref' '{}' does not resolve", r.get<std::string>());
    }
  }
  if (!s->is_object()) fail("'parameters' must be a JSON Schema object");
  for (const auto& [key, value] : s->items())
    if (!kParameterKeys.contains(key) && key != "$ref")
      fail("JSON schema: unsupported keyword '{}' at the top of 'parameters' (an object schema: type, properties, "
           "required, additionalProperties, $defs)",
           key);
  if (s->contains("type")) {
    const OJson& t = (*s)["type"];
    const bool object = t == "object" || (t.is_array() && std::find(t.begin(), t.end(), OJson("object")) != t.end());
    if (!object) fail("'parameters' must have type object, got {}", t.dump());
  }
  return *s;
}

uint32_t invoke_of(GrammarBuilder& b, const ToolSchema& tool, const Tags& tags) {
  if (bad_name(tool.name)) fail("the function name must be non-empty, without '\"' or a newline");
  std::vector<Property> items;
  if (!tool.parameters.is_null()) {
    const OJson& obj = parameters_object(tool.parameters);
    SchemaCompiler compiler(b, tool.parameters);
    std::set<std::string> required;
    if (obj.contains("required")) {
      const OJson& r = obj["required"];
      if (!r.is_array()) fail("JSON schema: 'required' must be an array of names");
      for (const OJson& name : r) {
        if (!name.is_string() || !obj.contains("properties") || !obj["properties"].is_object() ||
            !obj["properties"].contains(name.get<std::string>()))
          fail("JSON schema: required property {} is not in 'properties'", name.dump());
        required.insert(name.get<std::string>());
      }
    }
    if (obj.contains("properties")) {
      const OJson& props = obj["properties"];
      if (!props.is_object()) fail("JSON schema: 'properties' must be an object");
      for (const auto& [key, schema] : props.items()) {
        if (bad_name(key)) fail("parameter name {} cannot be written in a DSML tag (empty, '\"' or a newline)", OJson(key).dump());
        ValueParts parts;
        split_values(b, compiler.compile(schema, fmt::format("#/properties/{}", key)), parts, 0);
        std::vector<uint32_t> forms;
        if (!parts.raw.empty()) forms.push_back(b.sequence({b.literal("true\">"), b.any_of(std::move(parts.raw))}));
        if (!parts.json.empty()) forms.push_back(b.sequence({b.literal("false\">"), b.any_of(std::move(parts.json))}));
        const uint32_t param = b.sequence({b.literal(tags.param_open(key)), b.any_of(std::move(forms)), b.literal(tags.param_close())},
                                          fmt::format("#/properties/{}", key));
        items.push_back(Property{"", param, required.contains(key)});
      }
    }
  }
  const uint32_t params = b.ordered(std::move(items), b.literal(tags.invoke_close()), b.literal(tags.invoke_close_empty()));
  return b.sequence({b.literal(tags.invoke_open(tool.name)), params});
}

}  // namespace

std::shared_ptr<const Grammar> compile_tool_calls(const std::vector<ToolSchema>& tools, const ToolCallFormat& format,
                                                  GrammarLimits limits) {
  if (tools.empty()) fail("forcing a tool call needs at least one tool");
  const Tags tags{format.marker};
  GrammarBuilder b;
  b.refuse_marker_char();
  std::vector<uint32_t> invokes;
  for (size_t i = 0; i < tools.size(); ++i)
    invokes.push_back(with_context(fmt::format("tools[{}] '{}'", i, tools[i].name), [&] { return invoke_of(b, tools[i], tags); }));
  const uint32_t one = b.any_of(std::move(invokes));
  uint32_t calls;
  if (format.parallel) {  // calls = one more;  more = block_close | "\n" calls
    calls = b.ref("(tool calls)");
    const uint32_t more = b.any_of({b.literal(tags.block_close()), b.sequence({b.literal("\n"), calls})});
    b.set_ref(calls, b.sequence({one, more}));
  } else {
    calls = b.sequence({one, b.literal(tags.block_close())});
  }
  return b.finish(b.sequence({b.literal(tags.block_open()), calls}), limits);
}

std::shared_ptr<const TokenConstraintFactory> tool_call_constraint(const std::vector<ToolSchema>& tools, bool parallel,
                                                                   std::shared_ptr<const TokenTrie> vocabulary,
                                                                   GrammarLimits limits) {
  if (!vocabulary) fail("tool_choice: a constraint needs the tokenizer's vocabulary");
  ToolCallFormat format;
  format.marker = vocabulary->marker(kDsmlMarker).value_or(kDsmlMarker);
  format.parallel = parallel;
  return std::make_shared<JsonConstraintFactory>(compile_tool_calls(tools, format, limits), std::move(vocabulary),
                                                 "tool_choice");
}

}  // namespace dsv4::structured
