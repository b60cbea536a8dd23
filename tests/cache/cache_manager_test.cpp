// Cache bookkeeping: layouts from real configs, budget plans, and randomized admit / extend /
// truncate / release sequences checked against invariants (no block owned twice, no leak,
// failures change nothing).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "cache/cache_manager.h"
#include "core/error.h"
#include "model/presets.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

TEST(CacheLayout, FlashPoolsAndBytes) {
  const ModelConfig c = preset_config("flash");
  const CacheLayout ref = CacheLayout::from_config(c, CacheFormat::Reference);
  ASSERT_EQ(ref.pools.size(), 3u);
  EXPECT_EQ(ref.pools[0].name, "window");
  EXPECT_EQ(ref.pools[0].layers, 44);  // 43 layers + MTP
  EXPECT_EQ(ref.pools[0].bytes_per_block, 44ull * 128 * 2048);  // fp32 vectors
  EXPECT_EQ(ref.pool("csa")->layers, 21);
  EXPECT_EQ(ref.pool("csa")->bytes_per_block, 21ull * 32 * (2048 + 512));
  EXPECT_EQ(ref.pool("hca")->layers, 20);
  EXPECT_EQ(ref.pool("hca")->bytes_per_block, 20ull * 1 * 2048);
  const CacheLayout fp8 = CacheLayout::from_config(c, CacheFormat::Fp8);
  EXPECT_EQ(fp8.pool("hca")->bytes_per_block, 20ull * 584);
  EXPECT_EQ(fp8.pool("csa")->bytes_per_block, 21ull * 32 * (584 + 72));  // MXFP4 keys: 64 + 4 bytes, 8-aligned
  const CacheLayout pro = CacheLayout::from_config(preset_config("pro"), CacheFormat::Fp8);
  EXPECT_EQ(pro.pool("csa")->layers, 30);
  EXPECT_EQ(pro.pool("hca")->layers, 31);
}

TEST(CacheLayout, PlanFitsTheBudget) {
  const CacheLayout l = CacheLayout::from_config(preset_config("flash"), CacheFormat::Fp8);
  const uint64_t budget = 8ull << 30;
  const CachePlan p = plan_cache(l, budget, 64);
  EXPECT_LE(p.bytes, budget);
  EXPECT_GE(p.bytes, 3ull * 64 * l.pools[0].bytes_per_block + 64 * l.state_bytes_per_sequence);
  EXPECT_GT(p.bytes, budget - l.pools[1].bytes_per_block - l.pools[2].bytes_per_block);  // uses what it can
  EXPECT_EQ(p.pool_blocks[0], kWindowBlocksPerSequence * 64);
  EXPECT_EQ(p.pool_blocks[1], p.pool_blocks[2]);
  EXPECT_GT(p.max_total_tokens, 64 * 128);
  EXPECT_THROW(plan_cache(l, 1 << 20, 64), Error);
  EXPECT_THROW(plan_cache(l, budget, 0), Error);
}

TEST(BlockPool, RefCountsAndErrors) {
  BlockPool pool("test", 4);
  auto a = pool.allocate(3);
  EXPECT_EQ(pool.free_blocks(), 1);
  EXPECT_THROW(pool.allocate(2), Error);
  EXPECT_EQ(pool.free_blocks(), 1);  // unchanged by the failure
  pool.retain(a[0]);
  pool.release(a[0]);
  EXPECT_EQ(pool.ref_count(a[0]), 1);
  pool.release(a[0]);
  EXPECT_EQ(pool.free_blocks(), 2);
  EXPECT_THROW(pool.release(a[0]), Error);  // double release
  EXPECT_THROW(pool.retain(99), Error);
  try {
    pool.allocate(5);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'test' is full: 5 blocks needed, 2 of 4 free"), std::string::npos) << e.what();
  }
}

// Checks that no block is owned twice and that pool usage equals what the sequences hold.
void check_invariants(const CacheManager& m, const std::set<SequenceId>& live) {
  for (size_t p = 0; p < m.pool_count(); ++p) {
    std::set<BlockId> owned;
    int64_t count = 0;
    for (SequenceId id : live) {
      for (BlockId b : m.blocks(id).tables[p]) {
        if (b < 0) continue;
        ASSERT_TRUE(owned.insert(b).second) << "block " << b << " of pool " << p << " owned twice";
        ++count;
      }
    }
    ASSERT_EQ(count, m.pool(p).used_blocks()) << "pool " << m.pool(p).name();
  }
  for (SequenceId id : live) {
    const auto& s = m.blocks(id);
    const int64_t nb = (s.tokens + 127) / 128;
    for (size_t p = 0; p < m.pool_count(); ++p) ASSERT_EQ(int64_t(s.tables[p].size()), nb);
    for (int64_t b = std::max<int64_t>(0, nb - 2); b < nb; ++b) ASSERT_GE(s.tables[0][size_t(b)], 0) << "window block";
  }
}

