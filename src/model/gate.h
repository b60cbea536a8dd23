// Gate (spec §8.1, §8.2): the MoE router. Non-hash layers: sqrt(softplus(x·gateᵀ)), top-k of the
// scores plus the selection-only bias. Hash layers: the experts are tid2eid[token]. Either way the
// weights are the chosen scores renormalised, times routed_scaling_factor.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "model/block_params.h"

namespace dsv4 {

struct Routing {
  int64_t k = 0;
  Floats scores;             // [S, E] sqrt(softplus(logits)), before the bias
  std::vector<int32_t> ids;  // [S, k] chosen experts (hash layers: tid2eid row order)
  Floats weights;            // [S, k]
};

// x [S, d] (ffn-normed); token_ids [S] (read by hash-routed layers only).
Routing gate_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                     const float* x, int64_t S, const int64_t* token_ids);

}  // namespace dsv4
