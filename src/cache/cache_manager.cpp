#include "cache/cache_manager.h"

#include <algorithm>

#include "core/error.h"

namespace dsv4 {

namespace {

int64_t blocks_for(int64_t tokens) { return (tokens + kCacheBlockTokens - 1) / kCacheBlockTokens; }

// Window blocks a sequence of `nblocks` token blocks keeps: the last two hold its sliding window,
// one more lets a speculative rollback step back across a block boundary.
int64_t first_live_window_block(int64_t nblocks) { return std::max<int64_t>(0, nblocks - kWindowBlocksLive); }

}  // namespace

CacheManager::CacheManager(CacheLayout layout, const CachePlan& plan, PrefixCaching prefix)
    : layout_(std::move(layout)) {
  if (plan.pool_blocks.size() != layout_.pools.size())
    fail("cache plan has {} pools, layout {}", plan.pool_blocks.size(), layout_.pools.size());
  if (layout_.pools.empty() || layout_.pools[0].name != "window") fail("cache layout must start with the window pool");
  for (size_t i = 0; i < layout_.pools.size(); ++i)
    pools_.push_back(std::make_unique<BlockPool>(layout_.pools[i].name, plan.pool_blocks[i]));
  for (int32_t s = plan.max_sequences - 1; s >= 0; --s) free_slots_.push_back(s);
  if (prefix.enabled) {
    std::vector<BlockPool*> pools;
    for (auto& p : pools_) pools.push_back(p.get());
    prefix_ = std::make_unique<PrefixIndex>(std::move(pools), prefix.keyed_with_next);
  }
}

CacheManager::~CacheManager() {
  if (prefix_) prefix_->clear();
}

void CacheManager::make_free(size_t p, int32_t n) {
  while (pools_[p]->free_blocks() < n)
    if (!prefix_ || !prefix_->evict_one(p))
      fail("cache: pool '{}' cannot free {} blocks ({} free, {} evictable)", pools_[p]->name(), n,
           pools_[p]->free_blocks(), pools_[p]->evictable_blocks());
}

std::vector<int32_t> CacheManager::needed(const SequenceBlocks* s, int64_t want) const {
  const int64_t have = s ? int64_t(s->tables[0].size()) : 0;
  std::vector<int32_t> n(pools_.size(), 0);
  if (want <= have) return n;
  for (size_t p = 0; p < pools_.size(); ++p) {
    if (p == window_pool()) {
      // New window blocks: those of [max(have, first_live(want)), want); the blocks that slid out
      // of the old end's window at an earlier extension come back first.
      const int64_t from = std::max(have, first_live_window_block(want));
      int64_t freed = 0;
      for (int64_t b = 0; b < first_live_window_block(have); ++b)
        if (s && s->tables[p][size_t(b)] >= 0) {
          const BlockId id = s->tables[p][size_t(b)];
          // Released below: free, or evictable when the prefix index holds it too.
          if (pools_[p]->ref_count(id) == (pools_[p]->cached(id) ? 2 : 1)) ++freed;
        }
      n[p] = int32_t(std::max<int64_t>(0, (want - from) - freed));
    } else {
      n[p] = int32_t(want - have);
    }
  }
  return n;
}

bool CacheManager::can_admit(int64_t tokens) const {
  if (tokens < 0 || free_slots_.empty()) return false;
  const auto n = needed(nullptr, blocks_for(tokens));
  for (size_t p = 0; p < pools_.size(); ++p)
    if (n[p] > pools_[p]->available_blocks()) return false;
  return true;
}

bool CacheManager::can_extend(SequenceId id, int64_t tokens) const {
  const SequenceBlocks& s = blocks(id);
  if (tokens <= s.tokens) return true;
  const auto n = needed(&s, blocks_for(tokens));
  for (size_t p = 0; p < pools_.size(); ++p)
    if (n[p] > pools_[p]->available_blocks()) return false;
  return true;
}

void CacheManager::grow(SequenceBlocks& s, int64_t tokens) {
  const int64_t have = int64_t(s.tables[0].size()), want = blocks_for(tokens);
  const auto n = needed(&s, want);
  for (size_t p = 0; p < pools_.size(); ++p)
    if (n[p] > pools_[p]->available_blocks())
      fail("cache full: growing a sequence to {} tokens needs {} more '{}' blocks, {} of {} free", tokens, n[p],
           pools_[p]->name(), pools_[p]->available_blocks(), pools_[p]->capacity());
  // Release the window blocks that slid out before the old end's window (kept through the last
  // extension), then allocate (cannot fail now). The old end's window stays for this call.
  auto& win = s.tables[window_pool()];
  for (int64_t b = 0; b < first_live_window_block(have); ++b)
    if (win[size_t(b)] >= 0) {
      pools_[window_pool()]->release(win[size_t(b)]);
      win[size_t(b)] = -1;
    }
  // Room for every block this extension must allocate (the released ones are free by now, or
  // evictable when the prefix index holds them too).
  for (size_t p = 0; p < pools_.size(); ++p)
    make_free(p, int32_t(p == window_pool() ? want - std::max(have, first_live_window_block(want)) : want - have));
  for (size_t p = 0; p < pools_.size(); ++p) {
    auto& table = s.tables[p];
    for (int64_t b = have; b < want; ++b) {
      if (p == window_pool() && b < first_live_window_block(want)) {
        // Slid out before it was ever needed (a long extension): with prefix caching the block is
        // still taken when one is free or evictable, so that it becomes a resume point.
        const int32_t required_left = int32_t(want - std::max(b + 1, first_live_window_block(want)));
        if (prefix_ && pools_[p]->available_blocks() > required_left) {
          make_free(p, required_left + 1);
          table.push_back(pools_[p]->allocate(1)[0]);
        } else {
          table.push_back(-1);
        }
        continue;
      }
      table.push_back(pools_[p]->allocate(1)[0]);
    }
  }
  s.tokens = tokens;
}

void CacheManager::admit(SequenceId id, int64_t tokens) {
  if (seqs_.count(id)) fail("cache: sequence {} is already admitted", id);
  if (tokens < 0) fail("cache: sequence {} cannot have {} tokens", id, tokens);
  if (free_slots_.empty()) fail("cache full: no state slot for sequence {} ({} sequences live)", id, seqs_.size());
  SequenceBlocks s;
  s.tables.resize(pools_.size());
  grow(s, tokens);  // throws before anything is taken when a pool is short
  s.state_slot = free_slots_.back();
  free_slots_.pop_back();
  seqs_.emplace(id, std::move(s));
}

void CacheManager::extend(SequenceId id, int64_t tokens) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) fail("cache: unknown sequence {}", id);
  if (tokens < it->second.tokens)
    fail("cache: extend of sequence {} to {} tokens, below its {} (use truncate)", id, tokens, it->second.tokens);
  grow(it->second, tokens);
}

