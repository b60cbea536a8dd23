// Prefix caching bookkeeping: content-addressed chains (exact token comparison, the next token
// in the key with the MTP), resume points, LRU eviction under pressure, and reference counts that
// always return every block to its pool — over randomized admit / extend / cache / release.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "cache/cache_manager.h"
#include "core/error.h"
#include "model/presets.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

CacheManager make_manager(int32_t window_blocks, int32_t blocks, int32_t seqs, bool next = false) {
  const CacheLayout layout = CacheLayout::from_config(preset_config("tiny"), CacheFormat::Reference, true);
  CachePlan plan;
  plan.max_sequences = seqs;
  plan.pool_blocks.assign(layout.pools.size(), blocks);
  plan.pool_blocks[0] = window_blocks;
  return CacheManager(layout, plan, PrefixCaching{true, next});
}

std::vector<int64_t> tokens_of(std::mt19937_64& rng, int64_t n) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int64_t(rng() % 50);
  return t;
}

TEST(PrefixIndex, HitsTheLongestChainWithAResumePoint) {
  CacheManager m = make_manager(64, 64, 4);
  std::mt19937_64 rng(test::fresh_seed("PrefixIndex.Hits"));
  const std::vector<int64_t> a = tokens_of(rng, 600);
  m.admit(1, 600);
  m.cache_prefix(1, a, 600);  // blocks 0..3 (4·128 = 512 <= 600)
  EXPECT_EQ(m.cached_prefix_blocks(), 4u);
  // The same tokens: resume at 512 (599 / 128 = 4 blocks), sharing the blocks.
  EXPECT_EQ(m.admit_cached(2, a), 512);
  EXPECT_EQ(m.blocks(2).tables[1], std::vector<BlockId>(m.blocks(1).tables[1].begin(), m.blocks(1).tables[1].begin() + 4));
  EXPECT_EQ(m.blocks(2).tables[0][3], m.blocks(1).tables[0][3]);
  EXPECT_EQ(m.blocks(2).tables[0][0], -1);
  // A prompt that differs in block 2: two blocks; one that differs in token 0: none.
  std::vector<int64_t> b = a;
  b[300] = 99;
  EXPECT_EQ(m.admit_cached(3, b), 256);
  b[0] = 98;
  EXPECT_EQ(m.admit_cached(4, b), 0);
  // Exactly 512 tokens: at most (512 − 1) / 128 = 3 blocks.
  m.release(4);
  EXPECT_EQ(m.admit_cached(4, std::span<const int64_t>(a).first(512)), 384);
  for (SequenceId s : {1, 2, 3, 4}) m.release(s);
  for (size_t p = 0; p < m.pool_count(); ++p) EXPECT_EQ(m.pool(p).used_blocks(), m.pool(p).evictable_blocks());
  m.clear_prefix_cache();
  for (size_t p = 0; p < m.pool_count(); ++p) EXPECT_EQ(m.pool(p).used_blocks(), 0);
}

TEST(PrefixIndex, KeyedWithTheNextTokenForTheMtp) {
  CacheManager m = make_manager(64, 64, 4, true);
  std::mt19937_64 rng(test::fresh_seed("PrefixIndex.Next"));
  std::vector<int64_t> a = tokens_of(rng, 300);
  m.admit(1, 300);
  m.cache_prefix(1, a, 300);  // blocks 0, 1 (block 1's key needs token 256: known)
  EXPECT_EQ(m.cached_prefix_blocks(), 2u);
  EXPECT_EQ(m.admit_cached(2, a), 256);
  std::vector<int64_t> b = a;
  b[256] = (b[256] + 1) % 50;  // same 256 tokens, another next token: block 1's MTP vectors differ
  EXPECT_EQ(m.admit_cached(3, b), 128);
}

TEST(PrefixIndex, EvictsUnreferencedBlocksUnderPressureAndNeverLeaks) {
  const uint64_t seed = test::fresh_seed("PrefixIndex.Random");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 20; ++round) {
    CacheManager m = make_manager(12 + int32_t(rng() % 20), 6 + int32_t(rng() % 20), 3);
    std::vector<std::vector<int64_t>> prefixes;
    for (int i = 0; i < 3; ++i) prefixes.push_back(tokens_of(rng, 700));
    std::map<SequenceId, std::vector<int64_t>> live;
    SequenceId next = 1;
    for (int op = 0; op < 300; ++op) {
      const int what = int(rng() % 4);
      if (what == 0 && m.free_state_slots() > 0) {
        std::vector<int64_t> t = prefixes[rng() % 3];
        t.resize(size_t(1 + rng() % 700));
        if (rng() % 3 == 0) t[rng() % t.size()] = 77;
        const SequenceId id = next++;
        const int64_t hit = m.admit_cached(id, t);
        ASSERT_EQ(hit % 128, 0);
        ASSERT_LT(hit, int64_t(t.size()));
        if (!m.can_extend(id, int64_t(t.size()))) {
          m.release(id);
          continue;
        }
        m.extend(id, int64_t(t.size()));
        live[id] = t;
      } else if (what == 1 && !live.empty()) {
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        m.cache_prefix(it->first, it->second, int64_t(it->second.size()));
      } else if (what == 2 && !live.empty()) {
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        m.release(it->first);
        live.erase(it);
      } else if (what == 3 && !live.empty()) {  // grow by a few tokens when it fits
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        const int64_t to = int64_t(it->second.size()) + int64_t(rng() % 200);
        if (m.can_extend(it->first, to)) {
          m.extend(it->first, to);
          while (int64_t(it->second.size()) < to) it->second.push_back(int64_t(rng() % 50));
        }
      }
      for (size_t p = 0; p < m.pool_count(); ++p) {
        ASSERT_GE(m.pool(p).free_blocks(), 0);
        ASSERT_LE(m.pool(p).evictable_blocks(), m.pool(p).used_blocks());
      }
    }
    for (const auto& [id, t] : live) m.release(id);
    for (size_t p = 0; p < m.pool_count(); ++p) EXPECT_EQ(m.pool(p).used_blocks(), m.pool(p).evictable_blocks());
    m.clear_prefix_cache();
    for (size_t p = 0; p < m.pool_count(); ++p) EXPECT_EQ(m.pool(p).used_blocks(), 0) << m.pool(p).name();
    EXPECT_EQ(m.cached_prefix_blocks(), 0u);
  }
}

}  // namespace
}  // namespace dsv4
