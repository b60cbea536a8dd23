// JSON helpers shared by the parsers of untrusted files (checkpoint headers, configs, requests).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dsv4 {

// A short description of a JSON value for an error message. Never dumps a container:
// nlohmann's dump() recurses per nesting level, so a deeply nested hostile value would overflow
// the stack.
std::string describe_json(const nlohmann::json& v);

// Parses `text` without exceptions. Returns a discarded value when the text is not valid JSON;
// object keys that repeat within one object are collected into `duplicates` as "key" paths
// (nlohmann keeps only the last, which would silently hide data).
nlohmann::json parse_json_checked(const char* begin, const char* end, std::vector<std::string>* duplicates);

}  // namespace dsv4
