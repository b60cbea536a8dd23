#include "core/json_util.h"

#include <set>

namespace dsv4 {

using nlohmann::json;

std::string describe_json(const json& v) {
  if (v.is_structured()) return std::string("(a ") + v.type_name() + ")";
  std::string text = v.dump();
  if (text.size() > 40) text = text.substr(0, 40) + "...";
  return text;
}

json parse_json_checked(const char* begin, const char* end, std::vector<std::string>* duplicates) {
  // One key set per open object, innermost last (arrays push an empty marker set too, so the
  // stack follows the nesting; an array's set is never used).
  std::vector<std::set<std::string>> open;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: open.emplace_back(); break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open.empty() && parsed.is_string() && !open.back().insert(parsed.get<std::string>()).second &&
            duplicates != nullptr)
          duplicates->push_back(parsed.get<std::string>());
        break;
      case json::parse_event_t::value: break;
    }
    return true;
  };
  return json::parse(begin, end, callback, /*allow_exceptions=*/false);
}

}  // namespace dsv4
