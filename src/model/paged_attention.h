// Attention of one layer over the paged decode cache (spec §7, §11), for every segment of a step
// at once (chunked prefill, decode S = 1, speculative verify; mixed in one call). Token-wise
// stages (query, window K=V, compressor and indexer projections, output projection) run on all
// tokens; the cache-side ops take the step plan's slots:
//   1. window K=V of the call → the window pool (and a staging copy the call's own queries read);
//   2. compressors: pool the windows that complete in this step (from the ring and the call),
//      norm / RoPE / quantize, store the entries (and, on CSA layers, the indexer keys); the
//      call's projections go into the ring;
//   3. CSA: the indexer's scores over the sequence's keys and top-k → the selected entry slots;
//      HCA: every visible entry;
//   4. sparse attention with the sink over window ∪ selected entries, inverse RoPE, wo_a, wo_b.
#pragma once

#include <cstdint>

#include "model/block_params.h"
#include "model/kv_cache.h"
#include "model/step_plan.h"

namespace dsv4 {

// x [T, d] (attn-normed). Returns [T, d] (workspace).
float* attention_paged(const ForwardContext& ctx, const AttentionParams& p, const LayerSpec& spec,
                       std::string_view scope, const float* x, const DevicePlan& plan, const KvPools& pools);

}  // namespace dsv4
