// Prefix caching over the hybrid cache (spec §11): content-addressed blocks of 128 tokens.
//
// An entry stands for token block j of some sequence: it is keyed by its parent entry (block
// j−1, none for j = 0) and its own 128 tokens — plus the first token of the next block when the
// cache also holds the MTP block's vectors, whose last position depends on that token — so a
// chain of entries equals a token prefix exactly (the tokens are compared, not only hashed).
// It holds one reference on the blocks that resume a sequence at its end without recomputing
// anything: the compressed pools' blocks (CSA entries + indexer keys, HCA entries) and, as a
// "resume point", the window block with the compressors' state at the block boundary (the ring
// tail that PagedKvCache keeps per window block). A hit needs the whole chain and a resume point
// at its last entry.
//
// Eviction is LRU over unreferenced blocks: the window pool gives up resume points (oldest
// first; within one use, the shallowest first, since the deepest gives the longest hit), the
// compressed pools give up whole entries (oldest first; within one use, the deepest first, as
// vLLM frees a chain from its tail) together with their descendants, which no lookup could reach
// any more.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "cache/block_pool.h"

namespace dsv4 {

struct PrefixMatch {
  int64_t blocks = 0;                 // token blocks matched (the hit is blocks · 128 tokens)
  std::vector<std::vector<BlockId>> tables;  // per pool: the matched block ids (window: −1 except the last)
};

class PrefixIndex {
 public:
  // `pools` (window first) must outlive the index; `keyed_with_next` as described above.
  PrefixIndex(std::vector<BlockPool*> pools, bool keyed_with_next);
  ~PrefixIndex();

  bool keyed_with_next() const { return keyed_with_next_; }
  // The longest cached chain of `tokens` with a resume point at its end, of at most
  // `max_blocks` blocks. Marks the chain as used (LRU).
  PrefixMatch lookup(std::span<const int64_t> tokens, int64_t max_blocks);
  // Registers block j of a sequence whose blocks[pool][j] hold it, for every complete block j
  // of `tokens` below `blocks` (tokens must hold 128·blocks tokens, plus one with
  // keyed_with_next). Blocks already cached under the same key are left as they are (first
  // writer wins); window blocks of −1 give entries without a resume point.
  void insert(std::span<const int64_t> tokens, int64_t blocks, const std::vector<std::vector<BlockId>>& tables);
  // Frees one block of pool `pool` held only by the index. False when there is none.
  bool evict_one(size_t pool);
  // Drops every entry (the index's references go back to the pools).
  void clear();
  size_t entries() const { return entries_.size(); }

 private:
  struct Entry;
  using Key = std::tuple<uint64_t, int64_t, int64_t>;  // (tick, order, id)
  Entry* find(int64_t parent, std::span<const int64_t> tokens, uint64_t hash);
  void touch(Entry& e, uint64_t tick);
  void drop_resume(Entry& e);
  void erase_tree(int64_t id);
  Key resume_key(const Entry& e) const;
  Key entry_key(const Entry& e) const;

  std::vector<BlockPool*> pools_;
  bool keyed_with_next_;
  uint64_t clock_ = 0;
  int64_t next_id_ = 0;
  std::unordered_map<int64_t, std::unique_ptr<Entry>> entries_;
  std::unordered_multimap<uint64_t, int64_t> by_hash_;
  std::set<Key> by_resume_;  // entries with a resume point, window-eviction order
  std::set<Key> by_entry_;   // all entries, entry-eviction order
};

}  // namespace dsv4
