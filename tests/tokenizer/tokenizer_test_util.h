// Helpers for the tokenizer tests: the real DeepSeek-V4 tokenizer (set up by
// scripts/setup_python.sh), the project's venv python, and small tokenizer.json builders.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/test_support.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::test {

inline std::string real_tokenizer_dir() { return source_dir() + "/.cache/tokenizer/deepseek-v4"; }
inline std::string venv_python() { return source_dir() + "/.venv/bin/python"; }

// The real V4 tokenizer, loaded once. Fails the calling test (not skips) when it is missing.
inline const dsv4::tokenizer::Tokenizer* real_tokenizer() {
  static std::unique_ptr<dsv4::tokenizer::Tokenizer> tok;
  if (!tok) {
    const std::string file = real_tokenizer_dir() + "/tokenizer.json";
    if (!std::filesystem::exists(file)) {
      ADD_FAILURE() << "The DeepSeek-V4 tokenizer.json is missing at " << file
                    << ": run scripts/setup.sh (or `make test`, which runs it) first.";
      return nullptr;
    }
    tok = std::make_unique<dsv4::tokenizer::Tokenizer>(dsv4::tokenizer::Tokenizer::load(real_tokenizer_dir()));
  }
  return tok.get();
}

}  // namespace dsv4::test
