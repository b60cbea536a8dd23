// The stages of attention (spec §7) shared by the prefill oracle (attention.cpp) and the paged,
// batched forward (paged_attention.cpp). Buffers come from the workspace; positions [S] are in
// backend memory.
#pragma once

#include <cstdint>

#include "model/block_params.h"

namespace dsv4 {

struct QueryPath {
  float* qr = nullptr;  // [S, q_lora] RMSNorm(x·wq_aᵀ; q_norm)
  float* q = nullptr;   // [S, H, D] per-head normed, RoPE at the positions
};
// §7.1
QueryPath query_path(const ForwardContext& ctx, const AttentionParams& p, const float* x, int64_t S,
                     const int64_t* positions);
// §7.2: window K=V [S, D] (normed, RoPE, official: FP8 fake-quant of the no-rope dims).
float* window_kv(const ForwardContext& ctx, const AttentionParams& p, const float* x, int64_t S,
                 const int64_t* positions);
// §7.7: inverse RoPE of the core output o [S, H, D] (in place) at the query positions, grouped
// wo_a, wo_b. Returns [S, d].
float* attention_output(const ForwardContext& ctx, const AttentionParams& p, float* o, int64_t S,
                        const int64_t* positions);

}  // namespace dsv4
