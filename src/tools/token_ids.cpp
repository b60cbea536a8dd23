#include "tools/token_ids.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"

namespace dsv4::tools {

std::vector<int64_t> parse_token_ids(const std::string& text, const std::string& where) {
  std::vector<int64_t> ids;
  std::string token;
  auto flush = [&] {
    if (token.empty()) return;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(token, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != token.size() || v < 0) fail("{}: '{}' is not a token id (non-negative integer)", where, token);
    ids.push_back(v);
    token.clear();
  };
  for (char c : text) {
    if (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t')
      flush();
    else
      token += c;
  }
  flush();
  return ids;
}

std::vector<int64_t> read_token_ids_file(const std::string& path) {
  return parse_token_ids(read_file(path, "ids file"), path);
}

}  // namespace dsv4::tools
