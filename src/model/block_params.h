// A decoder block's parameters prepared for the forward pass: the small tensors (norm weights,
// mHC fn/base/scale, sinks, ape, router bias) converted to fp32 once; the large matrices stay in
// their checkpoint formats (LinearWeight views, dequantized per tile inside the GEMM).
#pragma once

#include <string>

#include "model/forward_context.h"

namespace dsv4 {

struct HcParams {
  Floats fn, base, scale;
};

struct CompressorParams {
  int ratio = 0;        // 4 (overlapping A/B halves) or 128
  int64_t dim = 0;      // D_c: head_dim for attention, index_head_dim for the indexer
  LinearWeight wkv;     // [coff·D_c, d], BF16, used in fp32
  LinearWeight wgate;   // [coff·D_c, d]
  Floats ape;           // [ratio, coff·D_c]
  Floats norm;          // [D_c]
};

struct IndexerParams {
  const IndexerWeights* w = nullptr;
  LinearWeight weights_proj;  // [n_I, d] BF16
  CompressorParams compressor;
};

struct AttentionParams {
  const AttentionWeights* w = nullptr;
  Floats sink, q_norm, kv_norm;
  RopeFrequencies rope;
  bool has_compressor = false;
  CompressorParams compressor;
  bool has_indexer = false;
  IndexerParams indexer;
};

struct MoEParams {
  const MoEWeights* w = nullptr;
  LinearWeight gate;  // router [E, d] BF16, used in fp32
  Floats bias;        // [E] (non-hash layers), empty for hash layers
};

struct BlockParams {
  const LayerSpec* spec = nullptr;
  std::string scope;  // "layer<L>" or "mtp" (recorder scope)
  Floats attn_norm, ffn_norm;
  HcParams hc_attn, hc_ffn;
  AttentionParams attn;
  MoEParams moe;
};

BlockParams prepare_block(const ModelConfig& config, const LayerSpec& spec, const BlockWeights& w, std::string scope);
HcParams prepare_hc(const HyperConnectionWeights& w);

}  // namespace dsv4
