// A decoder block (spec §5): mHC pre → attn_norm → Attention → mHC post → mHC pre → ffn_norm →
// MoE → mHC post. There is no plain residual add; the n streams carry the residual.
#pragma once

#include <cstdint>

#include "model/block_params.h"

namespace dsv4 {

// X [S, n, d] is replaced by the block's output streams. positions [S], token_ids [S].
void block_forward(const ForwardContext& ctx, const BlockParams& b, Floats& X, int64_t S, const int64_t* positions,
                   const int64_t* token_ids);

}  // namespace dsv4
