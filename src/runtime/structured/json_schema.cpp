#include "runtime/structured/json_schema.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string_view>

#include "core/error.h"

namespace dsv4::structured {

namespace {

using Json = nlohmann::ordered_json;
constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();

const std::set<std::string, std::less<>> kAnnotations = {"title",   "description", "$schema",    "$id",     "$comment",
                                                         "default", "examples",    "deprecated", "readOnly", "writeOnly"};
const std::set<std::string, std::less<>> kKeywords = {
    "type",     "properties", "required", "additionalProperties", "items", "minItems",  "maxItems",   "minLength",
    "maxLength", "enum",      "const",    "anyOf",                "$ref",  "$defs",     "definitions"};
const std::set<std::string, std::less<>> kTypes = {"object", "array", "string", "number", "integer", "boolean", "null"};

std::string pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string at(const std::string& path, std::string_view key) { return path + "/" + pointer_token(key); }

bool has_type(const Json& v, std::string_view type) {
  if (type == "integer")
    return v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                     v.get<double>() == std::floor(v.get<double>()));
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "object") return v.is_object();
  return v.is_array();
}

}  // namespace

class SchemaCompiler::Impl {
 public:
  Impl(GrammarBuilder& builder, const Json& root) : b(builder), root_(root) {}

  uint32_t compile(const Json& s, const std::string& path) {
    if (s.is_boolean()) {
      if (s.get<bool>()) return b.any();
      fail("JSON schema: the schema 'false' (no value is valid) is not supported at {}", path);
    }
    if (!s.is_object()) fail("JSON schema: a schema must be an object or a boolean at {}", path);
    for (const auto& [key, value] : s.items())
      if (!kKeywords.contains(key) && !kAnnotations.contains(key))
        fail("JSON schema: unsupported keyword '{}' at {}", key, at(path, key));
    for (const char* defs : {"$defs", "definitions"})
      if (s.contains(defs) && !s[defs].is_object()) fail("JSON schema: '{}' must be an object at {}", defs, at(path, defs));

    if (s.contains("$ref")) {
      only_beside(s, path, "$ref", {});
      return ref(s["$ref"], at(path, "$ref"));
    }
    if (s.contains("anyOf")) {
      only_beside(s, path, "anyOf", {});
      const Json& alts = s["anyOf"];
      if (!alts.is_array() || alts.empty()) fail("JSON schema: 'anyOf' must be a non-empty array at {}", at(path, "anyOf"));
      std::vector<uint32_t> nodes;
      for (size_t i = 0; i < alts.size(); ++i) nodes.push_back(compile(alts[i], at(path, "anyOf") + "/" + std::to_string(i)));
      return b.any_of(std::move(nodes), path);
    }
    const std::vector<std::string> types = types_of(s, path);
    if (s.contains("enum") || s.contains("const")) {
      only_beside(s, path, s.contains("enum") ? "enum" : "const", {"type", "enum", "const"});
      return enumeration(s, types, path);
    }
    if (types.empty()) return b.any();
    std::vector<uint32_t> variants;
    for (const std::string& t : types) variants.push_back(typed(s, t, path));
    return b.any_of(std::move(variants), path);
  }

  GrammarBuilder& b;

 private:
  // `keyword` may be combined only with annotations, $defs and `extra`.
  static void only_beside(const Json& s, const std::string& path, const char* keyword, std::set<std::string_view> extra) {
    for (const auto& [key, value] : s.items()) {
      if (key == keyword || kAnnotations.contains(key) || key == "$defs" || key == "definitions" || extra.contains(key))
        continue;
      fail("JSON schema: unsupported keyword '{}' beside '{}' at {}", key, keyword, at(path, key));
    }
  }

