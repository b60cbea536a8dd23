// Streaming detokenizer: feed ids one at a time, get back text that is always whole UTF-8.
// Bytes of a character split across tokens are held until the character is complete; bytes that
// can no longer become valid UTF-8 are released as U+FFFD (one per maximal ill-formed subpart).
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace dsv4::tokenizer {

class StreamDetokenizer {
 public:
  explicit StreamDetokenizer(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}

  // Returns the text that became complete with this id (possibly empty).
  std::string push(uint32_t id);
  // End of stream: releases whatever is held (an incomplete character becomes U+FFFD).
  std::string finish();

 private:
  std::string release(bool final);

  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace dsv4::tokenizer
