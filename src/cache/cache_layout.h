// What the decode cache of one sequence holds (spec §11), cut into blocks of 128 original tokens
// (the lcm of the compression ratios, and the sliding window), and how many blocks of each pool
// a memory budget buys.
//
// Pools (one block id addresses the same 128 tokens in every layer of the pool):
//   window — raw K=V vectors of 128 tokens, every layer (MTP included). The sliding window of a
//            sequence lies in its last two blocks; older blocks are released (or kept when a
//            prefix cache shares them).
//   csa    — per ratio-4 layer: 32 compressed entries and 32 indexer keys.
//   hca    — per ratio-128 layer: 1 compressed entry.
// Plus one fixed-size state slot per live sequence: the compressors' partial windows (fp32).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"  // kCacheBlockTokens, compressor_ring_tokens

namespace dsv4 {

// Window blocks a sequence keeps between calls: the two that hold its sliding window and one more
// so that a speculative rollback can step back across a block boundary.
inline constexpr int64_t kWindowBlocksLive = 3;
// Window blocks a sequence may hold at once (what the pool is sized for): an extension keeps the
// live blocks of the old end until the next one, so a chunk of any length reads its start's
// window from the cache while the blocks of its own end are allocated.
inline constexpr int64_t kWindowBlocksPerSequence = 2 * kWindowBlocksLive;

// Element storage of cached vectors.
enum class CacheFormat : uint8_t {
  Reference,  // fp32 K=V vectors and indexer keys (the CPU reference backend, exact numerics)
  Fp8,        // 584-byte FP8 "ds_mla" K=V vectors and MXFP4 indexer keys (official numerics)
};

struct CachePoolSpec {
  std::string name;
  int layers = 0;              // layers stored in each block
  uint64_t bytes_per_block = 0;
};

struct CacheLayout {
  CacheFormat format = CacheFormat::Reference;
  std::vector<CachePoolSpec> pools;  // window, csa, hca (empty pools omitted)
  uint64_t state_bytes_per_sequence = 0;
  // Prefix caching: window blocks also carry the ratio-4 compressors' tails (model/kv_cache.h),
  // and the plan gives a quarter of the budget to window blocks kept as resume points.
  bool prefix_caching = false;

  static CacheLayout from_config(const ModelConfig& config, CacheFormat format, bool prefix_caching = false);
  const CachePoolSpec* pool(const std::string& name) const;
};

// Block counts chosen for a memory budget.
struct CachePlan {
  int32_t max_sequences = 0;
  std::vector<int32_t> pool_blocks;  // parallel to CacheLayout::pools
  uint64_t bytes = 0;                // what the plan uses (<= budget)
  int64_t max_total_tokens = 0;      // tokens the compressed pools can hold across all sequences
};

// Sizes the pools: state slots and kWindowBlocksPerSequence window blocks per sequence first,
// the rest split so the compressed pools hold the same number of blocks. Throws when the budget
// cannot hold max_sequences sequences of one block each.
CachePlan plan_cache(const CacheLayout& layout, uint64_t budget_bytes, int32_t max_sequences);

// The smallest budget whose plan holds `sequences` sequences of `tokens` tokens each.
uint64_t cache_bytes_for(const CacheLayout& layout, int64_t tokens, int32_t sequences);

}  // namespace dsv4
