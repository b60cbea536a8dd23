// Attention of one layer (spec §7), prefill of S tokens at positions 0..S-1:
// query path → K=V window path → compressed entries (compressor, indexer on CSA layers) →
// one softmax with the per-head sink over window ∪ compressed keys → inverse RoPE at the query
// position → grouped wo_a → wo_b.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/block_params.h"

namespace dsv4 {

// The oracle (CPU backend, host memory): x [S, d] (attn-normed). Returns [S, d].
float* attention_prefill(const ForwardContext& ctx, const AttentionParams& p, const LayerSpec& spec,
                         std::string_view scope, const float* x, int64_t S, const int64_t* positions);

}  // namespace dsv4
