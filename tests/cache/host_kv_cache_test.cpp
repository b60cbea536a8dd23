// Host KV storage over the paged bookkeeping: what is written through (sequence, layer,
// position / entry) reads back through the block tables, sequences and layers never overlap,
// the compressor ring keeps its last positions, and out-of-range access is an error.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "cache/host_kv_cache.h"
#include "core/error.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

ModelConfig golden_config() { return ModelConfig::from_file(test::golden_dir("golden-a") + "/config.json"); }

std::vector<float> random_vec(std::mt19937_64& rng, size_t n) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(HostKvCache, WindowEntriesAndKeysReadBackPerSequenceAndLayer) {
  const uint64_t seed = test::fresh_seed("HostKvCache.ReadBack");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const ModelConfig cfg = golden_config();
  HostCache cache(cfg, 64ull << 20, 3);
  const int64_t D = cfg.head_dim, Di = cfg.index_head_dim;
  const int layers = int(cfg.layers.size());
  // Expected contents: (seq, layer, pos) -> vector, etc.
  std::map<std::tuple<SequenceId, int, int64_t>, std::vector<float>> window, entries, keys;
  const std::vector<SequenceId> seqs = {4, 9, 11};
  std::map<SequenceId, int64_t> len;
  for (SequenceId s : seqs) cache.manager.admit(s, 0);
  for (int step = 0; step < 60; ++step) {
    const SequenceId s = seqs[rng() % seqs.size()];
    const int64_t p0 = len[s], n = 1 + int64_t(rng() % 20);
    cache.manager.extend(s, p0 + n);
    len[s] = p0 + n;
    for (int l = 0; l < layers; ++l) {
      const std::vector<float> v = random_vec(rng, size_t(n * D));
      cache.storage.write_window(s, l, p0, n, v.data());
      for (int64_t i = 0; i < n; ++i)
        window[{s, l, p0 + i}] = std::vector<float>(v.begin() + i * D, v.begin() + (i + 1) * D);
      const int c = cfg.layers[size_t(l)].compress_ratio;
      if (c == 0) continue;
      const int64_t w0 = p0 / c, w1 = (p0 + n) / c;
      if (w1 == w0) continue;
      const std::vector<float> e = random_vec(rng, size_t((w1 - w0) * D));
      cache.storage.write_entries(s, l, CacheRole::Attention, w0, w1 - w0, e.data());
      for (int64_t w = w0; w < w1; ++w)
        entries[{s, l, w}] = std::vector<float>(e.begin() + (w - w0) * D, e.begin() + (w - w0 + 1) * D);
      if (c != 4) continue;
      const std::vector<float> k = random_vec(rng, size_t((w1 - w0) * Di));
      cache.storage.write_entries(s, l, CacheRole::Indexer, w0, w1 - w0, k.data());
      for (int64_t w = w0; w < w1; ++w)
        keys[{s, l, w}] = std::vector<float>(k.begin() + (w - w0) * Di, k.begin() + (w - w0 + 1) * Di);
    }
  }
  for (SequenceId s : seqs) {
    for (int l = 0; l < layers; ++l) {
      // The last W positions are always readable; all compressed entries are.
      const int64_t from = std::max<int64_t>(0, len[s] - 128);
      std::vector<float> got(static_cast<size_t>(D));
      for (int64_t p = from; p < len[s]; ++p) {
        cache.storage.read_window(s, l, p, 1, got.data());
        ASSERT_EQ(got, (window[{s, l, p}])) << "seq " << s << " layer " << l << " pos " << p;
      }
      const int c = cfg.layers[size_t(l)].compress_ratio;
      if (c == 0) {
        EXPECT_THROW(cache.storage.read_entries(s, l, CacheRole::Attention, 0, 1, got.data()), Error);
        continue;
      }
      for (int64_t w = 0; w < len[s] / c; ++w) {
        cache.storage.read_entries(s, l, CacheRole::Attention, w, 1, got.data());
        ASSERT_EQ(got, (entries[{s, l, w}])) << "seq " << s << " layer " << l << " entry " << w;
      }
      std::vector<float> key(static_cast<size_t>(Di));
      if (c == 128) {
        EXPECT_THROW(cache.storage.read_entries(s, l, CacheRole::Indexer, 0, 1, key.data()), Error);
        continue;
      }
      for (int64_t w = 0; w < len[s] / 4; ++w) {
        cache.storage.read_entries(s, l, CacheRole::Indexer, w, 1, key.data());
        ASSERT_EQ(key, (keys[{s, l, w}]));
      }
    }
    if (len[s] > 3 * 128) {  // the oldest window block has slid out
      std::vector<float> got(static_cast<size_t>(D));
      EXPECT_THROW(cache.storage.read_window(s, 0, 0, 1, got.data()), Error);
    }
    std::vector<float> got(static_cast<size_t>(D));
    EXPECT_THROW(cache.storage.read_window(s, 0, len[s] + 200, 1, got.data()), Error);  // beyond its blocks
  }
}

TEST(HostKvCache, CompressorRingKeepsTheLastPositionsPerRole) {
  const uint64_t seed = test::fresh_seed("HostKvCache.Ring");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const ModelConfig cfg = golden_config();
  HostCache cache(cfg, 64ull << 20, 2);
  cache.manager.admit(1, 0);
  cache.manager.admit(2, 0);
  for (int l = 0; l < int(cfg.layers.size()); ++l) {
    const int c = cfg.layers[size_t(l)].compress_ratio;
    if (c == 0) {
      float dummy[2];
      EXPECT_THROW(cache.storage.read_compressor(1, l, CacheRole::Attention, 0, 0, dummy, dummy), Error);
      continue;
    }
    for (const CacheRole role : {CacheRole::Attention, CacheRole::Indexer}) {
      if (role == CacheRole::Indexer && c != 4) continue;
      const int64_t dc = role == CacheRole::Indexer ? cfg.index_head_dim : cfg.head_dim;
      const int64_t width = (c == 4 ? 2 : 1) * dc, ring = compressor_ring_tokens(c);
      std::map<std::pair<SequenceId, int64_t>, std::pair<std::vector<float>, std::vector<float>>> want;
      std::map<SequenceId, int64_t> pos;
      for (int step = 0; step < 40; ++step) {
        const SequenceId s = 1 + SequenceId(rng() % 2);
        const int64_t n = 1 + int64_t(rng() % (c == 4 ? 30 : 200));
        const std::vector<float> kv = random_vec(rng, size_t(n * width)), gate = random_vec(rng, size_t(n * width));
        cache.storage.write_compressor(s, l, role, pos[s], n, kv.data(), gate.data());
        for (int64_t i = 0; i < n; ++i)
          want[std::make_pair(s, pos[s] + i)] = {std::vector<float>(kv.begin() + i * width, kv.begin() + (i + 1) * width),
                                   std::vector<float>(gate.begin() + i * width, gate.begin() + (i + 1) * width)};
        pos[s] += n;
      }
      for (const auto& [s, end] : pos)
        for (int64_t p = std::max<int64_t>(0, end - ring); p < end; ++p) {
          std::vector<float> kv(static_cast<size_t>(width)), gate(static_cast<size_t>(width));
          cache.storage.read_compressor(s, l, role, p, 1, kv.data(), gate.data());
          const auto& expected = want[std::make_pair(s, p)];
          ASSERT_EQ(kv, expected.first) << "layer " << l << " seq " << s << " pos " << p;
          ASSERT_EQ(gate, expected.second);
        }
    }
  }
}

}  // namespace
}  // namespace dsv4
