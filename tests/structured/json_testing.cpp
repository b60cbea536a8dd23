#include "structured/json_testing.h"

#include <cmath>
#include <set>

namespace dsv4::test {

namespace {

using Json = nlohmann::json;

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool type_ok(const Json& v, const std::string& t) {
  if (t == "integer")
    return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  if (t == "number") return v.is_number();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  return false;
}

bool valid(const Json& v, const OJson& s, const OJson& root, int depth) {
  if (depth > 100) return false;
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) return valid(v, root.at(OJson::json_pointer(s["$ref"].get<std::string>().substr(1))), root, depth + 1);
  if (s.contains("anyOf")) {
    bool any = false;
    for (const OJson& alt : s["anyOf"]) any = any || valid(v, alt, root, depth + 1);
    if (!any) return false;
  }
  if (s.contains("const") && !(Json(s["const"]) == v)) return false;
  if (s.contains("enum")) {
    bool any = false;
    for (const OJson& e : s["enum"]) any = any || Json(e) == v;
    if (!any) return false;
  }
  if (s.contains("type")) {
    const OJson& t = s["type"];
    bool any = false;
    if (t.is_string()) any = type_ok(v, t.get<std::string>());
    for (const OJson& one : t.is_array() ? t : OJson::array()) any = any || type_ok(v, one.get<std::string>());
    if (!any) return false;
  }
  if (v.is_string()) {
    const size_t n = code_points(v.get<std::string>());
    if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return false;
    if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return false;
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return false;
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return false;
    if (s.contains("items"))
      for (const Json& item : v)
        if (!valid(item, s["items"], root, depth + 1)) return false;
  }
  if (v.is_object()) {
    if (s.contains("required"))
      for (const OJson& name : s["required"])
        if (!v.contains(name.get<std::string>())) return false;
    for (const auto& [key, item] : v.items()) {
      if (s.contains("properties") && s["properties"].contains(key)) {
        if (!valid(item, s["properties"][key], root, depth + 1)) return false;
      } else if (s.contains("additionalProperties") && !valid(item, s["additionalProperties"], root, depth + 1)) {
        return false;
      }
    }
  }
  return true;
}

// An integer keyword (written by this file, so a small non-negative number) or a default.
int count_of(const OJson& s, const char* key, int fallback) {
  if (!s.contains(key)) return fallback;
  const OJson& v = s[key];
  if (const auto* u = v.get_ptr<const OJson::number_unsigned_t*>()) return int(*u);
  if (const auto* i = v.get_ptr<const OJson::number_integer_t*>()) return int(*i);
  return fallback;
}

int uniform(std::mt19937_64& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
bool chance(std::mt19937_64& rng, double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }

const char* const kNames[] = {"id", "name", "a", "ab", "value", "x\"q", "sl/ash", "ü", "列表", "tab\there", "n"};

OJson small_value(std::mt19937_64& rng) {
  switch (uniform(rng, 0, 5)) {
    case 0: return OJson(std::string(kNames[uniform(rng, 0, 10)]));
    case 1: return OJson(uniform(rng, -50, 50));
    case 2: return OJson(double(uniform(rng, -400, 400)) / 8.0);
    case 3: return OJson(chance(rng, 0.5));
    case 4: return OJson(nullptr);
    default: return OJson{{"k", uniform(rng, 0, 9)}, {"l", OJson::array({1, "two"})}};
  }
}

OJson schema_at(std::mt19937_64& rng, int depth) {
  const int kind = depth >= 3 ? uniform(rng, 0, 6) : uniform(rng, 0, 15);
  switch (kind) {
    case 0: {
      OJson s = {{"type", "string"}};
      if (chance(rng, 0.4)) s["minLength"] = uniform(rng, 0, 3);
      if (chance(rng, 0.6)) s["maxLength"] = count_of(s, "minLength", 0) + uniform(rng, 0, 8);
      return s;
    }
    case 1: return {{"type", "integer"}};
    case 2: return {{"type", "number"}};
    case 3: return {{"type", "boolean"}};
    case 4: return {{"type", "null"}};
    case 5: {
      OJson e = OJson::array();
      for (int i = uniform(rng, 1, 4); i > 0; --i) e.push_back(small_value(rng));
      return {{"enum", e}};
    }
    case 6: return {{"const", small_value(rng)}, {"description", "a constant"}};
    case 7: return {{"type", OJson::array({"string", "null"})}, {"maxLength", uniform(rng, 0, 5)}};
    case 8: {
      OJson s = {{"type", "array"}, {"items", schema_at(rng, depth + 1)}};
      if (chance(rng, 0.4)) s["minItems"] = uniform(rng, 0, 2);
      if (chance(rng, 0.7)) s["maxItems"] = count_of(s, "minItems", 0) + uniform(rng, 0, 3);
      return s;
    }
    case 9:
    case 10:
    case 11: {
      OJson props = OJson::object(), required = OJson::array();
      for (int i = uniform(rng, 1, 4); i > 0; --i) {
        const std::string name = kNames[uniform(rng, 0, 10)];
        if (props.contains(name)) continue;
        props[name] = schema_at(rng, depth + 1);
        if (chance(rng, 0.6)) required.push_back(name);
      }
      OJson s = {{"type", "object"}, {"properties", props}, {"required", required}};
      if (chance(rng, 0.7)) s["additionalProperties"] = false;
      return s;
    }
    case 12: return {{"anyOf", OJson::array({schema_at(rng, depth + 1), schema_at(rng, depth + 1)})}};
    case 13: return {{"$ref", chance(rng, 0.5) ? "#/$defs/leaf" : "#/$defs/node"}};
    case 14:
      return chance(rng, 0.5) ? OJson{{"type", "object"}, {"additionalProperties", {{"type", "integer"}}}}
                              : OJson{{"type", "object"}};
    default: return chance(rng, 0.5) ? OJson(true) : OJson::object();  // any value
  }
}

// ---- random texts ----

struct Writer {
  std::mt19937_64& rng;
  const OJson& root;
  int max_ws;
  std::string out;

  void ws() {
    if (!chance(rng, 0.3)) return;
    const int n = uniform(rng, 1, max_ws);
    static const char kWs[] = {' ', '\n', '\t', '\r'};
    for (int i = 0; i < n; ++i) out += chance(rng, 0.7) ? ' ' : kWs[uniform(rng, 0, 3)];
  }

  void string_text(int length) {
    out += '"';
    static const char* const kRaw[] = {"a", "Z", "7", " ", "é", "中", "😀", "~", "\x7f", "ß"};
    static const char* const kEscaped[] = {"\\\"", "\\\\", "\\/", "\\n", "\\t", "\\b", "\\f", "\\r", "\\u00e9", "\\u0001",
                                           "\\uABCD", "\\uffff"};
    for (int i = 0; i < length; ++i) out += chance(rng, 0.8) ? kRaw[uniform(rng, 0, 9)] : kEscaped[uniform(rng, 0, 11)];
    out += '"';
  }

  void digits(int n, bool leading) {
    for (int i = 0; i < n; ++i) out += char('0' + uniform(rng, (i == 0 && leading) ? 1 : 0, 9));
  }

  void integer_text() {
    if (chance(rng, 0.3)) out += '-';
    if (chance(rng, 0.2))
      out += '0';
    else
      digits(uniform(rng, 1, 15), true);
  }

  void number_text() {
    integer_text();
    if (chance(rng, 0.5)) {
      out += '.';
      digits(uniform(rng, 1, 15), false);
    }
    if (chance(rng, 0.3)) {
      out += chance(rng, 0.5) ? 'e' : 'E';
      if (chance(rng, 0.5)) out += chance(rng, 0.5) ? '+' : '-';
      digits(uniform(rng, 1, 2), false);
    }
  }

  void any(int depth) {
    switch (uniform(rng, 0, depth > 3 ? 4 : 6)) {
      case 0: string_text(uniform(rng, 0, 5)); break;
      case 1: number_text(); break;
      case 2: out += chance(rng, 0.5) ? "true" : "false"; break;
      case 3: out += "null"; break;
      case 4: integer_text(); break;
      case 5: {
        out += '[';
        ws();
        for (int i = 0, n = uniform(rng, 0, 3); i < n; ++i) {
          if (i) {
            out += ',';
            ws();
          }
          any(depth + 1);
          ws();
        }
        out += ']';
        break;
      }
      default: free_object(OJson(true), depth);
    }
  }

  void free_object(const OJson& values, int depth) {
    out += '{';
    ws();
    for (int i = 0, n = uniform(rng, 0, 3); i < n; ++i) {
      if (i) {
        out += ',';
        ws();
      }
      string_text(uniform(rng, 0, 4));
      ws();
      out += ':';
      ws();
      value(values, depth + 1);
      ws();
    }
    out += '}';
  }

  void value(const OJson& s, int depth) {
    if (s.is_boolean()) return any(depth);
    if (s.contains("$ref")) return value(root.at(OJson::json_pointer(s["$ref"].get<std::string>().substr(1))), depth + 1);
    if (s.contains("anyOf")) return value(s["anyOf"][size_t(uniform(rng, 0, int(s["anyOf"].size()) - 1))], depth + 1);
    if (s.contains("const")) {
      out += s["const"].dump();
      return;
    }
    if (s.contains("enum")) {
      out += s["enum"][size_t(uniform(rng, 0, int(s["enum"].size()) - 1))].dump();
      return;
    }
    std::string type;
    if (s.contains("type"))
      type = s["type"].is_string() ? s["type"].get<std::string>()
                                   : s["type"][size_t(uniform(rng, 0, int(s["type"].size()) - 1))].get<std::string>();
    else if (s.contains("properties"))
      type = "object";
    else
      return any(depth);
    if (type == "string") {
      const int lo = count_of(s, "minLength", 0);
      const int hi = std::min(count_of(s, "maxLength", lo + 6), lo + 6);
      return string_text(uniform(rng, lo, hi));
    }
    if (type == "integer") return integer_text();
    if (type == "number") return number_text();
    if (type == "boolean") {
      out += chance(rng, 0.5) ? "true" : "false";
      return;
    }
    if (type == "null") {
      out += "null";
      return;
    }
    if (type == "array") {
      const int lo = count_of(s, "minItems", 0);
      const int hi = depth > 6 ? lo : std::min(count_of(s, "maxItems", lo + 3), lo + 3);
      out += '[';
      ws();
      for (int i = 0, n = uniform(rng, lo, hi); i < n; ++i) {
        if (i) {
          out += ',';
          ws();
        }
        value(s.contains("items") ? s["items"] : OJson(true), depth + 1);
        ws();
      }
      out += ']';
      return;
    }
    if (!s.contains("properties"))
      return free_object(s.contains("additionalProperties") ? s["additionalProperties"] : OJson(true), depth);
    std::set<std::string> required;
    if (s.contains("required"))
      for (const OJson& r : s["required"]) required.insert(r.get<std::string>());
    out += '{';
    ws();
    bool first = true;
    for (const auto& [name, sub] : s["properties"].items()) {
      if (!required.contains(name) && (depth > 6 || chance(rng, 0.4))) continue;
      if (!first) {
        out += ',';
        ws();
      }
      first = false;
      out += OJson(name).dump();
      ws();
      out += ':';
      ws();
      value(sub, depth + 1);
      ws();
    }
    out += '}';
  }
};

}  // namespace

bool schema_valid(const nlohmann::json& value, const OJson& schema, const OJson& root) { return valid(value, schema, root, 0); }

bool text_valid(const std::string& text, const OJson& schema) {
  const Json v = Json::parse(text, nullptr, false);
  return !v.is_discarded() && schema_valid(v, schema);
}

OJson random_schema(std::mt19937_64& rng) {
  OJson s = schema_at(rng, 0);
  if (s.is_boolean()) s = OJson::object();
  s["$defs"] = {{"leaf", schema_at(rng, 3)},
                {"node",
                 {{"type", "object"},
                  {"properties",
                   {{"v", {{"type", "integer"}}},
                    {"kids", {{"type", "array"}, {"items", {{"$ref", "#/$defs/node"}}}, {"maxItems", 2}}}}},
                  {"required", {"v"}},
                  {"additionalProperties", false}}}};
  return s;
}

std::string random_value_text(std::mt19937_64& rng, const OJson& schema, int max_ws) {
  Writer w{rng, schema, max_ws, {}};
  w.value(schema, 0);
  return w.out;
}

std::string mutate(std::mt19937_64& rng, const std::string& text) {
  static const char kBytes[] = "{}[]:,\"\\ 0123456789.eE+-tfnul\x01\x7f\xc3\xa9\xe4\xff";
  std::string t = text;
  const auto byte = [&] { return chance(rng, 0.8) ? kBytes[uniform(rng, 0, int(sizeof kBytes) - 2)] : char(uniform(rng, 0, 255)); };
  const size_t pos = size_t(uniform(rng, 0, int(t.size())));
  switch (uniform(rng, 0, 3)) {
    case 0:
      if (pos < t.size()) t[pos] = byte();
      break;
    case 1: t.insert(t.begin() + long(pos), byte()); break;
    case 2:
      if (pos < t.size()) t.erase(pos, 1);
      break;
    default: t.resize(pos); break;
  }
  return t;
}

}  // namespace dsv4::test
