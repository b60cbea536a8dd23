// Small formatting helpers shared by the CLI commands.
#pragma once

#include <cstdint>
#include <string>

namespace dsv4::tools {

std::string human_bytes(uint64_t bytes);  // "1.50 GiB"
std::string human_count(uint64_t n);      // "284.3B", "13.8M", "512"

}  // namespace dsv4::tools
