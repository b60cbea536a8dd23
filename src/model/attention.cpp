#include "model/attention.h"

#include <cmath>
#include <vector>

#include "core/error.h"
#include "model/attention_parts.h"
#include "model/compressor.h"
#include "model/indexer.h"

namespace dsv4 {

// qr = RMSNorm(x·wq_aᵀ; q_norm); q = qr·wq_bᵀ, per-head unweighted RMSNorm, RoPE on the last dims.
void query_path(const ForwardContext& ctx, const AttentionParams& p, const float* x, int64_t S,
                const int64_t* positions, Floats& qr, Floats& q) {
  const ModelConfig& cfg = ctx.config;
  const int64_t H = cfg.num_heads, D = cfg.head_dim, ql = cfg.q_lora_rank;
  const float eps = float(cfg.rms_norm_eps);
  qr.assign(size_t(S * ql), 0.0f);
  project(ctx, x, S, p.w->wq_a, qr.data());
  ctx.ops.rms_norm(qr.data(), S, ql, ql, p.q_norm.data(), eps, qr.data());
  q.assign(size_t(S * H * D), 0.0f);
  project(ctx, qr.data(), S, p.w->wq_b, q.data());
  ctx.ops.rms_norm(q.data(), S * H, D, D, nullptr, eps, q.data());
  ctx.ops.rope(q.data(), S, H, H * D, D, D - p.rope.rope_dim(), positions, p.rope, false);
}

// kv = RMSNorm(x·wkvᵀ; kv_norm), RoPE, official: FP8 fake-quant of the no-rope dims.
Floats window_kv(const ForwardContext& ctx, const AttentionParams& p, const float* x, int64_t S,
                 const int64_t* positions) {
  const int64_t D = ctx.config.head_dim, rd = p.rope.rope_dim();
  Floats kv(size_t(S * D));
  project(ctx, x, S, p.w->wkv, kv.data());
  ctx.ops.rms_norm(kv.data(), S, D, D, p.kv_norm.data(), float(ctx.config.rms_norm_eps), kv.data());
  ctx.ops.rope(kv.data(), S, 1, D, D, D - rd, positions, p.rope, false);
  if (ctx.official()) ctx.ops.fake_quant_fp8(kv.data(), S, D, 0, D - rd, 64, /*bf16_out=*/true);
  return kv;
}

Floats attention_output(const ForwardContext& ctx, const AttentionParams& p, Floats& o, int64_t S,
                        const int64_t* positions) {
  const ModelConfig& cfg = ctx.config;
  const int64_t H = cfg.num_heads, D = cfg.head_dim;
  ctx.ops.rope(o.data(), S, H, H * D, D, D - p.rope.rope_dim(), positions, p.rope, /*inverse=*/true);
  // Grouped low-rank output: group g (heads g·H/G …) through rows g·o_lora … of wo_a, then wo_b.
  const int64_t G = cfg.o_groups, gin = (H / G) * D, orank = cfg.o_lora_rank;
  Floats z(size_t(S * G * orank));
  for (int64_t g = 0; g < G; ++g)
    ctx.ops.linear(o.data() + g * gin, S, H * D, p.w->wo_a, g * orank, orank, z.data() + g * orank, G * orank);
  Floats out(size_t(S * cfg.hidden_size));
  project(ctx, z.data(), S, p.w->wo_b, out.data());
  return out;
}

Floats attention_prefill(const ForwardContext& ctx, const AttentionParams& p, const LayerSpec& spec,
                         std::string_view scope, const float* x, int64_t S, const int64_t* positions) {
  const ModelConfig& cfg = ctx.config;
  const int64_t H = cfg.num_heads, D = cfg.head_dim, W = cfg.sliding_window;
  for (int64_t t = 0; t < S; ++t)  // window and compressed keys below are indexed by call position
    if (positions[t] != t) fail("{}: attention prefill needs positions 0..S-1 (no KV cache yet); got {} at {}", scope, positions[t], t);
  Floats qr, q;
  query_path(ctx, p, x, S, positions, qr, q);
  const Floats kv = window_kv(ctx, p, x, S, positions);
  if (ctx.recording()) {
    ctx.record(scope, "attn_q", q.data(), {S, H, D});
    ctx.record(scope, "attn_window_kv", kv.data(), {S, D});
  }

  // Compressed entries and which of them each query sees.
  Floats entries;
  IndexerSelection selection;
  int64_t n_entries = 0, comp_width = 0;
  if (p.has_compressor) {
    entries = compress_prefill(ctx, p.compressor, CompressorRole::Attention, p.rope, x, S);
    n_entries = int64_t(entries.size()) / D;
    ctx.record(scope, "attn_compressed_kv", entries.data(), {n_entries, D});
    if (p.has_indexer) {
      selection = indexer_prefill(ctx, p.indexer, p.rope, scope, qr.data(), x, S, positions);
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
  Floats keys(size_t((S + n_entries) * D));
  std::copy(kv.begin(), kv.end(), keys.begin());
  std::copy(entries.begin(), entries.end(), keys.begin() + S * D);

  Floats o(size_t(S * H * D));
  const float scale = float(std::pow(double(D), -0.5));
  ctx.ops.sparse_attention(q.data(), keys.data(), idx.data(), p.sink.data(), S, H, D, S + n_entries, kw, scale,
                           o.data());
  if (ctx.recording()) {  // attn_core_out is recorded after the inverse RoPE
    Floats derotated = o;
    ctx.ops.rope(derotated.data(), S, H, H * D, D, D - p.rope.rope_dim(), positions, p.rope, /*inverse=*/true);
    ctx.record(scope, "attn_core_out", derotated.data(), {S, H, D});
  }
  return attention_output(ctx, p, o, S, positions);
}

}  // namespace dsv4
