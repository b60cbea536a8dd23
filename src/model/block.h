// A decoder block (spec §5): mHC pre → attn_norm → Attention → mHC post → mHC pre → ffn_norm →
// MoE → mHC post. There is no plain residual add; the n streams carry the residual.
#pragma once

#include <cstdint>
#include <functional>

#include "model/block_params.h"

namespace dsv4 {

// X [S, n, d] is replaced by the block's output streams. positions [S], token_ids [S].
void block_forward(const ForwardContext& ctx, const BlockParams& b, Floats& X, int64_t S, const int64_t* positions,
                   const int64_t* token_ids);

// The same block with the attention sub-layer supplied by the caller (the cached, chunked
// forward): attention(x) maps the attn-normed input [S, d] to [S, d].
using AttentionFn = std::function<Floats(const float* x)>;
void block_forward_with(const ForwardContext& ctx, const BlockParams& b, Floats& X, int64_t S,
                        const int64_t* token_ids, const AttentionFn& attention);

}  // namespace dsv4
