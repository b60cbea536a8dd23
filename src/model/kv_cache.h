// The decode cache as the forward pass sees it (spec §11): per layer, pools of slots in the
// backend's memory (window K=V, compressed entries, indexer keys; backends/paged_ops.h says how a
// slot is laid out and addressed) and the compressors' rings, plus each sequence's block tables.
// The model owns this interface (as it owns the ops interface); cache/ implements it: the pools
// are allocated from the backend, and which block holds what is the CacheManager's bookkeeping,
// shared by every backend. Kernels read and write the pools in place through slots that the
// step plan (model/step_plan.h) computes from the tables.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backends/paged_ops.h"

namespace dsv4 {

using SequenceId = int64_t;

// The cache's geometry, shared by the step plan (model/) and the cache layout (cache/):
// blocks of 128 original tokens (the lcm of the compression ratios, and the sliding window), and
// the compressors' rings: position p in slot p mod compressor_ring_tokens(ratio). The reference
// keeps coff·c tokens (8 for ratio 4: the previous window's and the current one's; 128 for ratio
// 128); the ring keeps kCompressorRollbackTokens more so that a call of up to
// kCompressorRollbackTokens + 1 tokens (a speculative verify) can be rolled back to any of its
// positions without a snapshot.
inline constexpr int64_t kCacheBlockTokens = 128;
inline constexpr int64_t kCompressorRollbackTokens = 8;
inline constexpr int64_t compressor_ring_tokens(int ratio) {
  return (ratio == 4 ? 8 : int64_t(ratio)) + kCompressorRollbackTokens;
}

// Prefix caching resumes a sequence at a block boundary B (a multiple of 128). The ratio-128
// compressor starts a fresh window there; the ratio-4 (overlap) compressors need the projections
// of the previous window, positions B−4 .. B−1: the cache keeps them per window block (the ring
// "tail", KvPools::tail_*) while that block's positions are computed.
inline constexpr int64_t kCompressorTailTokens = 4;

// Which compressed vectors: attention entries (head_dim) or indexer keys (index_head_dim).
enum class CacheRole : uint8_t { Attention, Indexer };

// Pointers into backend memory, per layer index (decoder layers, then the MTP blocks).
struct KvPools {
  KvFormat kv_format = KvFormat::F32;
  KeyFormat key_format = KeyFormat::F32;
  std::vector<void*> window;   // window K=V slots (128 per block)
  std::vector<void*> entries;  // compressed K=V slots (128/ratio per block); null on SWA layers
  std::vector<void*> keys;     // indexer key slots (32 per block); null except on CSA layers
  // Compressor rings per layer and role: [state slots · R, W] floats, R = compressor_ring_tokens,
  // W = coff · D_c; null where the layer has no such compressor.
  std::vector<float*> ring_kv[2], ring_gate[2];
  // With prefix caching, per ratio-4 layer and role: the projections of the last
  // kCompressorTailTokens positions of every window block, [window blocks · 4, W] floats at row
  // block · 4 + (p mod 128 − 124); null otherwise. tail_rows = window blocks · 4 (0 without).
  std::vector<float*> tail_kv[2], tail_gate[2];
  int64_t tail_rows = 0;
  // Slots of each pool (bounds for the ops): window pools, entry / key pools per layer (0 where
  // absent), ring rows (state slots · R) per layer.
  int64_t window_slots = 0;
  std::vector<int64_t> entry_slots, key_slots, ring_rows;
};

// The blocks of one sequence: block ids by token block (128 tokens) per pool; -1 where a window
// block was released (slid out of the window).
struct SequenceTables {
  int32_t state_slot = -1;
  int64_t tokens = 0;
  std::span<const int32_t> window, csa, hca;
};

class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual const KvPools& pools() const = 0;
  virtual SequenceTables tables(SequenceId seq) const = 0;
};

}  // namespace dsv4
