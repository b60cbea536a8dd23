// Sequence bookkeeping over the cache pools: admit / extend / truncate / release, with
// all-or-nothing allocation and capacity errors that never leave a pool half-changed.
//
// A sequence of T tokens owns ceil(T/128) blocks of every compressed pool (block j covers tokens
// [128j, 128j+128)), the window blocks of its last three token blocks (two hold the window, one
// lets a speculative rollback cross a block boundary), and one state slot. An extension keeps
// the window blocks of the old end too, until the next extension releases them: the forward call
// that fills the new tokens reads the window of its first token from them, however long it is
// (blocks in the middle of a long extension, which no window will ever need, are never allocated).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <memory>
#include <vector>

#include "cache/block_pool.h"
#include "cache/cache_layout.h"
#include "cache/prefix_index.h"
#include "model/kv_cache.h"  // SequenceId

namespace dsv4 {


struct SequenceBlocks {
  int64_t tokens = 0;
  int32_t state_slot = -1;
  // Per pool (parallel to the layout's pools): block ids by token block index; -1 where a window
  // block was released because it slid out of the window.
  std::vector<std::vector<BlockId>> tables;
};

// Prefix caching (cache/prefix_index.h). `keyed_with_next`: the cache also holds the MTP
// block's vectors, so an entry's key includes the first token of the next block.
struct PrefixCaching {
  bool enabled = false;
  bool keyed_with_next = false;
};

class CacheManager {
 public:
  CacheManager(CacheLayout layout, const CachePlan& plan, PrefixCaching prefix = {});
  ~CacheManager();

  const CacheLayout& layout() const { return layout_; }
  const BlockPool& pool(size_t i) const { return *pools_[i]; }
  size_t pool_count() const { return pools_.size(); }
  int32_t free_state_slots() const { return int32_t(free_slots_.size()); }

  // Whether a new sequence of `tokens` tokens fits now (blocks held only by the prefix cache
  // count as free).
  bool can_admit(int64_t tokens) const;
  // Whether a live sequence can grow to `tokens` tokens now.
  bool can_extend(SequenceId id, int64_t tokens) const;
  // Registers a sequence and reserves room for `tokens` tokens. Throws (changing nothing) when
  // the id is taken or the cache is full.
  void admit(SequenceId id, int64_t tokens);
  // Grows a sequence to `tokens` tokens (>= its current length). All-or-nothing.
  void extend(SequenceId id, int64_t tokens);
  // Shrinks a sequence to `tokens` tokens (speculative rollback), releasing whole blocks past
  // the new end. Window blocks already released cannot come back: truncating more than one
  // block behind the window is an error.
  void truncate(SequenceId id, int64_t tokens);
  void release(SequenceId id);

  // ---- prefix caching (no-ops / misses when disabled) ----
  bool prefix_caching() const { return prefix_ != nullptr; }
  // Admits a sequence sharing the longest cached prefix of `tokens` that leaves at least one token
  // to compute (at most (tokens.size() − 1) / 128 blocks): its tables hold the matched blocks
  // and it starts with blocks · 128 tokens (0 on a miss: a plain admit of 0 tokens). Returns
  // that length. The caller restores the compressors' state from the resume point
  // (PagedKvCache::restore_compressor_state) before the first forward call.
  int64_t admit_cached(SequenceId id, std::span<const int64_t> tokens);
  // Caches the complete blocks of a live sequence among its first `upto` tokens (tokens[0, upto)
  // are in the cache; with keyed_with_next, tokens[upto] must be known as well for the last).
  void cache_prefix(SequenceId id, std::span<const int64_t> tokens, int64_t upto);
  // Drops every cached prefix (their blocks return to the pools unless a sequence holds them).
  void clear_prefix_cache();
  size_t cached_prefix_blocks() const { return prefix_ ? prefix_->entries() : 0; }

  bool contains(SequenceId id) const { return seqs_.count(id) != 0; }
  const SequenceBlocks& blocks(SequenceId id) const;
  size_t sequence_count() const { return seqs_.size(); }

 private:
  // Blocks each pool must newly allocate to take a sequence from `have` to `want` token blocks.
  std::vector<int32_t> needed(const SequenceBlocks* s, int64_t want_blocks) const;
  void grow(SequenceBlocks& s, int64_t tokens);
  size_t window_pool() const { return 0; }
  // Makes n blocks of pool p free, evicting cached prefixes (n <= available_blocks()).
  void make_free(size_t p, int32_t n);

  CacheLayout layout_;
  std::vector<std::unique_ptr<BlockPool>> pools_;
  std::vector<int32_t> free_slots_;
  std::map<SequenceId, SequenceBlocks> seqs_;
  std::unique_ptr<PrefixIndex> prefix_;
};

}  // namespace dsv4
