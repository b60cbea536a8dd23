#include "cache/prefix_index.h"

#include <algorithm>

#include "core/error.h"
#include "core/mix64.h"
#include "model/kv_cache.h"  // kCacheBlockTokens

namespace dsv4 {

namespace {

uint64_t chain_hash(uint64_t parent, std::span<const int64_t> tokens) {
  uint64_t h = mix64(parent + 0x9E3779B97F4A7C15ull);
  for (int64_t t : tokens) h = mix64(h ^ uint64_t(t)) + 0x632BE59BD9B4E019ull;
  return h;
}

constexpr uint64_t kRootHash = 0x5EEDF00Dull;

}  // namespace

struct PrefixIndex::Entry {
  int64_t id = 0, parent = -1, depth = 0;
  uint64_t hash = 0, tick = 0;
  std::vector<int64_t> tokens;
  std::vector<BlockId> blocks;  // per pool; [0] = the resume point's window block, −1 when none
  std::vector<int64_t> children;
};

PrefixIndex::PrefixIndex(std::vector<BlockPool*> pools, bool keyed_with_next)
    : pools_(std::move(pools)), keyed_with_next_(keyed_with_next) {
  if (pools_.empty()) fail("prefix index: no pools");
}

PrefixIndex::~PrefixIndex() = default;

PrefixIndex::Key PrefixIndex::resume_key(const Entry& e) const { return {e.tick, e.depth, e.id}; }
PrefixIndex::Key PrefixIndex::entry_key(const Entry& e) const { return {e.tick, -e.depth, e.id}; }

PrefixIndex::Entry* PrefixIndex::find(int64_t parent, std::span<const int64_t> tokens, uint64_t hash) {
  auto [lo, hi] = by_hash_.equal_range(hash);
  for (auto it = lo; it != hi; ++it) {
    Entry& e = *entries_.at(it->second);
    if (e.parent == parent && std::equal(e.tokens.begin(), e.tokens.end(), tokens.begin(), tokens.end())) return &e;
  }
  return nullptr;
}

void PrefixIndex::touch(Entry& e, uint64_t tick) {
  by_entry_.erase(entry_key(e));
  const bool resumable = e.blocks[0] >= 0;
  if (resumable) by_resume_.erase(resume_key(e));
  e.tick = tick;
  by_entry_.insert(entry_key(e));
  if (resumable) by_resume_.insert(resume_key(e));
}

PrefixMatch PrefixIndex::lookup(std::span<const int64_t> tokens, int64_t max_blocks) {
  const int64_t L = kCacheBlockTokens + (keyed_with_next_ ? 1 : 0);
  std::vector<Entry*> chain;
  int64_t best = 0, parent = -1;
  uint64_t hash = kRootHash;
  for (int64_t j = 0; j < max_blocks; ++j) {
    const int64_t from = j * kCacheBlockTokens;
    if (from + L > int64_t(tokens.size())) break;
    const std::span<const int64_t> slice = tokens.subspan(size_t(from), size_t(L));
    const uint64_t h = chain_hash(hash, slice);
    Entry* e = find(parent, slice, h);
    if (e == nullptr) break;
    chain.push_back(e);
    if (e->blocks[0] >= 0) best = j + 1;
    parent = e->id;
    hash = h;
  }
  PrefixMatch m;
  m.blocks = best;
  m.tables.resize(pools_.size());
  if (best == 0) return m;
  const uint64_t tick = ++clock_;
  for (int64_t j = 0; j < best; ++j) {
    Entry& e = *chain[size_t(j)];
    touch(e, tick);
    for (size_t p = 0; p < pools_.size(); ++p)
      m.tables[p].push_back(p == 0 ? (j == best - 1 ? e.blocks[0] : -1) : e.blocks[p]);
  }
  return m;
}

void PrefixIndex::insert(std::span<const int64_t> tokens, int64_t blocks,
                         const std::vector<std::vector<BlockId>>& tables) {
  if (tables.size() != pools_.size()) fail("prefix index: {} block tables for {} pools", tables.size(), pools_.size());
  const int64_t L = kCacheBlockTokens + (keyed_with_next_ ? 1 : 0);
  int64_t parent = -1;
  uint64_t hash = kRootHash;
  const uint64_t tick = ++clock_;
  for (int64_t j = 0; j < blocks; ++j) {
    const int64_t from = j * kCacheBlockTokens;
    if (from + L > int64_t(tokens.size())) break;
    for (const auto& t : tables)
      if (int64_t(t.size()) <= j) return;
    const std::span<const int64_t> slice = tokens.subspan(size_t(from), size_t(L));
    const uint64_t h = chain_hash(hash, slice);
    Entry* e = find(parent, slice, h);
    const BlockId win = tables[0][size_t(j)];
    if (e != nullptr) {
      // Already cached (first writer wins); it gains the resume point it lacked.
      if (e->blocks[0] < 0 && win >= 0 && !pools_[0]->cached(win)) {
        pools_[0]->set_cached(win, true);
        e->blocks[0] = win;
        by_resume_.insert(resume_key(*e));
      }
      touch(*e, tick);
    } else {
      for (size_t p = 0; p < pools_.size(); ++p) {
        const BlockId b = tables[p][size_t(j)];
        if (p > 0 && b < 0) return;                    // not held: nothing to cache from here on
        if (b >= 0 && pools_[p]->cached(b)) return;    // another entry holds it (defensive)
      }
      auto owned = std::make_unique<Entry>();
      e = owned.get();
      e->id = next_id_++;
      e->parent = parent;
      e->depth = j;
      e->hash = h;
      e->tick = tick;
      e->tokens.assign(slice.begin(), slice.end());
      e->blocks.resize(pools_.size());
      for (size_t p = 0; p < pools_.size(); ++p) {
        e->blocks[p] = tables[p][size_t(j)];
        if (e->blocks[p] >= 0) pools_[p]->set_cached(e->blocks[p], true);
      }
      if (parent >= 0) entries_.at(parent)->children.push_back(e->id);
      by_hash_.emplace(h, e->id);
      by_entry_.insert(entry_key(*e));
      if (e->blocks[0] >= 0) by_resume_.insert(resume_key(*e));
      entries_.emplace(e->id, std::move(owned));
    }
    parent = e->id;
    hash = h;
  }
}

void PrefixIndex::drop_resume(Entry& e) {
  if (e.blocks[0] < 0) return;
  by_resume_.erase(resume_key(e));
  pools_[0]->set_cached(e.blocks[0], false);
  e.blocks[0] = -1;
}

void PrefixIndex::erase_tree(int64_t id) {
  std::vector<int64_t> stack{id};
  if (Entry& root = *entries_.at(id); root.parent >= 0) {
    auto& siblings = entries_.at(root.parent)->children;
    siblings.erase(std::remove(siblings.begin(), siblings.end(), id), siblings.end());
  }
  while (!stack.empty()) {
    const int64_t i = stack.back();
    stack.pop_back();
    auto it = entries_.find(i);
    Entry& e = *it->second;
    stack.insert(stack.end(), e.children.begin(), e.children.end());
    drop_resume(e);
    by_entry_.erase(entry_key(e));
    auto [lo, hi] = by_hash_.equal_range(e.hash);
    for (auto h = lo; h != hi; ++h)
      if (h->second == i) {
        by_hash_.erase(h);
        break;
      }
    for (size_t p = 1; p < pools_.size(); ++p)
      if (e.blocks[p] >= 0) pools_[p]->set_cached(e.blocks[p], false);
    entries_.erase(it);
  }
}

bool PrefixIndex::evict_one(size_t pool) {
  if (pool >= pools_.size()) fail("prefix index: no pool {}", pool);
  if (pool == 0) {
    for (const Key& k : by_resume_) {
      Entry& e = *entries_.at(std::get<2>(k));
      if (pools_[0]->ref_count(e.blocks[0]) == 1) {
        drop_resume(e);
        return true;
      }
    }
    return false;
  }
  for (const Key& k : by_entry_) {
    Entry& e = *entries_.at(std::get<2>(k));
    if (e.blocks[pool] >= 0 && pools_[pool]->ref_count(e.blocks[pool]) == 1) {
      erase_tree(e.id);
      return true;
    }
  }
  return false;
}

void PrefixIndex::clear() {
  std::vector<int64_t> roots;
  for (const auto& [id, e] : entries_)
    if (e->parent < 0) roots.push_back(id);
  for (int64_t r : roots) erase_tree(r);
}

}  // namespace dsv4
