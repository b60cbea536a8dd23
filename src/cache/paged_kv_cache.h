// The decode cache's storage in the backend's memory (CPU: host arrays; CUDA: device pools): per
// layer, the window slots, the compressed entries and indexer keys (by the CacheManager's block
// ids), and the compressor rings (by state slot), laid out as backends/paged_ops.h says. The
// forward pass reads and writes it in place through the step plan's slots.
#pragma once

#include <memory>
#include <vector>

#include "backends/ops.h"
#include "cache/cache_manager.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace dsv4 {

class PagedKvCache final : public KvCache {
 public:
  // `manager` and `ops` must outlive the cache; the layout's format picks the slot formats
  // (Reference: fp32 vectors and keys; Fp8: the 584-byte ds_mla vectors and MXFP4 keys).
  PagedKvCache(const ModelConfig& config, const CacheManager& manager, Ops& ops);
  ~PagedKvCache() override;
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

  const KvPools& pools() const override { return pools_; }
  SequenceTables tables(SequenceId seq) const override;
  // A sequence admitted on a prefix-cache hit (CacheManager::admit_cached) resumes at its length
  // B: copies the ratio-4 compressors' state at B (positions B−4 .. B−1) from the tail of the
  // window block before B into the sequence's rings. No-op at B = 0.
  void restore_compressor_state(SequenceId seq);
  // Bytes of backend memory the pools hold.
  uint64_t bytes() const { return bytes_; }

  // Reads back (tests, the drift tool): the window vector of `pos`, compressed entry / indexer
  // key `w` of `layer` for `seq`, decoded to fp32 (false when its block slid out or is absent).
  bool read_window(SequenceId seq, int layer, int64_t pos, float* out) const;
  bool read_entry(SequenceId seq, int layer, CacheRole role, int64_t w, float* out) const;

 private:
  void* allocate(uint64_t bytes);
  const ModelConfig& config_;
  const CacheManager& manager_;
  Ops& ops_;
  KvPools pools_;
  std::vector<int> ratio_;  // per layer
  int csa_pool_ = -1, hca_pool_ = -1;
  std::vector<void*> owned_;
  uint64_t bytes_ = 0;
};

// The bookkeeping and the storage of one cache, sized from a memory budget.
struct Cache {
  CacheLayout layout;
  CachePlan plan;
  CacheManager manager;
  PagedKvCache storage;
  Cache(const ModelConfig& config, Ops& ops, uint64_t budget_bytes, int32_t max_sequences, CacheFormat format,
        PrefixCaching prefix = {})
      : layout(CacheLayout::from_config(config, format, prefix.enabled)),
        plan(plan_cache(layout, budget_bytes, max_sequences)),
        manager(layout, plan, prefix),
        storage(config, manager, ops) {}
  // The CPU reference's cache (fp32 slots, host memory).
  Cache(const ModelConfig& config, uint64_t budget_bytes, int32_t max_sequences);
};

}  // namespace dsv4