void CacheManager::truncate(SequenceId id, int64_t tokens) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) fail("cache: unknown sequence {}", id);
  SequenceBlocks& s = it->second;
  if (tokens < 0 || tokens > s.tokens) fail("cache: truncate of sequence {} to {} tokens (has {})", id, tokens, s.tokens);
  const int64_t want = blocks_for(tokens);
  auto& win = s.tables[window_pool()];
  for (int64_t b = std::max<int64_t>(0, want - 2); b < want; ++b)  // the new end's window
    if (win[size_t(b)] < 0)
      fail("cache: truncating sequence {} to {} tokens needs window block {}, which already slid out", id, tokens, b);
  for (size_t p = 0; p < pools_.size(); ++p) {
    auto& table = s.tables[p];
    while (int64_t(table.size()) > want) {
      if (table.back() >= 0) pools_[p]->release(table.back());
      table.pop_back();
    }
  }
  s.tokens = tokens;
}

void CacheManager::release(SequenceId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) fail("cache: release of unknown sequence {}", id);
  for (size_t p = 0; p < pools_.size(); ++p)
    for (BlockId b : it->second.tables[p])
      if (b >= 0) pools_[p]->release(b);
  free_slots_.push_back(it->second.state_slot);
  seqs_.erase(it);
}

int64_t CacheManager::admit_cached(SequenceId id, std::span<const int64_t> tokens) {
  const int64_t max_blocks = tokens.empty() ? 0 : (int64_t(tokens.size()) - 1) / kCacheBlockTokens;
  if (!prefix_ || max_blocks == 0) {
    admit(id, 0);
    return 0;
  }
  if (seqs_.count(id)) fail("cache: sequence {} is already admitted", id);
  if (free_slots_.empty()) fail("cache full: no state slot for sequence {} ({} sequences live)", id, seqs_.size());
  PrefixMatch m = prefix_->lookup(tokens, max_blocks);
  SequenceBlocks s;
  s.tables = std::move(m.tables);
  for (size_t p = 0; p < pools_.size(); ++p)
    for (BlockId b : s.tables[p])
      if (b >= 0) pools_[p]->retain(b);
  s.tokens = m.blocks * kCacheBlockTokens;
  s.state_slot = free_slots_.back();
  free_slots_.pop_back();
  seqs_.emplace(id, std::move(s));
  return m.blocks * kCacheBlockTokens;
}

void CacheManager::cache_prefix(SequenceId id, std::span<const int64_t> tokens, int64_t upto) {
  if (!prefix_) return;
  const SequenceBlocks& s = blocks(id);
  if (upto > s.tokens || upto > int64_t(tokens.size()))
    fail("cache: caching {} tokens of sequence {}, which holds {} ({} known)", upto, id, s.tokens, tokens.size());
  prefix_->insert(tokens, upto / kCacheBlockTokens, s.tables);
}

void CacheManager::clear_prefix_cache() {
  if (prefix_) prefix_->clear();
}

const SequenceBlocks& CacheManager::blocks(SequenceId id) const {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) fail("cache: unknown sequence {}", id);
  return it->second;
}

}  // namespace dsv4
