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

 private:
  void check_live(BlockId id, const char* what) const;
  std::string name_;
  std::vector<int32_t> ref_counts_;
  std::vector<BlockId> free_;  // a stack: recently freed blocks are reused first
};

}  // namespace dsv4