TEST(CacheManager, RandomOperationsKeepInvariants) {
  const uint64_t seed = test::fresh_seed("cache-ops");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const CacheLayout l = CacheLayout::from_config(preset_config("tiny"), CacheFormat::Reference);
  CachePlan plan;
  plan.max_sequences = 6;
  plan.pool_blocks = {int32_t(kWindowBlocksPerSequence) * 6, 20, 20};
  CacheManager m(l, plan);
  std::set<SequenceId> live;
  SequenceId next_id = 0;
  for (int step = 0; step < 4000; ++step) {
    const int op = int(rng() % 4);
    const std::vector<int32_t> free_before = {m.pool(0).free_blocks(), m.pool(1).free_blocks(), m.pool(2).free_blocks()};
    bool threw = false;
    try {
      if (op == 0 || live.empty()) {
        const int64_t tokens = int64_t(rng() % 700);
        const bool fits = m.can_admit(tokens);
        try {
          m.admit(next_id, tokens);
          ASSERT_TRUE(fits);
          live.insert(next_id);
        } catch (const Error&) {
          ASSERT_FALSE(fits);
          throw;
        }
        ++next_id;
      } else {
        auto it = live.begin();
        std::advance(it, long(rng() % live.size()));
        const SequenceId id = *it;
        const int64_t t = m.blocks(id).tokens;
        if (op == 1) {
          m.extend(id, t + int64_t(rng() % 300));
        } else if (op == 2) {
          m.truncate(id, std::max<int64_t>(0, t - int64_t(rng() % 100)));
        } else {
          m.release(id);
          live.erase(id);
        }
      }
    } catch (const Error&) {
      threw = true;
    }
    if (threw) {
      const std::vector<int32_t> free_after = {m.pool(0).free_blocks(), m.pool(1).free_blocks(), m.pool(2).free_blocks()};
      ASSERT_EQ(free_before, free_after) << "a failed operation changed the pools (step " << step << ")";
    }
    check_invariants(m, live);
    if (HasFatalFailure()) return;
  }
  for (SequenceId id : std::set<SequenceId>(live)) m.release(id);
  for (size_t p = 0; p < m.pool_count(); ++p) EXPECT_EQ(m.pool(p).used_blocks(), 0);
  EXPECT_EQ(m.free_state_slots(), 6);
}

TEST(CacheManager, WindowSlidesAndRollbackAcrossABlock) {
  const CacheLayout l = CacheLayout::from_config(preset_config("tiny"), CacheFormat::Reference);
  CachePlan plan;
  plan.max_sequences = 1;
  plan.pool_blocks = {int32_t(kWindowBlocksPerSequence), 10, 10};
  CacheManager m(l, plan);
  m.admit(7, 100);
  m.extend(7, 1000);  // 8 token blocks: the last 3, plus block 0 (the window of position 100) until the next extension
  EXPECT_EQ(m.pool(0).used_blocks(), 4);
  EXPECT_GE(m.blocks(7).tables[0][0], 0);
  EXPECT_EQ(m.blocks(7).tables[0][1], -1);  // never needed by any window: never allocated
  m.extend(7, 1001);
  EXPECT_EQ(m.pool(0).used_blocks(), 3);
  EXPECT_EQ(m.blocks(7).tables[0][0], -1);
  EXPECT_EQ(m.pool(1).used_blocks(), 8);
  m.truncate(7, 890);  // back across a block boundary: fine
  EXPECT_EQ(m.blocks(7).tokens, 890);
  m.extend(7, 1000);
  EXPECT_THROW(m.truncate(7, 300), Error);  // its window slid out long ago
  EXPECT_THROW(m.admit(7, 1), Error);       // id taken
  EXPECT_THROW(m.admit(8, 1), Error);       // no state slot
  EXPECT_THROW(m.extend(7, 5000), Error);   // pools full
  EXPECT_EQ(m.blocks(7).tokens, 1000);
  m.release(7);
  EXPECT_THROW(m.release(7), Error);
}

}  // namespace
}  // namespace dsv4
