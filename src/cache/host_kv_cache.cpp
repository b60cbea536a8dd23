#include "cache/host_kv_cache.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace dsv4 {

namespace {

constexpr int64_t kEntriesPerCsaBlock = kCacheBlockTokens / 4;

size_t pool_index(const CacheLayout& layout, const std::string& name) {
  for (size_t i = 0; i < layout.pools.size(); ++i)
    if (layout.pools[i].name == name) return i;
  return size_t(-1);
}

}  // namespace

HostKvCache::HostKvCache(const ModelConfig& config, const CacheManager& manager, int32_t max_sequences)
    : config_(config), manager_(manager), D_(config.head_dim), Di_(config.index_head_dim) {
  const CacheLayout& layout = manager.layout();
  window_layers_ = int(config.layers.size());
  for (const LayerSpec& s : config.layers) {
    LayerSlots l;
    l.ratio = s.compress_ratio;
    if (l.ratio == 4) {
      l.csa = csa_layers_++;
      l.state_width[0] = 2 * D_;
      l.state_width[1] = 2 * Di_;
      for (int r = 0; r < 2; ++r) {
        l.state_offset[r] = state_floats_;
        state_floats_ += 2 * compressor_ring_tokens(4) * l.state_width[r];
      }
    } else if (l.ratio == 128) {
      l.hca = hca_layers_++;
      l.state_width[0] = D_;
      l.state_offset[0] = state_floats_;
      state_floats_ += 2 * compressor_ring_tokens(128) * D_;
    } else if (l.ratio != 0) {
      fail("cache: layer {} has compress ratio {} (expected 0, 4 or 128)", s.index, l.ratio);
    }
    layers_.push_back(l);
  }
  const CachePoolSpec* wp = layout.pool("window");
  if (wp == nullptr || wp->layers != window_layers_)
    fail("cache: the layout's window pool has {} layers, the config {}", wp ? wp->layers : 0, window_layers_);
  window_.allocate(size_t(manager.pool(0).capacity()) * size_t(window_layers_ * kCacheBlockTokens * D_));
  if (csa_layers_ > 0) {
    csa_pool_ = pool_index(layout, "csa");
    if (csa_pool_ == size_t(-1) || layout.pools[csa_pool_].layers != csa_layers_) fail("cache: layout/config csa mismatch");
    const size_t blocks = size_t(manager.pool(csa_pool_).capacity());
    csa_kv_.allocate(blocks * size_t(csa_layers_ * kEntriesPerCsaBlock * D_));
    csa_keys_.allocate(blocks * size_t(csa_layers_ * kEntriesPerCsaBlock * Di_));
  }
  if (hca_layers_ > 0) {
    hca_pool_ = pool_index(layout, "hca");
    if (hca_pool_ == size_t(-1) || layout.pools[hca_pool_].layers != hca_layers_) fail("cache: layout/config hca mismatch");
    hca_kv_.allocate(size_t(manager.pool(hca_pool_).capacity()) * size_t(hca_layers_ * D_));
  }
  state_.allocate(size_t(max_sequences) * size_t(state_floats_));
}

uint64_t HostKvCache::host_bytes() const {
  return 4 * uint64_t(window_.size + csa_kv_.size + csa_keys_.size + hca_kv_.size + state_.size);
}

const HostKvCache::LayerSlots& HostKvCache::layer_slots(int layer) const {
  if (layer < 0 || layer >= int(layers_.size())) fail("cache: layer {} outside [0, {})", layer, layers_.size());
  return layers_[size_t(layer)];
}

int64_t HostKvCache::window_offset(const SequenceBlocks& b, int layer, int64_t pos, SequenceId seq) const {
  const int64_t blk = pos / kCacheBlockTokens;
  const auto& table = b.tables[0];
  if (pos < 0 || blk >= int64_t(table.size()))
    fail("cache: sequence {} layer {}: window position {} outside its {} reserved tokens", seq, layer, pos, b.tokens);
  const BlockId id = table[size_t(blk)];
  if (id < 0) return -1;
  return ((int64_t(id) * window_layers_ + layer) * kCacheBlockTokens + pos % kCacheBlockTokens) * D_;
}

void HostKvCache::read_window(SequenceId seq, int layer, int64_t pos0, int64_t n, float* out) const {
  layer_slots(layer);
  const SequenceBlocks& b = manager_.blocks(seq);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = window_offset(b, layer, pos0 + i, seq);
    if (off < 0)
      fail("cache: sequence {} layer {}: window position {} has slid out of the kept window blocks", seq, layer,
           pos0 + i);
    std::memcpy(out + i * D_, window_.data.get() + off, size_t(D_) * 4);
  }
}

void HostKvCache::write_window(SequenceId seq, int layer, int64_t pos0, int64_t n, const float* kv) {
  layer_slots(layer);
  const SequenceBlocks& b = manager_.blocks(seq);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = window_offset(b, layer, pos0 + i, seq);
    if (off >= 0) std::memcpy(window_.data.get() + off, kv + i * D_, size_t(D_) * 4);
  }
}

