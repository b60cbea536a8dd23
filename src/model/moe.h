// MoE FFN (spec §8): Gate → routed Experts on the rows routed to them (ascending expert id,
// accumulated in fp32) → plus the shared Expert.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/block_params.h"

namespace dsv4 {

// x [S, d] (ffn-normed), token_ids [S] (needed by hash-routed layers). Returns [S, d].
Floats moe_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                   const float* x, int64_t S, const int64_t* token_ids);

}  // namespace dsv4
