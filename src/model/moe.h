// MoE FFN (spec §8): Gate → the routed Experts on the rows routed to them (one grouped op over
// all experts) → plus the shared Expert. Over several ranks (model/parallel.h) the gate runs on
// every rank, the grouped op over the rank's experts (or slices), and their outputs are summed
// over the group before the shared expert is added.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/block_params.h"

namespace dsv4 {

// x [S, d] (ffn-normed), token_ids [S] in backend memory (hash-routed layers). Returns [S, d].
float* moe_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                   const float* x, int64_t S, const int64_t* token_ids);

}  // namespace dsv4
