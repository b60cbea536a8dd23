// Token ids given on the command line (--ids "1,2,3") or in a file (commas, spaces, newlines).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsv4::tools {

// Throws dsv4::Error naming `where` and the offending text for anything but non-negative integers.
std::vector<int64_t> parse_token_ids(const std::string& text, const std::string& where);
std::vector<int64_t> read_token_ids_file(const std::string& path);

}  // namespace dsv4::tools
