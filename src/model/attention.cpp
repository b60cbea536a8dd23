#include "model/attention.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "model/attention_parts.h"
#include "model/compressor.h"
#include "model/indexer.h"

namespace dsv4 {

// qr = RMSNorm(x·wq_aᵀ; q_norm); q = qr·wq_bᵀ, per-head unweighted RMSNorm, RoPE on the last dims.
QueryPath query_path(const ForwardContext& ctx, const AttentionParams& p, const float* x, int64_t S,
                     const int64_t* positions) {
  const ModelConfig& cfg = ctx.config;
  const int64_t H = p.heads, D = cfg.head_dim, ql = cfg.q_lora_rank;
  const float eps = float(cfg.rms_norm_eps);
  QueryPath r;
  r.qr = ctx.ws.floats(S * ql);
  project(ctx, x, S, p.wq_a, r.qr);
  ctx.ops.rms_norm(r.qr, S, ql, ql, p.q_norm, eps, r.qr);
  r.q = ctx.ws.floats(S * H * D);
  project(ctx, r.qr, S, p.wq_b, r.q);
  ctx.ops.rms_norm(r.q, S * H, D, D, nullptr, eps, r.q);
  ctx.ops.rope(r.q, S, H, H * D, D, D - p.rope.rope_dim, positions, p.rope, false);
  return r;
}

// kv = RMSNorm(x·wkvᵀ; kv_norm), RoPE, official: FP8 fake-quant of the no-rope dims.
float* window_kv(const ForwardContext& ctx, const AttentionParams& p, const float* x, int64_t S,
                 const int64_t* positions) {
  const int64_t D = ctx.config.head_dim, rd = p.rope.rope_dim;
  float* kv = ctx.ws.floats(S * D);
  project(ctx, x, S, p.wkv, kv);
  ctx.ops.rms_norm(kv, S, D, D, p.kv_norm, float(ctx.config.rms_norm_eps), kv);
  ctx.ops.rope(kv, S, 1, D, D, D - rd, positions, p.rope, false);
  if (ctx.official()) ctx.ops.fake_quant_fp8(kv, S, D, 0, D - rd, 64, /*bf16_out=*/true);
  return kv;
}

float* attention_output(const ForwardContext& ctx, const AttentionParams& p, float* o, int64_t S,
                        const int64_t* positions) {
  const ModelConfig& cfg = ctx.config;
  const int64_t H = p.heads, D = cfg.head_dim;
  ctx.ops.rope(o, S, H, H * D, D, D - p.rope.rope_dim, positions, p.rope, /*inverse=*/true);
  // Grouped low-rank output: group g (heads g·H/G …) through rows g·o_lora … of wo_a, then wo_b.
  const int64_t G = p.groups, orank = cfg.o_lora_rank;
  float* z = ctx.ws.floats(S * G * orank);
  LinearArgs a{o, S, H * D, &p.wo_a, 0, orank, z, G * orank};
  a.groups = G;
  ctx.ops.linear(a);
  float* out = ctx.ws.floats(S * cfg.hidden_size);
  project(ctx, z, S, p.wo_b, out);
  // Heads split over the ranks: each holds its heads' share of the output.
  if (ctx.parallel != nullptr) combine_attention(*ctx.parallel, out, S * cfg.hidden_size, ctx.ops.native_stream());
  return out;
}

float* attention_prefill(const ForwardContext& ctx, const AttentionParams& p, const LayerSpec& spec,
                         std::string_view scope, const float* x, int64_t S, const int64_t* positions) {
  const ModelConfig& cfg = ctx.config;
  const int64_t H = p.heads, D = cfg.head_dim, W = cfg.sliding_window;
  if (!ctx.ops.host_memory()) fail("{}: the prefill oracle runs on the CPU backend only", scope);
  for (int64_t t = 0; t < S; ++t)  // window and compressed keys below are indexed by call position
    if (positions[t] != t) fail("{}: attention prefill needs positions 0..S-1 (no KV cache yet); got {} at {}", scope, positions[t], t);
  const QueryPath qp = query_path(ctx, p, x, S, positions);
  const float* kv = window_kv(ctx, p, x, S, positions);
  if (ctx.recording()) {
    ctx.record(scope, "attn_q", qp.q, {S, H, D});
    ctx.record(scope, "attn_window_kv", kv, {S, D});
  }

  // Compressed entries and which of them each query sees.
  const float* entries = nullptr;
  IndexerSelection selection;
  int64_t n_entries = 0, comp_width = 0;
  if (p.has_compressor) {
    entries = compress_prefill(ctx, p.compressor, CompressorRole::Attention, p.rope, x, S, n_entries);
    ctx.record(scope, "attn_compressed_kv", entries, {n_entries, D});
    if (p.has_indexer) {
      selection = indexer_prefill(ctx, p.indexer, p.rope, scope, qp.qr, x, S, positions);
      comp_width = selection.k;
    } else {
      comp_width = n_entries;  // HCA: every complete entry
    }
  }

  // Gather indices into keys = [window K=V of the S tokens | compressed entries].
  const int64_t kw = W + comp_width;
  std::vector<int32_t> idx(size_t(S * kw), -1);
  for (int64_t t = 0; t < S; ++t) {
    int32_t* row = idx.data() + t * kw;
    for (int64_t j = 0; j < W; ++j) {
      const int64_t src = t - W + 1 + j;
      if (src >= 0) row[j] = int32_t(src);
    }
    for (int64_t j = 0; j < comp_width; ++j) {
      int64_t w = -1;
      if (p.has_indexer) {
        w = selection.sel[size_t(t * comp_width + j)];
      } else if (j < (positions[t] + 1) / spec.compress_ratio) {
        w = j;
      }
      if (w >= 0) row[W + j] = int32_t(S + w);
    }
  }
  float* keys = ctx.ws.floats((S + n_entries) * D);
  std::copy(kv, kv + S * D, keys);
  if (n_entries > 0) std::copy(entries, entries + n_entries * D, keys + S * D);

  float* o = ctx.ws.floats(S * H * D);
  const float scale = float(std::pow(double(D), -0.5));
  ctx.ops.sparse_attention(qp.q, keys, idx.data(), p.sink, S, H, D, S + n_entries, kw, scale, o);
  if (ctx.recording()) {  // attn_core_out is recorded after the inverse RoPE
    Floats derotated(o, o + S * H * D);
    ctx.ops.rope(derotated.data(), S, H, H * D, D, D - p.rope.rope_dim, positions, p.rope, /*inverse=*/true);
    ctx.record(scope, "attn_core_out", derotated.data(), {S, H, D});
  }
  return attention_output(ctx, p, o, S, positions);
}

}  // namespace dsv4
