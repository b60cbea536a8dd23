// The byte-level matcher of a Grammar: a pushdown automaton whose state is a set of stacks (one
// per live parse: anyOf alternatives, optional-property keys and enum values are tried side by
// side until the bytes tell them apart). Bytes are UTF-8: a string accepts only well-formed
// UTF-8 (no overlongs, no surrogates), raw control characters never, and escapes as JSON has
// them (\u escapes of surrogates are refused, so every output decodes).
//
// feed() is functional (in -> out) so the token-mask walk can keep one state per trie depth.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "runtime/structured/grammar.h"
#include "runtime/structured/token_trie.h"

namespace dsv4::structured {

// One level of a parse stack. Plain data (compared with memcmp for deduplication).
struct Frame {
  uint32_t node = 0;
  uint8_t state = 0;      // position inside the node (per kind; 0 = nothing read yet)
  uint8_t ws = 0;         // whitespace bytes in the current run
  uint8_t utf8_left = 0;  // String: continuation bytes still to come
  uint8_t utf8_first = 0; // String: range code for the next continuation byte
  uint32_t count = 0;     // code points / items / literal offset / digits / key offset
  uint32_t aux = 0;       // Object: the current property; String: a \u escape may be a surrogate
};
static_assert(sizeof(Frame) == 16);

struct MatchState {
  std::vector<Frame> frames;   // every stack, bottom first, one after the other
  std::vector<uint32_t> ends;  // end offset of each stack in frames (an empty stack: the value is done)
  bool empty() const { return ends.empty(); }  // no parse left: the bytes were rejected
};

class Matcher {
 public:
  explicit Matcher(const Grammar& grammar) : g_(grammar) {}

  MatchState start() const;
  // out = in advanced by byte b. Returns false (out.empty()) when no parse accepts b.
  bool feed(const MatchState& in, uint8_t b, MatchState& out) const;
  // Advances s in place by bytes; false (s unchanged) when they are rejected.
  bool feed(MatchState& s, std::string_view bytes) const;
  // The bytes so far form a complete value (an end token may follow).
  bool accepting(const MatchState& s) const;
  // Nothing but the end can follow (every parse is done).
  bool finished(const MatchState& s) const;
  // Whether every parse sits inside a JSON string body (outside an escape and a UTF-8
  // sequence), or every one inside a Text ending before '<' (outside a UTF-8 sequence); and the
  // most code points any of them may still add: the mask's fast path (token_trie.h).
  std::optional<PlainKind> plain_run(const MatchState& s, uint32_t& room) const;

  const Grammar& grammar() const { return g_; }

 private:
  void feed_stack(MatchState& out, size_t base, uint8_t b) const;
  void dedupe(MatchState& s) const;

  const Grammar& g_;
};

// Whole-text helper (tests): does `text` parse as a complete value?
bool matches(const Grammar& grammar, std::string_view text);

}  // namespace dsv4::structured
