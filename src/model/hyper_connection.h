// HyperConnection (mHC, spec §6) in the model's terms: pre collapses the n residual streams into
// one sub-layer input and yields the post/comb mixing for this token; post writes the sub-layer
// output back into n streams; head is the final collapse before the output norm.
#pragma once

#include <cstdint>

#include "model/block_params.h"

namespace dsv4 {

HcShape hc_shape(const ModelConfig& config);

struct HcMix {
  float* post = nullptr;  // [S, n]
  float* comb = nullptr;  // [S, n, n] (Sinkhorn-projected)
};

// X [S, n, d] -> collapsed input [S, d] (from the workspace); mix receives post/comb.
float* hc_pre(const ForwardContext& ctx, const HcParams& p, const float* X, int64_t S, HcMix& mix);
// Xout [S, n, d] = post·f + combᵀ·X (Xout may not alias X; null: from the workspace). Returns Xout.
float* hc_post(const ForwardContext& ctx, const float* f, const HcMix& mix, const float* X, int64_t S,
               float* Xout = nullptr);
// X [S, n, d] -> [S, d]
float* hc_head(const ForwardContext& ctx, const HcParams& p, const float* X, int64_t S);

}  // namespace dsv4
