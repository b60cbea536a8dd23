// Sizes a user wants to know before loading a model: parameter counts (total and active per
// token), weight bytes per dtype, and the decode cache's memory per 1K tokens of context.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace dsv4 {

struct ParameterCounts {
  uint64_t total = 0;       // main model: embedding, head and every layer (MTP excluded)
  uint64_t active = 0;      // per token: routed experts counted k/E
  uint64_t routed = 0;      // routed-expert parameters of the main model
  uint64_t mtp = 0;         // the MTP block(s)
  uint64_t mtp_active = 0;
};

// Counts parameters from tensor declarations: scale tensors and integer tables are not
// parameters; packed FP4 bytes hold two parameters each.
ParameterCounts count_parameters(const ModelConfig& config, const std::vector<TensorSpec>& tensors);

struct DTypeBytes {
  std::map<std::string, uint64_t> bytes;    // by dtype name
  std::map<std::string, uint64_t> tensors;  // tensor count by dtype name
  uint64_t total = 0;
};
DTypeBytes bytes_by_dtype(const std::vector<TensorSpec>& tensors);

// Decode-cache memory of one sequence (spec §11), in two layouts: the reference's (bf16 vectors,
// fp32 compressor state) and the production one (FP8 "ds_mla" 584-byte KV vectors, MXFP4
// indexer keys: 64 bytes + 4 scale bytes per 128-vector).
struct CacheEstimate {
  uint64_t per_1k_tokens_bf16 = 0;  // compressed entries + indexer keys per 1024 tokens
  uint64_t per_1k_tokens_fp8 = 0;
  uint64_t fixed_bf16 = 0;          // per sequence, independent of length: window rings + compressor state
  uint64_t fixed_fp8 = 0;
};
CacheEstimate estimate_cache(const ModelConfig& config);

// The checkpoint's tensors as declarations (for counting a real checkpoint).
std::vector<TensorSpec> tensor_specs(const Checkpoint& ckpt);

}  // namespace dsv4
