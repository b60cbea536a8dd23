// Attention of one layer over the decode cache (spec §7, §11): a batch of segments, each S tokens
// of one sequence starting at position p0 (chunked prefill, decode S = 1, speculative verify).
// Token-wise stages (query, window K=V, compressor/indexer projections, output projection) run
// on the concatenated tokens; per segment the keys are
//   [ window K=V of positions max(0, p0-W+1) .. p0-1 from the cache | the call's K=V |
//     every compressed entry of the sequence (cached, then emitted by this call) ]
// and the gather indices are those of the prefill (§7.5). The call writes its K=V, the emitted
// entries / indexer keys and the compressor partial state into the cache.
#pragma once

#include <cstdint>
#include <vector>

#include "model/kv_cache.h"
#include "model/block_params.h"

namespace dsv4 {

struct SegmentSpan {
  SequenceId seq = 0;
  int64_t start = 0;   // position of the first token
  int64_t offset = 0;  // row of the first token in the concatenated batch
  int64_t length = 0;
};

// x [T, d] (attn-normed, T = Σ lengths), positions [T]. Returns [T, d].
Floats attention_cached(const ForwardContext& ctx, const AttentionParams& p, const LayerSpec& spec,
                        const float* x, int64_t T, const int64_t* positions, const std::vector<SegmentSpan>& segments,
                        KvCache& cache);

}  // namespace dsv4
