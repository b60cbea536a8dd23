// Lightning indexer (spec §7.4, CSA layers): scores every complete compressed entry for each query
// (Σ_h w_h·ReLU(q_h·k)), masks entries that are not complete yet for that query, and selects the
// top-k (−1 = not visible).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "model/block_params.h"

namespace dsv4 {

// The query side (§7.4): q [S, n_I, c_I] (RoPE, official: Hadamard + FP4) and the head weights
// wts [S, n_I] (scaled by c_I^-1/2 · n_I^-1/2), from the workspace.
struct IndexerQuery {
  float* q = nullptr;
  float* wts = nullptr;
};
IndexerQuery indexer_query(const ForwardContext& ctx, const IndexerParams& p, const RopeTable& rope, const float* qr,
                           const float* x, int64_t S, const int64_t* positions);

// Oracle (prefill from position 0, host memory). qr [S, q_lora], x [S, d], positions [S].
struct IndexerSelection {
  int64_t k = 0;                // min(index_topk, entries)
  std::vector<int32_t> sel;     // [S, k] entry indices, descending score, −1 = invalid
};
IndexerSelection indexer_prefill(const ForwardContext& ctx, const IndexerParams& p, const RopeTable& rope,
                                 std::string_view scope, const float* qr, const float* x, int64_t S,
                                 const int64_t* positions);

}  // namespace dsv4
