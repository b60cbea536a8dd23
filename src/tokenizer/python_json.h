// JSON text the way Python's json.dumps(value, ensure_ascii=False) writes it (the official
// DeepSeek-V4 encoder's serialiser): keys in their given order, ", " and ": " separators,
// non-ASCII characters unescaped.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace dsv4::chat {

using Json = nlohmann::ordered_json;

std::string python_json_dumps(const Json& value);
std::string python_json_string(std::string_view text);  // a JSON string literal

}  // namespace dsv4::chat
