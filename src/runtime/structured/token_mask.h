// The allowed-token bitmask of a matcher state: a preorder walk of the token trie that feeds each
// node's byte to its parent's state (one state kept per depth) and skips a node's subtree as soon
// as its bytes are rejected. In a string body (or a DSML text) the plain tokens are taken from a
// precomputed bitmask and only the other tokens are walked (token_trie.h).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/structured/matcher.h"
#include "runtime/structured/token_trie.h"

namespace dsv4::structured {

struct MaskStats {
  size_t nodes_fed = 0;     // trie nodes whose byte was fed to the matcher
  bool plain_fast_path = false;
};

// Scratch for mask computation (one per sequence; not shared between threads).
class TokenMasker {
 public:
  TokenMasker() = default;
  // Scratch, not state: a copy starts empty (constraints are cloned for speculative lookahead).
  TokenMasker(const TokenMasker&) {}
  TokenMasker& operator=(const TokenMasker&) { return *this; }

  // bits[v / 64] bit v % 64 = token v's bytes can continue state s (end tokens not included).
  // bits has vocab.vocab_size() bits. plain_fast_path = false walks the whole trie (tests and
  // the benchmark compare the two).
  void compute(const Matcher& m, const TokenTrie& vocab, const MatchState& s, std::vector<uint64_t>& bits,
               bool plain_fast_path = true);
  const MaskStats& stats() const { return stats_; }

 private:
  void walk(const Matcher& m, const FlatTrie& t, const MatchState& s, std::vector<uint64_t>& bits);
  std::vector<MatchState> level_;  // [d]: the state after the first d bytes of the current node
  MaskStats stats_;
};

}  // namespace dsv4::structured
