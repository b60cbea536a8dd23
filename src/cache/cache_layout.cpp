#include "cache/cache_layout.h"

#include <algorithm>

#include "core/error.h"

namespace dsv4 {

namespace {

uint64_t kv_vector_bytes(const ModelConfig& c, CacheFormat f) {
  if (f == CacheFormat::Reference) return uint64_t(c.head_dim) * 4;  // fp32
  const uint64_t nope = uint64_t(c.nope_head_dim()), rope = uint64_t(c.rope_head_dim);
  return (nope + rope * 2 + nope / 64 + 7) / 8 * 8;  // 584 for 448 + 64
}

uint64_t index_key_bytes(const ModelConfig& c, CacheFormat f) {
  const uint64_t d = uint64_t(c.index_head_dim);
  return f == CacheFormat::Reference ? d * 4 : (d / 2 + d / 32 + 7) / 8 * 8;
}

}  // namespace

CacheLayout CacheLayout::from_config(const ModelConfig& c, CacheFormat format, bool prefix_caching) {
  CacheLayout l;
  l.format = format;
  l.prefix_caching = prefix_caching;
  uint64_t tail_bytes = 0;  // per window block
  int n_all = 0, n_csa = 0, n_hca = 0;
  for (const LayerSpec& s : c.layers) {
    ++n_all;
    const uint64_t hd = uint64_t(c.head_dim), ci = uint64_t(c.index_head_dim);
    if (s.compress_ratio == 4) {
      ++n_csa;
      // attention compressor: ring x 2·D_c fp32, kv + gate; indexer compressor likewise with c_I.
      const uint64_t ring = uint64_t(compressor_ring_tokens(4));
      l.state_bytes_per_sequence += ring * 2 * hd * 4 * 2 + ring * 2 * ci * 4 * 2;
      if (prefix_caching) tail_bytes += uint64_t(kCompressorTailTokens) * (2 * hd + 2 * ci) * 4 * 2;
    } else if (s.compress_ratio == 128) {
      ++n_hca;
      l.state_bytes_per_sequence += uint64_t(compressor_ring_tokens(128)) * hd * 4 * 2;
    }
  }
  const uint64_t kv = kv_vector_bytes(c, format);
  l.pools.push_back({"window", n_all, uint64_t(n_all) * kCacheBlockTokens * kv + tail_bytes});
  if (n_csa > 0)
    l.pools.push_back({"csa", n_csa, uint64_t(n_csa) * (kCacheBlockTokens / 4) * (kv + index_key_bytes(c, format))});
  if (n_hca > 0) l.pools.push_back({"hca", n_hca, uint64_t(n_hca) * (kCacheBlockTokens / 128) * kv});
  return l;
}

const CachePoolSpec* CacheLayout::pool(const std::string& name) const {
  for (const auto& p : pools)
    if (p.name == name) return &p;
  return nullptr;
}

CachePlan plan_cache(const CacheLayout& layout, uint64_t budget, int32_t max_sequences) {
  if (max_sequences <= 0) fail("cache plan: max_sequences must be positive, got {}", max_sequences);
  CachePlan plan;
  plan.max_sequences = max_sequences;
  uint64_t fixed = layout.state_bytes_per_sequence * uint64_t(max_sequences);
  uint64_t per_block_compressed = 0;
  for (const auto& p : layout.pools) {
    if (p.name == "window")
      fixed += uint64_t(kWindowBlocksPerSequence) * uint64_t(max_sequences) * p.bytes_per_block;
    else
      per_block_compressed += p.bytes_per_block;
  }
  const uint64_t one_block_each = fixed + per_block_compressed * uint64_t(max_sequences);
  if (budget < one_block_each)
    fail("cache budget {} bytes is too small: {} sequences need at least {} bytes (state slots, window blocks "
         "and one block of each compressed pool per sequence)",
         budget, max_sequences, one_block_each);
  uint64_t rest = budget - fixed;
  int32_t resume_blocks = 0;  // prefix caching: window blocks beyond the live ones
  if (layout.prefix_caching) {
    const uint64_t window_block = layout.pools[0].bytes_per_block;
    resume_blocks = int32_t(std::min<uint64_t>(rest / 4 / window_block, uint64_t(INT32_MAX / 4)));
    rest -= uint64_t(resume_blocks) * window_block;
  }
  const uint64_t blocks = per_block_compressed == 0 ? uint64_t(max_sequences) * 1024 : rest / per_block_compressed;
  const int32_t n = int32_t(std::min<uint64_t>(blocks, uint64_t(INT32_MAX / 2)));
  plan.bytes = fixed;
  for (const auto& p : layout.pools) {
    const int32_t count = p.name == "window" ? int32_t(kWindowBlocksPerSequence) * max_sequences + resume_blocks : n;
    plan.pool_blocks.push_back(count);
    if (p.name != "window") plan.bytes += uint64_t(count) * p.bytes_per_block;
    else plan.bytes += uint64_t(resume_blocks) * p.bytes_per_block;
  }
  plan.max_total_tokens = int64_t(n) * kCacheBlockTokens;
  return plan;
}

uint64_t cache_bytes_for(const CacheLayout& layout, int64_t tokens, int32_t sequences) {
  const uint64_t blocks = uint64_t((std::max<int64_t>(tokens, 1) + kCacheBlockTokens - 1) / kCacheBlockTokens);
  uint64_t bytes = layout.state_bytes_per_sequence * uint64_t(sequences);
  for (const auto& p : layout.pools)
    bytes += p.bytes_per_block * uint64_t(sequences) * (p.name == "window" ? uint64_t(kWindowBlocksPerSequence) : blocks);
  return bytes;
}

}  // namespace dsv4
