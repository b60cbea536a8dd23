// The stages of attention (spec §7) shared by the prefill (attention.cpp) and the cached,
// chunked forward (cached_attention.cpp).
#pragma once

#include <cstdint>

#include "model/block_params.h"

namespace dsv4 {

// §7.1: qr [S, q_lora] = RMSNorm(x·wq_aᵀ; q_norm); q [S, H, D] per-head normed, RoPE at positions.
void query_path(const ForwardContext& ctx, const AttentionParams& p, const float* x, int64_t S,
                const int64_t* positions, Floats& qr, Floats& q);
// §7.2: window K=V [S, D] (normed, RoPE, official: FP8 fake-quant of the no-rope dims).
Floats window_kv(const ForwardContext& ctx, const AttentionParams& p, const float* x, int64_t S,
                 const int64_t* positions);
// §7.7: inverse RoPE of the core output o [S, H, D] (in place) at the query positions, grouped
// wo_a, wo_b. Returns [S, d].
Floats attention_output(const ForwardContext& ctx, const AttentionParams& p, Floats& o, int64_t S,
                        const int64_t* positions);

}  // namespace dsv4
