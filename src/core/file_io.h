// Reading a whole (small) file: configs, tokenizer files, prompts, id lists.
#pragma once

#include <string>

namespace dsv4 {

// The file's bytes. Throws dsv4::Error naming `what` and the path when it cannot be read
// (missing, not a regular file, I/O error).
std::string read_file(const std::string& path, const char* what = "file");

}  // namespace dsv4
