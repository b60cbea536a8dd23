// Lightning indexer (spec §7.4, CSA layers): scores every complete compressed entry for each query
// (Σ_h w_h·ReLU(q_h·k)), masks entries that are not complete yet for that query, and selects the
// top-k (−1 = not visible).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "model/block_params.h"

namespace dsv4 {

struct IndexerSelection {
  int64_t k = 0;                // min(index_topk, entries)
  std::vector<int32_t> sel;     // [S, k] entry indices, descending score, −1 = invalid
};

// qr [S, q_lora] (normed low-rank query), x [S, d] (attn-normed input), positions [S].
IndexerSelection indexer_prefill(const ForwardContext& ctx, const IndexerParams& p, const RopeFrequencies& rope,
                                 std::string_view scope, const float* qr, const float* x, int64_t S,
                                 const int64_t* positions);

}  // namespace dsv4
