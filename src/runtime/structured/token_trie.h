// The vocabulary as byte strings, arranged for computing token masks: a byte trie of every token
// that may appear inside a JSON value, flattened in preorder (node i's subtree is i .. skip[i]-1,
// so a walk that rejects node i jumps to skip[i]), plus the "plain string" tokens: those whose
// bytes are whole UTF-8 characters that a JSON string takes as they are (no '"', '\', control
// characters, nor U+FF5C, the marker character). Inside a string body every plain token of at
// most the room left is allowed, so the mask walk needs only the trie of the other tokens there.
// A second class does the same for the raw text of DSML parameter values (grammar.h Text):
// whole UTF-8 characters without '<', U+FF5C and control characters other than tab, newline
// and carriage return.
//
// Built once per tokenizer; immutable afterwards and safe to share between threads.
// Added tokens (special or not: BOS, EOS, chat markers) are never part of a value and are left
// out; the end tokens are allowed separately by the constraint. The exception are the named
// markers (from_tokenizer's `markers`, e.g. "｜DSML｜" for tool calls): marker k stands in the
// trie as the two bytes 0xFF, k + 1 (marker_bytes), which no UTF-8 text holds, so a grammar
// literal with them is spelled by that added token and nothing else. With markers, the ordinary
// tokens that hold a 0xFF byte are left out (they are not UTF-8: no grammar accepts them).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
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

enum class PlainKind : uint8_t { JsonString, RawText };

// The stand-in bytes of named marker k (k < 254).
std::string marker_bytes(size_t k);

class TokenTrie {
 public:
  // token_bytes[id] = the bytes of token id; an empty string marks an id that is never allowed.
  static std::shared_ptr<const TokenTrie> build(const std::vector<std::string>& token_bytes);
  // From a tokenizer: every id below id_bound() that is not an added token, plus the added
  // tokens named in markers (those the tokenizer lacks are skipped).
  static std::shared_ptr<const TokenTrie> from_tokenizer(const tokenizer::Tokenizer& tok,
                                                         const std::vector<std::string>& markers = {});

  uint32_t vocab_size() const { return vocab_size_; }
  std::string_view bytes(int32_t id) const;  // empty for ids that are never allowed
  const FlatTrie& all() const { return all_; }
  const FlatTrie& not_plain(PlainKind kind = PlainKind::JsonString) const { return plain_[size_t(kind)].others; }
  // Bitmask (over ids) of the plain tokens of at most `code_points` code points.
  const std::vector<uint64_t>& plain_up_to(uint32_t code_points, PlainKind kind = PlainKind::JsonString) const;
  uint32_t max_plain_code_points(PlainKind kind = PlainKind::JsonString) const {
    return uint32_t(plain_[size_t(kind)].up_to.size()) - 1;
  }
  size_t plain_count(PlainKind kind = PlainKind::JsonString) const;
  // The stand-in bytes of an added token given as a marker; nullopt when it is not one.
  std::optional<std::string> marker(std::string_view added_token) const;

 private:
  static std::shared_ptr<TokenTrie> make(const std::vector<std::string>& token_bytes);
  struct PlainClass {
    FlatTrie others;                          // the tokens that are not plain
    std::vector<std::vector<uint64_t>> up_to;  // [k]: plain tokens of <= k code points
  };
  uint32_t vocab_size_ = 0;
  std::vector<std::string> bytes_;
  FlatTrie all_;
  PlainClass plain_[2];
  std::vector<std::string> markers_;
};

// Code points of a plain token of the class, or -1 when it is not plain.
int plain_code_points(std::string_view bytes, PlainKind kind);
inline int plain_string_code_points(std::string_view bytes) { return plain_code_points(bytes, PlainKind::JsonString); }

}  // namespace dsv4::structured
