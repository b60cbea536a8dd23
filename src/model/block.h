// A decoder block (spec §5): mHC pre → attn_norm → Attention → mHC post → mHC pre → ffn_norm →
// MoE → mHC post. There is no plain residual add; the n streams carry the residual.
#pragma once

#include <cstdint>
#include <functional>

#include "model/block_params.h"

namespace dsv4 {

// The attention sub-layer: maps the attn-normed input x [S, d] to [S, d] (workspace memory).
using AttentionFn = std::function<float*(const float* x)>;

// Xout [S, n, d] = the block's output streams for the input streams X [S, n, d] (Xout may not
// alias X). token_ids [S] in backend memory (hash routing). Workspace requests made inside are
// given back before it returns.
void block_forward(const ForwardContext& ctx, const BlockParams& b, const float* X, int64_t S,
                   const int64_t* token_ids, const AttentionFn& attention, float* Xout);

}  // namespace dsv4
