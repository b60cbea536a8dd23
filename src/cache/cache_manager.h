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
#include <memory>
#include <vector>

#include "cache/block_pool.h"
#include "cache/cache_layout.h"
#include "model/kv_cache.h"  // SequenceId

namespace dsv4 {


struct SequenceBlocks {
  int64_t tokens = 0;
  int32_t state_slot = -1;
  // Per pool (parallel to the layout's pools): block ids by token block index; -1 where a window
  // block was released because it slid out of the window.
  std::vector<std::vector<BlockId>> tables;
};

class CacheManager {
 public:
  CacheManager(CacheLayout layout, const CachePlan& plan);

  const CacheLayout& layout() const { return layout_; }
  const BlockPool& pool(size_t i) const { return *pools_[i]; }
  size_t pool_count() const { return pools_.size(); }
  int32_t free_state_slots() const { return int32_t(free_slots_.size()); }

  // Whether a new sequence of `tokens` tokens fits now.
  bool can_admit(int64_t tokens) const;
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

  bool contains(SequenceId id) const { return seqs_.count(id) != 0; }
  const SequenceBlocks& blocks(SequenceId id) const;
  size_t sequence_count() const { return seqs_.size(); }

 private:
  // Blocks each pool must newly allocate to take a sequence from `have` to `want` token blocks.
  std::vector<int32_t> needed(const SequenceBlocks* s, int64_t want_blocks) const;
  void grow(SequenceBlocks& s, int64_t tokens);
  size_t window_pool() const { return 0; }

  CacheLayout layout_;
  std::vector<std::unique_ptr<BlockPool>> pools_;
  std::vector<int32_t> free_slots_;
  std::map<SequenceId, SequenceBlocks> seqs_;
};

}  // namespace dsv4
