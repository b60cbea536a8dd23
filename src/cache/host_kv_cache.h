// KvCache in host memory (the CPU backend): one fp32 array per pool indexed by block id, laid
// out [block][layer of the pool][vector of the block][dim], plus one state slot per sequence.
// Vectors are stored in fp32 (the reference's bf16/FP8-exact values are representable), so the
// arrays are larger than the layout's byte counts, which describe the compact formats; the
// arrays are reserved, not touched, so host memory grows with what is actually written.
#pragma once

#include <memory>
#include <vector>

#include "cache/cache_manager.h"
#include "model/kv_cache.h"
#include "model/config.h"

namespace dsv4 {

class HostKvCache final : public KvCache {
 public:
  // `manager` must outlive the cache; its layout must come from `config`.
  HostKvCache(const ModelConfig& config, const CacheManager& manager, int32_t max_sequences);

  void read_window(SequenceId seq, int layer, int64_t pos0, int64_t n, float* out) const override;
  void write_window(SequenceId seq, int layer, int64_t pos0, int64_t n, const float* kv) override;
  void read_entries(SequenceId seq, int layer, CacheRole role, int64_t w0, int64_t n, float* out) const override;
  void write_entries(SequenceId seq, int layer, CacheRole role, int64_t w0, int64_t n, const float* e) override;
  void read_compressor(SequenceId seq, int layer, CacheRole role, int64_t pos0, int64_t n, float* kv,
                       float* gate) const override;
  void write_compressor(SequenceId seq, int layer, CacheRole role, int64_t pos0, int64_t n, const float* kv,
                        const float* gate) override;

  uint64_t host_bytes() const;

 private:
  struct LayerSlots {
    int ratio = 0;
    int csa = -1, hca = -1;  // rank among the pool's layers
    int64_t state_offset[2] = {-1, -1};  // floats into a state slot, per role
    int64_t state_width[2] = {0, 0};     // coff·D_c per role
  };
  const LayerSlots& layer_slots(int layer) const;
  // Float offset of window vector `pos` / entry `w` in its pool array; state slot offset.
  int64_t window_offset(const SequenceBlocks& b, int layer, int64_t pos, SequenceId seq) const;
  int64_t entry_offset(const SequenceBlocks& b, const LayerSlots& l, CacheRole role, int64_t w, SequenceId seq,
                       int layer) const;
  // A lazily backed array (pages untouched until written; reads only ever see written vectors).
  struct Array {
    std::unique_ptr<float[]> data;
    size_t size = 0;
    void allocate(size_t n) {
      data.reset(new float[n]);
      size = n;
    }
  };
  Array& entry_array(const LayerSlots& l, CacheRole role);
  const Array& entry_array(const LayerSlots& l, CacheRole role) const;
  int64_t state_offset(const SequenceBlocks& b, const LayerSlots& l, CacheRole role, int layer) const;

  const ModelConfig& config_;
  const CacheManager& manager_;
  int64_t D_ = 0, Di_ = 0;
  int window_layers_ = 0, csa_layers_ = 0, hca_layers_ = 0;
  size_t csa_pool_ = 0, hca_pool_ = 0;
  std::vector<LayerSlots> layers_;
  int64_t state_floats_ = 0;
  Array window_, csa_kv_, csa_keys_, hca_kv_, state_;
};

}  // namespace dsv4

namespace dsv4 {

// The bookkeeping and the host storage of one cache, sized from a memory budget (the budget
// counts the layout's compact formats; the host arrays are fp32, see above).
struct HostCache {
  CacheLayout layout;
  CachePlan plan;
  CacheManager manager;
  HostKvCache storage;
  HostCache(const ModelConfig& config, uint64_t budget_bytes, int32_t max_sequences)
      : layout(CacheLayout::from_config(config, CacheFormat::Reference)),
        plan(plan_cache(layout, budget_bytes, max_sequences)),
        manager(layout, plan),
        storage(config, manager, max_sequences) {}
};

}  // namespace dsv4
