#include "cache/paged_kv_cache.h"

#include "core/error.h"

namespace dsv4 {

namespace {

int pool_index(const CacheLayout& layout, const std::string& name) {
  for (size_t i = 0; i < layout.pools.size(); ++i)
    if (layout.pools[i].name == name) return int(i);
  return -1;
}

}  // namespace

PagedKvCache::PagedKvCache(const ModelConfig& config, const CacheManager& manager, Ops& ops)
    : config_(config), manager_(manager), ops_(ops) {
  const CacheLayout& layout = manager.layout();
  const bool fp8 = layout.format == CacheFormat::Fp8;
  pools_.kv_format = fp8 ? KvFormat::Fp8Ds : KvFormat::F32;
  pools_.key_format = fp8 ? KeyFormat::Mxfp4 : KeyFormat::F32;
  const int64_t D = config.head_dim, rd = config.rope_head_dim, Di = config.index_head_dim;
  const uint64_t kv_bytes = uint64_t(kv_slot_bytes(pools_.kv_format, D, rd));
  const uint64_t key_bytes = uint64_t(key_slot_bytes(pools_.key_format, Di));
  csa_pool_ = pool_index(layout, "csa");
  hca_pool_ = pool_index(layout, "hca");
  const size_t L = config.layers.size();
  const uint64_t window_blocks = uint64_t(manager.pool(0).capacity());
  const uint64_t states = uint64_t(manager.free_state_slots());
  pools_.window.assign(L, nullptr);
  pools_.entries.assign(L, nullptr);
  pools_.keys.assign(L, nullptr);
  pools_.window_slots = int64_t(window_blocks) * kCacheBlockTokens;
  pools_.entry_slots.assign(L, 0);
  pools_.key_slots.assign(L, 0);
  pools_.ring_rows.assign(L, 0);
  for (int r = 0; r < 2; ++r) {
    pools_.ring_kv[r].assign(L, nullptr);
    pools_.ring_gate[r].assign(L, nullptr);
    pools_.tail_kv[r].assign(L, nullptr);
    pools_.tail_gate[r].assign(L, nullptr);
  }
  const bool tails = manager.prefix_caching();
  if (tails) pools_.tail_rows = int64_t(window_blocks) * kCompressorTailTokens;
  const uint64_t tail_rows = uint64_t(pools_.tail_rows);
  try {
    for (size_t l = 0; l < L; ++l) {
      const int ratio = config.layers[l].compress_ratio;
      ratio_.push_back(ratio);
      pools_.window[l] = allocate(window_blocks * uint64_t(kCacheBlockTokens) * kv_bytes);
      if (ratio == 0) continue;
      const int pool = ratio == 4 ? csa_pool_ : hca_pool_;
      if (pool < 0) fail("cache: layer {} has compress ratio {} but the layout has no such pool", l, ratio);
      const uint64_t blocks = uint64_t(manager.pool(size_t(pool)).capacity());
      const uint64_t per_block = uint64_t(kCacheBlockTokens / ratio);
      pools_.entries[l] = allocate(blocks * per_block * kv_bytes);
      pools_.entry_slots[l] = int64_t(blocks * per_block);
      const uint64_t R = uint64_t(compressor_ring_tokens(ratio));
      pools_.ring_rows[l] = int64_t(states * R);
      const uint64_t width = uint64_t(ratio == 4 ? 2 : 1) * uint64_t(D);
      pools_.ring_kv[0][l] = static_cast<float*>(allocate(states * R * width * 4));
      pools_.ring_gate[0][l] = static_cast<float*>(allocate(states * R * width * 4));
      if (ratio == 4) {
        pools_.keys[l] = allocate(blocks * per_block * key_bytes);
        pools_.key_slots[l] = int64_t(blocks * per_block);
        const uint64_t iw = 2 * uint64_t(Di);
        pools_.ring_kv[1][l] = static_cast<float*>(allocate(states * R * iw * 4));
        pools_.ring_gate[1][l] = static_cast<float*>(allocate(states * R * iw * 4));
        if (tails) {
          pools_.tail_kv[0][l] = static_cast<float*>(allocate(tail_rows * width * 4));
          pools_.tail_gate[0][l] = static_cast<float*>(allocate(tail_rows * width * 4));
          pools_.tail_kv[1][l] = static_cast<float*>(allocate(tail_rows * iw * 4));
          pools_.tail_gate[1][l] = static_cast<float*>(allocate(tail_rows * iw * 4));
        }
      }
    }
  } catch (...) {
    for (void* p : owned_) ops_.free(p);
    throw;
  }
}

PagedKvCache::~PagedKvCache() {
  for (void* p : owned_) ops_.free(p);
}

void* PagedKvCache::allocate(uint64_t bytes) {
  void* p = ops_.alloc(size_t(bytes));
  owned_.push_back(p);
  bytes_ += bytes;
  return p;
}

SequenceTables PagedKvCache::tables(SequenceId seq) const {
  const SequenceBlocks& b = manager_.blocks(seq);
  SequenceTables t;
  t.state_slot = b.state_slot;
  t.tokens = b.tokens;
  t.window = b.tables[0];
  if (csa_pool_ >= 0) t.csa = b.tables[size_t(csa_pool_)];
  if (hca_pool_ >= 0) t.hca = b.tables[size_t(hca_pool_)];
  return t;
}

void PagedKvCache::restore_compressor_state(SequenceId seq) {
  const SequenceBlocks& b = manager_.blocks(seq);
  const int64_t B = b.tokens;
  if (B == 0) return;
  if (B % kCacheBlockTokens != 0) fail("cache: sequence {} resumes at {}, not a block boundary", seq, B);
  const BlockId wb = b.tables[0][size_t(B / kCacheBlockTokens - 1)];
  if (wb < 0) fail("cache: sequence {} resumes at {} without the window block before it", seq, B);
  const int64_t R = compressor_ring_tokens(4), n = kCompressorTailTokens;
  const int64_t r0 = (B - n) % R;  // the tail's ring rows r0 .. r0+n−1 (contiguous: R is a multiple of 4)
  for (size_t l = 0; l < ratio_.size(); ++l) {
    if (ratio_[l] != 4) continue;
    if (pools_.tail_kv[0][l] == nullptr) fail("cache: prefix caching is off (no compressor tails)");
    for (int role = 0; role < 2; ++role) {
      const int64_t W = 2 * (role == 0 ? config_.head_dim : config_.index_head_dim);
      const size_t bytes = size_t(n * W) * 4;
      const int64_t dst = (int64_t(b.state_slot) * R + r0) * W, src = int64_t(wb) * n * W;
      ops_.copy(pools_.ring_kv[role][l] + dst, pools_.tail_kv[role][l] + src, bytes);
      ops_.copy(pools_.ring_gate[role][l] + dst, pools_.tail_gate[role][l] + src, bytes);
    }
  }
}

bool PagedKvCache::read_window(SequenceId seq, int layer, int64_t pos, float* out) const {
  const SequenceBlocks& b = manager_.blocks(seq);
  const int64_t blk = pos / kCacheBlockTokens;
  if (layer < 0 || size_t(layer) >= pools_.window.size() || pos < 0 || blk >= int64_t(b.tables[0].size()))
    fail("cache: sequence {} layer {}: window position {} outside the cache", seq, layer, pos);
  const BlockId id = b.tables[0][size_t(blk)];
  if (id < 0) return false;
  const int32_t slot = int32_t(int64_t(id) * kCacheBlockTokens + pos % kCacheBlockTokens);
  void* slots = ops_.alloc(sizeof(int32_t));
  void* vec = ops_.alloc(size_t(config_.head_dim) * 4);
  ops_.upload(slots, &slot, sizeof(slot));
  ops_.kv_load(KvLoadParams{pools_.window[size_t(layer)], static_cast<int32_t*>(slots), 1, config_.head_dim,
                            config_.rope_head_dim, pools_.kv_format, static_cast<float*>(vec), pools_.window_slots});
  ops_.download(out, vec, size_t(config_.head_dim) * 4);
  ops_.synchronize();
  ops_.free(slots);
  ops_.free(vec);
  return true;
}

bool PagedKvCache::read_entry(SequenceId seq, int layer, CacheRole role, int64_t w, float* out) const {
  if (layer < 0 || size_t(layer) >= ratio_.size() || ratio_[size_t(layer)] == 0)
    fail("cache: layer {} has no compressed entries", layer);
  const int ratio = ratio_[size_t(layer)];
  if (role == CacheRole::Indexer && ratio != 4) fail("cache: layer {} has no indexer keys", layer);
  const SequenceBlocks& b = manager_.blocks(seq);
  const int64_t per_block = kCacheBlockTokens / ratio;
  const auto& table = b.tables[size_t(ratio == 4 ? csa_pool_ : hca_pool_)];
  if (w < 0 || w / per_block >= int64_t(table.size())) return false;
  const int32_t slot = int32_t(int64_t(table[size_t(w / per_block)]) * per_block + w % per_block);
  const int64_t dim = role == CacheRole::Indexer ? config_.index_head_dim : config_.head_dim;
  void* slots = ops_.alloc(sizeof(int32_t));
  void* vec = ops_.alloc(size_t(dim) * 4);
  ops_.upload(slots, &slot, sizeof(slot));
  if (role == CacheRole::Indexer)
    ops_.key_load(KeyLoadParams{pools_.keys[size_t(layer)], static_cast<int32_t*>(slots), 1, dim, pools_.key_format,
                                static_cast<float*>(vec), pools_.key_slots[size_t(layer)]});
  else
    ops_.kv_load(KvLoadParams{pools_.entries[size_t(layer)], static_cast<int32_t*>(slots), 1, dim,
                              config_.rope_head_dim, pools_.kv_format, static_cast<float*>(vec),
                              pools_.entry_slots[size_t(layer)]});
  ops_.download(out, vec, size_t(dim) * 4);
  ops_.synchronize();
  ops_.free(slots);
  ops_.free(vec);
  return true;
}

Cache::Cache(const ModelConfig& config, uint64_t budget_bytes, int32_t max_sequences)
    : Cache(config, cpu_ops(), budget_bytes, max_sequences, CacheFormat::Reference) {}

}  // namespace dsv4
