// The vocabulary as byte strings, arranged for computing token masks: a byte trie of every token
// that may appear inside a JSON value, flattened in preorder (node i's subtree is i .. skip[i]-1,
// so a walk that rejects node i jumps to skip[i]), plus the "plain string" tokens: those whose
// bytes are whole UTF-8 characters that a JSON string takes as they are (no '"', '\', control
// characters). Inside a string body every plain token of at most the room left is allowed,
// so the mask walk needs only the trie of the other tokens there.
//
// Built once per tokenizer; immutable afterwards and safe to share between threads.
// Added tokens (special or not: BOS, EOS, chat markers, DSML tags) are never part of a value
// and are left out; the end tokens are allowed separately by the constraint.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4::tokenizer {
class Tokenizer;
}

namespace dsv4::structured {

struct FlatTrie {
  std::vector<uint8_t> byte;        // edge byte into node i (node 0 is the root)
  std::vector<uint16_t> depth;      // bytes from the root
  std::vector<uint32_t> skip;       // first node after i's subtree
  std::vector<uint32_t> ids_begin;  // tokens ending at node i: ids[ids_begin[i] .. ids_begin[i+1])
  std::vector<int32_t> ids;
  size_t size() const { return byte.size(); }
};

class TokenTrie {
 public:
  // token_bytes[id] = the bytes of token id; an empty string marks an id that is never allowed.
  static std::shared_ptr<const TokenTrie> build(const std::vector<std::string>& token_bytes);
  // From a tokenizer: every id below id_bound() that is not an added token.
  static std::shared_ptr<const TokenTrie> from_tokenizer(const tokenizer::Tokenizer& tok);

  uint32_t vocab_size() const { return vocab_size_; }
  std::string_view bytes(int32_t id) const;  // empty for ids that are never allowed
  const FlatTrie& all() const { return all_; }
  const FlatTrie& not_plain() const { return not_plain_; }
  // Bitmask (over ids) of the plain tokens of at most `code_points` code points.
  const std::vector<uint64_t>& plain_up_to(uint32_t code_points) const;
  uint32_t max_plain_code_points() const { return uint32_t(plain_.size()) - 1; }
  size_t plain_count() const;

 private:
  uint32_t vocab_size_ = 0;
  std::vector<std::string> bytes_;
  FlatTrie all_, not_plain_;
  std::vector<std::vector<uint64_t>> plain_;  // [k]: plain tokens of <= k code points
};

// Code points of a plain-string token, or -1 when it is not plain.
int plain_string_code_points(std::string_view bytes);

}  // namespace dsv4::structured
