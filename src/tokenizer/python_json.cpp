#include "tokenizer/python_json.h"

#include <fmt/format.h>

#include <cmath>

namespace dsv4::chat {

std::string python_json_string(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

namespace {

void dump(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::value_t::null: out += "null"; break;
    case Json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
    case Json::value_t::string: out += python_json_string(v.get_ref<const std::string&>()); break;
    case Json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ", ";
        first = false;
        dump(e, out);
      }
      out.push_back(']');
      break;
    }
    case Json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, e] : v.items()) {
        if (!first) out += ", ";
        first = false;
        out += python_json_string(k);
        out += ": ";
        dump(e, out);
      }
      out.push_back('}');
      break;
    }
    case Json::value_t::number_float: {
      const double d = v.get<double>();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d) && d > 0) {
        out += "Infinity";
      } else if (std::isinf(d)) {
        out += "-Infinity";
      } else {
        out += v.dump();  // shortest round-trip form, like Python's float repr
      }
      break;
    }
    default: out += v.dump(); break;  // integers
  }
}

}  // namespace

std::string python_json_dumps(const Json& value) {
  std::string out;
  dump(value, out);
  return out;
}

}  // namespace dsv4::chat
