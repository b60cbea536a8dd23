// A pool of fixed-size cache blocks: a free list plus reference counts, so that blocks can be
// shared between sequences with a common prefix (prefix caching) and freed when the last user
// lets go. Pure bookkeeping: the memory a block id stands for lives with the backend (host
// vectors for the CPU, device buffers for CUDA).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsv4 {

using BlockId = int32_t;

class BlockPool {
 public:
  BlockPool(std::string name, int32_t num_blocks);

  const std::string& name() const { return name_; }
  int32_t capacity() const { return int32_t(ref_counts_.size()); }
  int32_t free_blocks() const { return int32_t(free_.size()); }
  int32_t used_blocks() const { return capacity() - free_blocks(); }

  // Allocates n blocks (ref count 1 each) or none: throws dsv4::Error naming the pool and the
  // shortfall when fewer than n are free, leaving the pool unchanged.
  std::vector<BlockId> allocate(int32_t n);
  // Adds a reference to a live block (sharing it). Throws for a free or out-of-range id.
  void retain(BlockId id);
  // Drops a reference; the block returns to the free list at zero. Throws for a free or
  // out-of-range id (a double release is a bug, reported, never silently corrupting).
  void release(BlockId id);
  int32_t ref_count(BlockId id) const;

  // Prefix caching: a block the prefix index holds (one of its references) is "cached"; a cached
  // block whose only reference is the index's is evictable — it counts as free for capacity
  // checks, and the index gives it back when an allocation needs the room. set_cached(id, true)
  // adds the index's reference to a live block; set_cached(id, false) drops it (freeing the
  // block when it was the last). A plain release never drops the index's reference.
  void set_cached(BlockId id, bool cached);
  bool cached(BlockId id) const { return cached_[size_t(id)] != 0; }
  int32_t evictable_blocks() const { return evictable_; }
  int32_t available_blocks() const { return free_blocks() + evictable_; }

 private:
  void check_live(BlockId id, const char* what) const;
  std::string name_;
  std::vector<int32_t> ref_counts_;
  std::vector<uint8_t> cached_;
  int32_t evictable_ = 0;
  std::vector<BlockId> free_;  // a stack: recently freed blocks are reused first
};

}  // namespace dsv4
