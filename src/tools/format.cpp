#include "tools/format.h"

#include <fmt/format.h>

namespace dsv4::tools {

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", v, units[u]);
}

std::string human_count(uint64_t n) {
  if (n >= 1000000000ull) return fmt::format("{:.1f}B", double(n) / 1e9);
  if (n >= 1000000ull) return fmt::format("{:.1f}M", double(n) / 1e6);
  if (n >= 1000ull) return fmt::format("{:.1f}K", double(n) / 1e3);
  return fmt::format("{}", n);
}

}  // namespace dsv4::tools
