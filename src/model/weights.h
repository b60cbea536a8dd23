// Model weights bound by their real checkpoint names (spec §10.2), in their checkpoint formats.
//
// Binding checks every tensor's dtype and shape against the config and reports all missing,
// mistyped and unexpected tensors at once. Views point into the mmapped checkpoint: nothing is
// read or copied here, so binding a 160 GB checkpoint touches only its headers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/linear_weight.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "model/config.h"

namespace dsv4 {

// Reads a 1-D/2-D BF16 or F32 tensor into fp32.
std::vector<float> to_f32(const TensorView& t);

struct HyperConnectionWeights {
  TensorView fn;     // F32 [(2+n)n, n·d] (hc_head: [n, n·d])
  TensorView base;   // F32 [(2+n)n]      (hc_head: [n])
  TensorView scale;  // F32 [3]           (hc_head: [1])
};

struct CompressorWeights {
  int ratio = 0;        // 4 (overlapping, coff = 2) or 128 (coff = 1)
  int head_dim = 0;     // D_c: 512 for attention, index_head_dim for the indexer
  TensorView wkv;       // BF16 [coff·D_c, d]
  TensorView wgate;     // BF16 [coff·D_c, d]
  TensorView ape;       // F32  [ratio, coff·D_c]
  TensorView norm;      // BF16 [D_c]
};

struct IndexerWeights {
  LinearWeight wq_b;         // FP8 [n_I·c_I, q_lora]
  TensorView weights_proj;   // BF16 [n_I, d]
  CompressorWeights compressor;
};

struct AttentionWeights {
  TensorView attn_sink;  // F32 [H]
  TensorView q_norm;     // BF16 [q_lora]
  TensorView kv_norm;    // BF16 [head_dim]
  LinearWeight wq_a;     // FP8 [q_lora, d]
  LinearWeight wq_b;     // FP8 [H·head_dim, q_lora]
  LinearWeight wkv;      // FP8 [head_dim, d]
  LinearWeight wo_a;     // FP8 [G·o_lora, (H/G)·head_dim]; row g·o_lora + r belongs to group g
  LinearWeight wo_b;     // FP8 [d, G·o_lora]
  bool has_compressor = false;
  CompressorWeights compressor;
  bool has_indexer = false;
  IndexerWeights indexer;
  bool sliced = false;  // wq_b, attn_sink, wo_a, wo_b are already a head share (a share-only checkpoint)
};

struct MoEWeights {
  TensorView gate;      // BF16 [E, d] router
  TensorView gate_bias; // F32 [E] (non-hash layers); empty for hash layers
  TensorView tid2eid;   // I64 [vocab, k] (hash layers); empty otherwise
  std::vector<ExpertWeights> experts;  // the routed experts bound: expert0, expert0 + 1, ...
  int64_t expert0 = 0;
  bool sliced = false;  // the experts are already a tensor-parallel slice (a share-only checkpoint)
  ExpertWeights shared;                // the shared expert (FP8)
};

struct BlockWeights {
  int layer = 0;
  TensorView attn_norm;  // BF16 [d]
  TensorView ffn_norm;   // BF16 [d]
  HyperConnectionWeights hc_attn;
  HyperConnectionWeights hc_ffn;
  AttentionWeights attn;
  MoEWeights ffn;
};

struct MTPWeights {
  BlockWeights block;
  LinearWeight e_proj;  // FP8 [d, d]
  LinearWeight h_proj;  // FP8 [d, d]
  TensorView enorm;     // BF16 [d]
  TensorView hnorm;     // BF16 [d]
  TensorView norm;      // BF16 [d]
  HyperConnectionWeights hc_head;
};

struct ModelWeights {
  TensorView embed;  // BF16 [vocab, d]
  TensorView head;   // BF16 [vocab, d]
  TensorView norm;   // BF16 [d]
  HyperConnectionWeights hc_head;
  std::vector<BlockWeights> layers;
  std::vector<MTPWeights> mtp;
  ExpertFormat expert_format = ExpertFormat::MXFP4;
};

// One tensor the model expects: its checkpoint name, dtype and shape.
struct TensorSpec {
  std::string name;
  DType dtype;
  Shape shape;
};

// The part of the weights a rank binds (model/parallel.h): the routed experts [begin,
// begin + count) of every layer's (expert parallelism; count < 0 = all), of each the
// intermediate slice [slice_begin, slice_begin + slice_size) (tensor-parallel experts;
// slice_size < 0 = whole), and the attention heads [head_begin, head_begin + head_count) with
// their output groups [group_begin, group_begin + group_count) (tensor-parallel attention:
// wq_b rows, attn_sink, wo_a rows, wo_b columns; head_count < 0 = all).
struct WeightShare {
  int64_t begin = 0;
  int64_t count = -1;
  int64_t slice_begin = 0;
  int64_t slice_size = -1;
  int64_t head_begin = 0, head_count = -1;
  int64_t group_begin = 0, group_count = -1;
  bool holds(int64_t e) const { return count < 0 || (e >= begin && e < begin + count); }
};

// Every tensor a checkpoint of this config and expert format holds, in a stable order (global
// tensors, then layer by layer, then MTP). Used by the binder and by make-model. With a share,
// only its routed experts, and with a slice those at the slice's shapes (w1/w3 [n, d], w2
// [d, n]); with heads, wq_b, attn_sink, wo_a and wo_b at the heads' shapes (the tensors of a
// share-only checkpoint, e.g. a rank's --random-weights).
std::vector<TensorSpec> expected_tensors(const ModelConfig& config, ExpertFormat experts, const WeightShare& share = {});

// Detects the routed-expert format from the checkpoint's tensors (layer 0, expert `expert`).
ExpertFormat detect_expert_format(const Checkpoint& ckpt, const ModelConfig& config, int64_t expert = 0);

// Binds and validates. Throws one dsv4::Error listing every missing tensor, every dtype or shape
// mismatch, and every unexpected tensor. With a share, only its routed experts are bound and
// required; the others' tensors may be present (a whole checkpoint: never read) or absent (a
// share-only checkpoint). With a slice (or heads), the experts' (attention's) tensors may be
// whole (bound whole: the model cuts them, reading only the share) or the share's alone
// (MoEWeights::sliced, AttentionWeights::sliced).
ModelWeights bind_weights(const Checkpoint& ckpt, const ModelConfig& config, const WeightShare& share = {});

}  // namespace dsv4
