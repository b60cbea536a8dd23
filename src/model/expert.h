// Expert (spec §8.3, §8.4): SwiGLU with the clamp (gate <= limit, |up| <= limit) on routed and
// shared experts alike; a routed expert's routing weight multiplies the activation before w2.
#pragma once

#include <cstdint>

#include "model/forward_context.h"

namespace dsv4 {

// y[M, d] = w2( silu(min(x·w1ᵀ, L)) · clamp(x·w3ᵀ, ±L) · row_weight ); row_weight null = 1.
void expert_forward(const ForwardContext& ctx, const ExpertWeights& e, const float* x, int64_t M,
                    const float* row_weight, float* y);

}  // namespace dsv4
