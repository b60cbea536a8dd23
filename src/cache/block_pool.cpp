#include "cache/block_pool.h"

#include "core/error.h"

namespace dsv4 {

BlockPool::BlockPool(std::string name, int32_t num_blocks) : name_(std::move(name)) {
  if (num_blocks < 0) fail("cache pool '{}': negative block count {}", name_, num_blocks);
  ref_counts_.assign(size_t(num_blocks), 0);
  cached_.assign(size_t(num_blocks), 0);
  free_.reserve(size_t(num_blocks));
  for (int32_t i = num_blocks - 1; i >= 0; --i) free_.push_back(i);
}

std::vector<BlockId> BlockPool::allocate(int32_t n) {
  if (n < 0) fail("cache pool '{}': cannot allocate {} blocks", name_, n);
  if (n > free_blocks())
    fail("cache pool '{}' is full: {} blocks needed, {} of {} free", name_, n, free_blocks(), capacity());
  std::vector<BlockId> out;
  out.reserve(size_t(n));
  for (int32_t i = 0; i < n; ++i) {
    const BlockId id = free_.back();
    free_.pop_back();
    ref_counts_[size_t(id)] = 1;
    out.push_back(id);
  }
  return out;
}

void BlockPool::check_live(BlockId id, const char* what) const {
  if (id < 0 || id >= capacity()) fail("cache pool '{}': {} of block {} outside [0, {})", name_, what, id, capacity());
  if (ref_counts_[size_t(id)] == 0) fail("cache pool '{}': {} of block {}, which is free", name_, what, id);
}

void BlockPool::retain(BlockId id) {
  check_live(id, "retain");
  if (cached_[size_t(id)] && ref_counts_[size_t(id)] == 1) --evictable_;
  ++ref_counts_[size_t(id)];
}

void BlockPool::release(BlockId id) {
  check_live(id, "release");
  int32_t& r = ref_counts_[size_t(id)];
  if (cached_[size_t(id)]) {
    if (r == 1) fail("cache pool '{}': release of block {} would drop the prefix index's reference", name_, id);
    if (r == 2) ++evictable_;
  }
  if (--r == 0) free_.push_back(id);
}

void BlockPool::set_cached(BlockId id, bool cached) {
  check_live(id, "set_cached");
  const bool was = cached_[size_t(id)] != 0;
  if (was == cached) return;
  if (!cached) {  // the index lets go of its reference
    if (ref_counts_[size_t(id)] == 1) --evictable_;
    cached_[size_t(id)] = 0;
    if (--ref_counts_[size_t(id)] == 0) free_.push_back(id);
    return;
  }
  cached_[size_t(id)] = 1;  // the index takes a reference of its own
  ++ref_counts_[size_t(id)];
}

int32_t BlockPool::ref_count(BlockId id) const {
  if (id < 0 || id >= capacity()) fail("cache pool '{}': block {} outside [0, {})", name_, id, capacity());
  return ref_counts_[size_t(id)];
}

}  // namespace dsv4
