// A compiled PCRE2 pattern (UTF + UCP, JIT when available) for the pre-tokenizer's splits.
// Patterns come from tokenizer.json, which Hugging Face runs with Oniguruma; the one semantic
// difference that matters, \s / \S, is rewritten to Unicode White_Space so both engines agree.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace dsv4::tokenizer {

class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws dsv4::Error on a bad pattern
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the first match in subject at or after `start`; subject must be valid UTF-8 and start
  // a code point boundary. Returns false when there is none. `not_empty_at_start` rejects an
  // empty match at `start` (used to step past empty matches).
  bool find(std::string_view subject, size_t start, size_t& match_begin, size_t& match_end,
            bool not_empty_at_start = false) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Rewrites \s and \S (outside and inside classes) to \p{White_Space} / \P{White_Space}.
std::string onig_compatible_pattern(std::string_view pattern);

// Escapes a literal string so that it matches itself.
std::string quote_regex(std::string_view literal);

}  // namespace dsv4::tokenizer
