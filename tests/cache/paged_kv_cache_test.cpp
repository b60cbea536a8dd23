// The paged cache storage over the bookkeeping: vectors stored at the step plan's slots (window
// positions, emitted compressed entries and indexer keys) read back per (sequence, layer,
// position / entry) through the block tables, in both slot formats; sequences and layers never
// overlap; slid-out window blocks and missing layers are reported.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "cache/paged_kv_cache.h"
#include "core/error.h"
#include "core/quant.h"
#include "model/step_plan.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

ModelConfig golden_config() { return ModelConfig::from_file(test::golden_dir("golden-a") + "/config.json"); }

// Random vectors that the FP8 / MXFP4 slots hold exactly (fake-quantized as the model stores them).
std::vector<float> random_vecs(std::mt19937_64& rng, int64_t n, int64_t dim, int64_t rope, bool fp8, bool key) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(size_t(n * dim));
  for (float& x : v) x = d(rng);
  if (!fp8) return v;
  for (int64_t i = 0; i < n; ++i) {
    float* row = v.data() + i * dim;
    if (key) {
      fake_quant_fp4(row, size_t(dim), 32);
    } else {
      fake_quant_fp8(row, size_t(dim - rope), 64);
      for (int64_t c = dim - rope; c < dim; ++c) row[c] = round_to_bf16(row[c]);
    }
  }
  return v;
}

class PagedKvCacheTest : public ::testing::TestWithParam<CacheFormat> {};

TEST_P(PagedKvCacheTest, PlannedSlotsReadBackPerSequenceAndLayer) {
  const uint64_t seed = test::fresh_seed("PagedKvCache.ReadBack");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const ModelConfig cfg = golden_config();
  const bool fp8 = GetParam() == CacheFormat::Fp8;
  Ops& ops = cpu_ops();
  Cache cache(cfg, ops, 64ull << 20, 3, GetParam());
  const KvPools& pools = cache.storage.pools();
  const int64_t D = cfg.head_dim, Di = cfg.index_head_dim, rd = cfg.rope_head_dim;
  const int layers = int(cfg.layers.size());
  std::map<std::tuple<SequenceId, int, int64_t>, std::vector<float>> window, entries, keys;
  const std::vector<SequenceId> seqs = {4, 9, 11};
  std::map<SequenceId, int64_t> len;
  for (SequenceId s : seqs) cache.manager.admit(s, 0);
  for (int step = 0; step < 60; ++step) {
    const SequenceId s = seqs[rng() % seqs.size()];
    const int64_t p0 = len[s], n = 1 + int64_t(rng() % (p0 == 0 ? 300 : 120));
    cache.manager.extend(s, p0 + n);
    len[s] = p0 + n;
    const StepPlan plan = plan_step(cfg, cache.storage, {{s, p0, 0, n}}, std::vector<int64_t>(size_t(n), 1), {});
    for (int l = 0; l < layers; ++l) {
      const std::vector<float> v = random_vecs(rng, n, D, rd, fp8, false);
      ops.kv_store(KvStoreParams{v.data(), plan.win_store.data(), n, D, rd, pools.kv_format, pools.window[size_t(l)],
                                 pools.window_slots});
      for (int64_t i = 0; i < n; ++i)
        window[{s, l, p0 + i}] = std::vector<float>(v.begin() + i * D, v.begin() + (i + 1) * D);
      const int c = cfg.layers[size_t(l)].compress_ratio;
      if (c == 0) continue;
      const EmissionPlan& e = c == 4 ? plan.e4 : plan.e128;
      ASSERT_EQ(e.n, (p0 + n) / c - p0 / c);
      const std::vector<float> ev = random_vecs(rng, e.n, D, rd, fp8, false);
      ops.kv_store(KvStoreParams{ev.data(), e.slot.data(), e.n, D, rd, pools.kv_format, pools.entries[size_t(l)],
                                 pools.entry_slots[size_t(l)]});
      for (int64_t i = 0; i < e.n; ++i)
        entries[{s, l, p0 / c + i}] = std::vector<float>(ev.begin() + i * D, ev.begin() + (i + 1) * D);
      if (c != 4) continue;
      const std::vector<float> kv = random_vecs(rng, e.n, Di, 0, fp8, true);
      ops.key_store(KeyStoreParams{kv.data(), e.slot.data(), e.n, Di, pools.key_format, pools.keys[size_t(l)],
                                   pools.key_slots[size_t(l)]});
      for (int64_t i = 0; i < e.n; ++i)
        keys[{s, l, p0 / 4 + i}] = std::vector<float>(kv.begin() + i * Di, kv.begin() + (i + 1) * Di);
    }
  }
  for (SequenceId s : seqs) {
    for (int l = 0; l < layers; ++l) {
      // The last W positions are always readable; all compressed entries are.
      std::vector<float> got(static_cast<size_t>(D));
      for (int64_t p = std::max<int64_t>(0, len[s] - 128); p < len[s]; ++p) {
        ASSERT_TRUE(cache.storage.read_window(s, l, p, got.data()));
        ASSERT_EQ(got, (window[{s, l, p}])) << "seq " << s << " layer " << l << " pos " << p;
      }
      const int c = cfg.layers[size_t(l)].compress_ratio;
      if (c == 0) {
        EXPECT_THROW(cache.storage.read_entry(s, l, CacheRole::Attention, 0, got.data()), Error);
        continue;
      }
      for (int64_t w = 0; w < len[s] / c; ++w) {
        ASSERT_TRUE(cache.storage.read_entry(s, l, CacheRole::Attention, w, got.data()));
        ASSERT_EQ(got, (entries[{s, l, w}])) << "seq " << s << " layer " << l << " entry " << w;
      }
      std::vector<float> key(static_cast<size_t>(Di));
      if (c == 128) {
        EXPECT_THROW(cache.storage.read_entry(s, l, CacheRole::Indexer, 0, key.data()), Error);
        continue;
      }
      for (int64_t w = 0; w < len[s] / 4; ++w) {
        ASSERT_TRUE(cache.storage.read_entry(s, l, CacheRole::Indexer, w, key.data()));
        ASSERT_EQ(key, (keys[{s, l, w}]));
      }
    }
    std::vector<float> got(static_cast<size_t>(D));
    if (len[s] > 3 * 128) {
      EXPECT_FALSE(cache.storage.read_window(s, 0, 0, got.data()));  // slid out
    }
    EXPECT_THROW(cache.storage.read_window(s, 0, len[s] + 200, got.data()), Error);  // beyond its blocks
  }
}