  // The listed types, or the ones the keywords imply (none: any value).
  static std::vector<std::string> types_of(const Json& s, const std::string& path) {
    std::vector<std::string> types;
    if (s.contains("type")) {
      const Json& t = s["type"];
      const std::string where = at(path, "type");
      std::vector<Json> list = t.is_array() ? std::vector<Json>(t.begin(), t.end()) : std::vector<Json>{t};
      if (list.empty()) fail("JSON schema: 'type' is an empty list at {}", where);
      for (const Json& one : list) {
        if (!one.is_string() || !kTypes.contains(one.get<std::string>()))
          fail("JSON schema: unsupported type {} at {} (object, array, string, number, integer, boolean, null)",
               one.dump(), where);
        if (std::find(types.begin(), types.end(), one.get<std::string>()) == types.end())
          types.push_back(one.get<std::string>());
      }
      return types;
    }
    if (s.contains("enum") || s.contains("const")) return types;
    if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) types.push_back("object");
    if (s.contains("items") || s.contains("minItems") || s.contains("maxItems")) types.push_back("array");
    if (s.contains("minLength") || s.contains("maxLength")) types.push_back("string");
    return types;
  }

  static uint32_t count(const Json& s, const char* key, uint32_t fallback, const std::string& path) {
    if (!s.contains(key)) return fallback;
    const Json& v = s[key];
    if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0))
      return uint32_t(std::min<uint64_t>(v.get<uint64_t>(), kUnbounded));
    if (v.is_number_float() && v.get<double>() >= 0 && v.get<double>() == std::floor(v.get<double>()))
      return uint32_t(std::min(v.get<double>(), double(kUnbounded)));
    fail("JSON schema: '{}' must be a non-negative integer, got {} at {}", key, v.dump(), at(path, key));
  }

  uint32_t enumeration(const Json& s, const std::vector<std::string>& types, const std::string& path) {
    std::vector<Json> values;
    std::string where;
    if (s.contains("const")) {
      if (s.contains("enum")) fail("JSON schema: 'enum' and 'const' together are not supported at {}", path);
      values.push_back(s["const"]);
      where = at(path, "const");
    } else {
      where = at(path, "enum");
      if (!s["enum"].is_array() || s["enum"].empty()) fail("JSON schema: 'enum' must be a non-empty array at {}", where);
      values.assign(s["enum"].begin(), s["enum"].end());
    }
    std::vector<uint32_t> literals;
    std::set<std::string> seen;
    for (const Json& v : values) {
      if (!types.empty() && std::none_of(types.begin(), types.end(), [&](const std::string& t) { return has_type(v, t); }))
        continue;
      if (v.is_number_float() && !std::isfinite(v.get<double>())) fail("JSON schema: non-finite number in {}", where);
      std::string text = v.dump();
      if (seen.insert(text).second) literals.push_back(b.literal(std::move(text), where));
    }
    if (literals.empty()) fail("JSON schema: no value of {} has the type the schema asks for", where);
    return b.any_of(std::move(literals), path);
  }

  uint32_t typed(const Json& s, const std::string& type, const std::string& path) {
    if (type == "string")
      return b.string(count(s, "minLength", 0, path), count(s, "maxLength", kUnbounded, path), path);
    if (type == "number") return b.number(path);
    if (type == "integer") return b.integer(path);
    if (type == "boolean") return b.boolean(path);
    if (type == "null") return b.null(path);
    if (type == "array") {
      uint32_t max = count(s, "maxItems", kUnbounded, path);
      uint32_t items = 0;
      if (!s.contains("items")) {
        items = b.any();
      } else if (s["items"].is_boolean() && !s["items"].get<bool>()) {
        items = b.any();
        max = 0;  // items: false allows only []
      } else {
        items = compile(s["items"], at(path, "items"));
      }
      return b.array(items, count(s, "minItems", 0, path), max, path);
    }
    return object(s, path);
  }

  uint32_t object(const Json& s, const std::string& path) {
    const Json* extra = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    if (extra && !extra->is_boolean() && !extra->is_object())
      fail("JSON schema: 'additionalProperties' must be a boolean or a schema at {}", at(path, "additionalProperties"));
    std::set<std::string> required;
    if (s.contains("required")) {
      const Json& r = s["required"];
      if (!r.is_array()) fail("JSON schema: 'required' must be an array of names at {}", at(path, "required"));
      for (const Json& name : r) {
        if (!name.is_string()) fail("JSON schema: 'required' must be an array of names at {}", at(path, "required"));
        const std::string n = name.get<std::string>();
        if (!s.contains("properties") || !s["properties"].is_object() || !s["properties"].contains(n))
          fail("JSON schema: required property '{}' is not in 'properties' at {}", n, at(path, "required"));
        required.insert(n);
      }
    }
    if (!s.contains("properties")) {
      if (extra && extra->is_boolean() && !extra->get<bool>()) return b.object({}, path);  // only {}
      const uint32_t values = extra && extra->is_object() ? compile(*extra, at(path, "additionalProperties")) : b.any();
      return b.free_object(values, path);
    }
    const Json& props = s["properties"];
    if (!props.is_object()) fail("JSON schema: 'properties' must be an object at {}", at(path, "properties"));
    if (extra && extra->is_object() && !extra->empty())
      fail("JSON schema: unsupported keyword 'additionalProperties' (a schema beside 'properties') at {}",
           at(path, "additionalProperties"));
    std::vector<Property> list;
    for (const auto& [name, schema] : props.items()) {
      Property p;
      p.key = Json(name).dump();
      p.node = compile(schema, at(at(path, "properties"), name));
      p.required = required.contains(name);
      list.push_back(std::move(p));
    }
    return b.object(std::move(list), path);
  }

  uint32_t ref(const Json& r, const std::string& where) {
    if (!r.is_string()) fail("JSON schema: '$ref' must be a string at {}", where);
    const std::string target = r.get<std::string>();
    if (target.empty() || target[0] != '#')
      fail("JSON schema: only local references ('#...') are supported, not '{}' at {}", target, where);
    const std::string pointer = target.substr(1);
    if (auto it = refs_.find(pointer); it != refs_.end()) return it->second;
    const Json* schema = nullptr;
    try {
      schema = &root_.at(Json::json_pointer(pointer));
    } catch (const Json::exception&) {
      fail("JSON schema: '$ref' '{}' does not resolve at {}", target, where);
    }
    const uint32_t node = b.ref(target);
    refs_[pointer] = node;
    b.set_ref(node, compile(*schema, "#" + pointer));
    return node;
  }

  const Json& root_;
  std::map<std::string, uint32_t> refs_;  // JSON pointer -> its Ref node
};

SchemaCompiler::SchemaCompiler(GrammarBuilder& builder, const nlohmann::ordered_json& root)
    : impl_(std::make_unique<Impl>(builder, root)) {}
SchemaCompiler::~SchemaCompiler() = default;
uint32_t SchemaCompiler::compile(const nlohmann::ordered_json& schema, const std::string& path) {
  return impl_->compile(schema, path);
}

std::shared_ptr<const Grammar> compile_json_schema(const nlohmann::ordered_json& schema, GrammarLimits limits) {
  GrammarBuilder b;
  SchemaCompiler c(b, schema);
  const uint32_t root = c.compile(schema, "#");
  return b.finish(root, limits);
}

std::shared_ptr<const Grammar> compile_json_schema(const nlohmann::json& schema, GrammarLimits limits) {
  return compile_json_schema(nlohmann::ordered_json(schema), limits);
}

std::shared_ptr<const Grammar> json_object_grammar(GrammarLimits limits) {
  GrammarBuilder b;
  const uint32_t root = b.free_object(b.any(), "#");
  return b.finish(root, limits);
}

}  // namespace dsv4::structured
