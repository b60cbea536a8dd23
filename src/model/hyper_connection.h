// HyperConnection (mHC, spec §6) in the model's terms: pre collapses the n residual streams into
// one sub-layer input and yields the post/comb mixing for this token; post writes the sub-layer
// output back into n streams; head is the final collapse before the output norm.
#pragma once

#include <cstdint>

#include "model/block_params.h"

namespace dsv4 {

HcShape hc_shape(const ModelConfig& config);

struct HcMix {
  Floats post;  // [S, n]
  Floats comb;  // [S, n, n] (Sinkhorn-projected)
};

// X [S, n, d] -> collapsed input [S, d]; mix receives post/comb.
Floats hc_pre(const ForwardContext& ctx, const HcParams& p, const Floats& X, int64_t S, HcMix& mix);
// X <- post·f + combᵀ·X
void hc_post(const ForwardContext& ctx, const Floats& f, const HcMix& mix, Floats& X, int64_t S);
// X [S, n, d] -> [S, d]
Floats hc_head(const ForwardContext& ctx, const HcParams& p, const Floats& X, int64_t S);

}  // namespace dsv4