std::string format_name(const ::testing::TestParamInfo<CacheFormat>& p) {
  return p.param == CacheFormat::Fp8 ? "Fp8" : "Reference";
}
INSTANTIATE_TEST_SUITE_P(Formats, PagedKvCacheTest, ::testing::Values(CacheFormat::Reference, CacheFormat::Fp8),
                         format_name);

TEST(StepPlan, RingSourcesAndSlidOutWindowsAreReported) {
  const ModelConfig cfg = golden_config();
  Cache cache(cfg, 64ull << 20, 2);
  cache.manager.admit(1, 700);
  // A chunk after position 0 longer than the kept window blocks cannot see its window.
  cache.manager.extend(1, 1000);
  EXPECT_THROW(plan_step(cfg, cache.storage, {{1, 300, 0, 700}}, std::vector<int64_t>(700, 1), {}), Error);
  // Token ids are checked against the vocabulary, segments against the reserved length.
  EXPECT_THROW(plan_step(cfg, cache.storage, {{1, 999, 0, 1}}, {cfg.vocab_size}, {}), Error);
  EXPECT_THROW(plan_step(cfg, cache.storage, {{1, 999, 0, 2}}, {1, 1}, {}), Error);
  // A decode token at 999 reads the ring for the windows it completes: entry 249 (ratio 4)
  // pools positions 992..999 — 992..998 from the ring of state slot s, 999 from the call.
  const StepPlan p = plan_step(cfg, cache.storage, {{1, 999, 0, 1}}, {5}, {});
  ASSERT_EQ(p.e4.n, 1);
  const int32_t s = cache.manager.blocks(1).state_slot;
  for (int j = 0; j < 7; ++j) EXPECT_EQ(p.e4.src[size_t(j)], -1 - (s * 16 + (992 + j) % 16));
  EXPECT_EQ(p.e4.src[7], 0);
  EXPECT_EQ(p.e4.first_pos[0], 996);
  EXPECT_EQ(p.e128.n, 0);
  ASSERT_EQ(p.e4.ring_rows.size(), 1u);
  EXPECT_EQ(p.e4.ring_dst[0], s * 16 + 999 % 16);
  EXPECT_EQ(p.count128[0], 1000 / 128);
  EXPECT_EQ(p.visible4[0], 250);
}

}  // namespace
}  // namespace dsv4
