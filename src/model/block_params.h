// A decoder block's parameters prepared for the forward pass in the backend's memory: the small
// tensors (norm weights, mHC fn/base/scale, sinks, ape, router bias, RoPE tables) as fp32 once;
// the large matrices in their checkpoint formats (LinearWeights whose views the backend owns —
// on the CPU the mmapped checkpoint itself).
#pragma once

#include <string>
#include <vector>

#include "model/forward_context.h"

namespace dsv4 {

struct HcParams {
  const float* fn = nullptr;
  const float* base = nullptr;
  const float* scale = nullptr;
};

struct CompressorParams {
  int ratio = 0;              // 4 (overlapping A/B halves) or 128
  int64_t dim = 0;            // D_c: head_dim for attention, index_head_dim for the indexer
  LinearWeight wkv;           // [coff·D_c, d], BF16, used in fp32
  LinearWeight wgate;         // [coff·D_c, d]
  const float* ape = nullptr;   // [ratio, coff·D_c]
  const float* norm = nullptr;  // [D_c]
  int64_t width() const { return wkv.out; }  // coff·D_c
};

struct IndexerParams {
  LinearWeight wq_b;          // FP8 [n_I·c_I, q_lora]
  LinearWeight weights_proj;  // [n_I, d] BF16
  CompressorParams compressor;
};

struct AttentionParams {
  int64_t heads = 0;   // query heads held here (all H, or a tensor-parallel share: model/parallel.h)
  int64_t groups = 0;  // the output groups they make up (o_groups, or a share)
  LinearWeight wq_a, wq_b, wkv, wo_a, wo_b;  // wq_b rows, wo_a rows, wo_b columns: the heads' share
  const float* sink = nullptr;  // [heads]
  const float* q_norm = nullptr;
  const float* kv_norm = nullptr;
  RopeTable rope;
  bool has_compressor = false;
  CompressorParams compressor;
  bool has_indexer = false;
  IndexerParams indexer;
};

struct MoEParams {
  LinearWeight gate;              // router [E, d] BF16, used in fp32
  const float* bias = nullptr;    // [E] (non-hash layers), null for hash layers
  TensorView tid2eid;             // I64 [vocab, k] (hash layers)
  std::vector<ExpertWeights> experts;  // the routed experts held here: expert0, expert0 + 1, ...
  int64_t expert0 = 0;                 // (expert parallelism: a contiguous share, model/parallel.h)
  int64_t experts_total = 0;           // the layer's routed experts
  bool has_shared = false;
  ExpertWeights shared;
};

struct BlockParams {
  const LayerSpec* spec = nullptr;
  std::string scope;  // "layer<L>" or "mtp" (recorder scope)
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  HcParams hc_attn, hc_ffn;
  AttentionParams attn;
  MoEParams moe;
};

// With `parallel`, the routed experts are this rank's share (w holds only those: bind_weights'
// WeightShare) and, under tensor-parallel experts, each is cut to the rank's intermediate slice.
BlockParams prepare_block(const ModelConfig& config, const LayerSpec& spec, const BlockWeights& w, std::string scope,
                          ParamStore& store, const Parallel* parallel = nullptr);
HcParams prepare_hc(const HyperConnectionWeights& w, ParamStore& store);

}  // namespace dsv4