HostKvCache::Array& HostKvCache::entry_array(const LayerSlots& l, CacheRole role) {
  return l.ratio == 128 ? hca_kv_ : role == CacheRole::Indexer ? csa_keys_ : csa_kv_;
}
const HostKvCache::Array& HostKvCache::entry_array(const LayerSlots& l, CacheRole role) const {
  return l.ratio == 128 ? hca_kv_ : role == CacheRole::Indexer ? csa_keys_ : csa_kv_;
}

int64_t HostKvCache::entry_offset(const SequenceBlocks& b, const LayerSlots& l, CacheRole role, int64_t w,
                                  SequenceId seq, int layer) const {
  if (l.ratio == 0) fail("cache: layer {} has no compressed entries", layer);
  if (role == CacheRole::Indexer && l.ratio != 4) fail("cache: layer {} (ratio {}) has no indexer keys", layer, l.ratio);
  const int64_t per_block = l.ratio == 4 ? kEntriesPerCsaBlock : 1;
  const auto& table = b.tables[l.ratio == 4 ? csa_pool_ : hca_pool_];
  const int64_t blk = w / per_block;
  if (w < 0 || blk >= int64_t(table.size()) || table[size_t(blk)] < 0)
    fail("cache: sequence {} layer {}: entry {} outside its {} reserved tokens", seq, layer, w, b.tokens);
  const int64_t dim = role == CacheRole::Indexer ? Di_ : D_;
  const int64_t nl = l.ratio == 4 ? csa_layers_ : hca_layers_;
  const int64_t rank = l.ratio == 4 ? l.csa : l.hca;
  return ((int64_t(table[size_t(blk)]) * nl + rank) * per_block + w % per_block) * dim;
}

void HostKvCache::read_entries(SequenceId seq, int layer, CacheRole role, int64_t w0, int64_t n, float* out) const {
  const LayerSlots& l = layer_slots(layer);
  const SequenceBlocks& b = manager_.blocks(seq);
  const int64_t dim = role == CacheRole::Indexer ? Di_ : D_;
  const float* a = entry_array(l, role).data.get();
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * dim, a + entry_offset(b, l, role, w0 + i, seq, layer), size_t(dim) * 4);
}

void HostKvCache::write_entries(SequenceId seq, int layer, CacheRole role, int64_t w0, int64_t n, const float* e) {
  const LayerSlots& l = layer_slots(layer);
  const SequenceBlocks& b = manager_.blocks(seq);
  const int64_t dim = role == CacheRole::Indexer ? Di_ : D_;
  float* a = entry_array(l, role).data.get();
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(a + entry_offset(b, l, role, w0 + i, seq, layer), e + i * dim, size_t(dim) * 4);
}

int64_t HostKvCache::state_offset(const SequenceBlocks& b, const LayerSlots& l, CacheRole role, int layer) const {
  const int r = role == CacheRole::Indexer ? 1 : 0;
  if (l.state_offset[r] < 0) fail("cache: layer {} has no {} compressor", layer, r ? "indexer" : "attention");
  if (b.state_slot < 0 || int64_t(b.state_slot) * state_floats_ >= int64_t(state_.size))
    fail("cache: state slot {} outside the {} allocated", b.state_slot, state_floats_ ? state_.size / size_t(state_floats_) : 0);
  return int64_t(b.state_slot) * state_floats_ + l.state_offset[r];
}

void HostKvCache::read_compressor(SequenceId seq, int layer, CacheRole role, int64_t pos0, int64_t n, float* kv,
                                  float* gate) const {
  const LayerSlots& l = layer_slots(layer);
  const int64_t base = state_offset(manager_.blocks(seq), l, role, layer);
  const int64_t width = l.state_width[role == CacheRole::Indexer ? 1 : 0], ring = compressor_ring_tokens(l.ratio);
  for (int64_t i = 0; i < n; ++i) {
    if (pos0 + i < 0) fail("cache: compressor position {} is negative", pos0 + i);
    const int64_t slot = (pos0 + i) % ring;
    std::memcpy(kv + i * width, state_.data.get() + base + slot * width, size_t(width) * 4);
    std::memcpy(gate + i * width, state_.data.get() + base + (ring + slot) * width, size_t(width) * 4);
  }
}

void HostKvCache::write_compressor(SequenceId seq, int layer, CacheRole role, int64_t pos0, int64_t n, const float* kv,
                                   const float* gate) {
  const LayerSlots& l = layer_slots(layer);
  const int64_t base = state_offset(manager_.blocks(seq), l, role, layer);
  const int64_t width = l.state_width[role == CacheRole::Indexer ? 1 : 0], ring = compressor_ring_tokens(l.ratio);
  for (int64_t i = std::max<int64_t>(0, n - ring); i < n; ++i) {
    const int64_t slot = (pos0 + i) % ring;
    std::memcpy(state_.data.get() + base + slot * width, kv + i * width, size_t(width) * 4);
    std::memcpy(state_.data.get() + base + (ring + slot) * width, gate + i * width, size_t(width) * 4);
  }
}

}  // namespace dsv4
