// MoE FFN (spec §8.1-§8.4): Gate (sqrt-softplus router with selection-only bias, or tid2eid hash
// routing), routed Experts (clamped SwiGLU, routing weight applied before w2, accumulated in fp32
// in ascending expert order), plus the clamped shared Expert.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/block_params.h"

namespace dsv4 {

// x [S, d] (ffn-normed), token_ids [S] (needed by hash-routed layers). Returns [S, d].
Floats moe_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                   const float* x, int64_t S, const int64_t* token_ids);

// One SwiGLU expert on M rows: y[M, d] = w2(clamped silu(w1 x) · (w3 x) · row_weight).
void expert_forward(const ForwardContext& ctx, const ExpertWeights& e, const float* x, int64_t M,
                    const float* row_weight, float* y);

}  // namespace dsv4
