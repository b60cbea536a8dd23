#include "tokenizer/detokenizer.h"

#include "tokenizer/utf8.h"

namespace dsv4::tokenizer {

std::string StreamDetokenizer::release(bool final) {
  const size_t keep = final ? 0 : incomplete_tail_length(pending_);
  std::string_view ready(pending_.data(), pending_.size() - keep);
  std::string out = is_valid_utf8(ready) ? std::string(ready) : repair_utf8(ready);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StreamDetokenizer::push(uint32_t id) {
  if (tokenizer_.is_added(id)) {
    // An added token is whole text by itself; bytes held before it can no longer complete.
    std::string out = release(true);
    if (!(skip_special_ && tokenizer_.is_special(id))) tokenizer_.append_token_bytes(id, out);
    return out;
  }
  tokenizer_.append_token_bytes(id, pending_);
  return release(false);
}

std::string StreamDetokenizer::finish() { return release(true); }

}  // namespace dsv4::tokenizer
