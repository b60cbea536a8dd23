// How one rank's share of the model is laid out over a group of ranks (issue 11): which routed
// experts it holds (expert parallelism, EP) and which slice of every held expert's intermediate
// dimension (tensor-parallel experts, TP-MoE). Everything else (embedding, attention, router,
// shared expert, head) is replicated on every rank, and so are the tokens of a step.
//
// Ranks: rank = ep_rank · tp + tp_rank, ep · tp = world (or 1 x 1: the routed experts
// replicated, e.g. with only the attention split). Rank (ep_rank, tp_rank) holds the
// contiguous expert range [ep_rank · E/ep, (ep_rank + 1) · E/ep) — contiguous rather than
// e % ep so that the ops take a local array plus one offset (MoeArgs::expert0), a checkpoint's
// expert shards map to ranks by range, and the later all-to-all's destination of a routed row is
// id / (E/ep) — and of each of those experts the slice [tp_rank · I/tp, (tp_rank + 1) · I/tp)
// of the intermediate dimension: rows of w1 and w3, columns of w2.
//
// Every rank computes the routed contributions of what it holds for every token; one
// all_reduce(sum) over the whole group combines them (experts x slices partition the routed sum).
// The shared expert stays whole on every rank and is added once, after the combine.
//
// Attention is either replicated or tensor parallel over the heads of the whole group
// (attn_tp = world): V4 has one KV head, so the KV projection (wkv, kv_norm), the compressors,
// the indexer (its own heads, wq_b and weights_proj: its top-k must be the same on every rank)
// and the KV cache are replicated on every rank, as are wq_a and q_norm (the low-rank query
// qr feeds the indexer too); rank r takes the query heads [r·H/tp, (r+1)·H/tp) — those rows of
// wq_b and entries of attn_sink —, the o_groups those heads make up (G/tp whole groups: those
// rows of the grouped wo_a) and the matching columns of wo_b, whose partial outputs [S, d] are
// summed over the group (one all_reduce per layer).
#pragma once

#include <cstdint>
#include <string>

#include "core/linear_weight.h"
#include "model/config.h"
#include "model/weights.h"

namespace dsv4 {

namespace dist {
class Communicator;
struct DistLayout;
}

// What the user asks for: sizes only.
struct ParallelLayout {
  int expert_parallel = 1;  // ep: ranks the routed experts are spread over
  int moe_tensor_parallel = 1;  // tp: slices of every expert's intermediate dimension
  int attention_tensor_parallel = 1;  // 1 (replicated) or the world size (heads split)
};

// The model's layout of the resolved parallelism flags (dist/dist_options.h): the routed experts
// as DistLayout lays them out (ep x moe_tp), attention tensor parallel over its tp ranks. Throws
// for data parallelism (dp > 1), which the model layer does not do yet.
ParallelLayout parallel_layout(const dist::DistLayout& layout);

struct Parallel {
  dist::Communicator* comm = nullptr;  // null: one rank (everything local, no collectives)
  int rank = 0, world = 1;
  int ep = 1, ep_rank = 0;
  int tp = 1, tp_rank = 0;
  int attn_tp = 1, attn_rank = 0;  // attention heads over the group (attn_rank = rank)

  bool distributed() const { return comm != nullptr && world > 1; }
  // Routed experts held here: [expert_begin, expert_begin + expert_count) of E.
  int64_t expert_begin(int64_t E) const { return ep_rank * (E / ep); }
  int64_t expert_count(int64_t E) const { return E / ep; }
  bool holds_expert(int64_t e, int64_t E) const { return e >= expert_begin(E) && e < expert_begin(E) + expert_count(E); }
  // The intermediate slice held of each of them: [slice_begin, slice_begin + slice_size) of I.
  int64_t slice_begin(int64_t I) const { return tp_rank * (I / tp); }
  int64_t slice_size(int64_t I) const { return I / tp; }
  // The query heads held (of H) and the output groups they make up (of G).
  int64_t head_begin(int64_t H) const { return attn_rank * (H / attn_tp); }
  int64_t head_count(int64_t H) const { return H / attn_tp; }
  int64_t group_begin(int64_t G) const { return attn_rank * (G / attn_tp); }
  int64_t group_count(int64_t G) const { return G / attn_tp; }
  std::string describe() const;  // "rank 1 of 4: experts 8..15 of 16, intermediate 0..127 of 256"
};

// The multiple of which an expert's intermediate slice must be (for each format): FP8 experts
// have 128x128 weight-scale blocks; MXFP4 experts 1x32 scales along w2's K, but the official
// numerics quantize w2's input in 1x128 FP8 blocks along the same dimension, so a slice may not
// split those either (128); NVFP4 1x16 weight and activation blocks (16); BF16 any (1).
int64_t expert_slice_multiple(ExpertFormat format);

// The layout of `comm`'s rank (null comm: one rank, the layout must be 1 x 1). Throws dsv4::Error
// saying what is wrong: sizes below 1, ep · tp neither the world size nor 1, routed experts not
// divisible by ep, the intermediate size not divisible by tp or its slice not a multiple of the
// format's block (expert_slice_multiple); attention tensor parallel over other than 1 or all
// ranks, heads or output groups not divisible, or a share that splits an FP8 128-block.
Parallel make_parallel(dist::Communicator* comm, const ParallelLayout& layout, const ModelConfig& config,
                       ExpertFormat format);

// The checks of make_parallel on a layout already made (the format is only known once a
// checkpoint is bound).
void validate_parallel(const Parallel& p, const ModelConfig& config, ExpertFormat format);

// The part of the weights a rank binds or generates (bind_weights, --random-weights): its routed
// experts, their slices and its attention heads.
WeightShare weight_share(const Parallel& p, const ModelConfig& config);

// The attention output's combine under tensor-parallel attention: out [count] summed in place.
void combine_attention(const Parallel& p, float* out, int64_t count, void* stream);

// The routed-output combine: y [count] summed over the group in place (every rank gets the
// same bits). One rank: nothing. `stream` is the backend's queue (Ops::native_stream()). The seam where
// an all-to-all combine of dispatched rows will replace the all-reduce.
void combine_routed(const Parallel& p, float* y, int64_t count, void* stream);

}  // namespace dsv4
