// Gate (spec §8.1, §8.2): the MoE router. Non-hash layers: sqrt(softplus(x·gateᵀ)), top-k of the
// scores plus the selection-only bias. Hash layers: the experts are tid2eid[token]. Either way the
// weights are the chosen scores renormalised, times routed_scaling_factor.
#pragma once

#include <cstdint>
#include <string_view>

#include "model/block_params.h"

namespace dsv4 {

struct Routing {
  int64_t k = 0;
  float* scores = nullptr;   // [S, E] sqrt(softplus(logits)), before the bias
  int32_t* ids = nullptr;    // [S, k] chosen experts (hash layers: tid2eid row order)
  float* weights = nullptr;  // [S, k]
};

// x [S, d] (ffn-normed); token_ids [S] in backend memory (read by hash-routed layers only).
Routing gate_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                     const float* x, int64_t S, const int64_t* token_ids);

}  // namespace dsv4
