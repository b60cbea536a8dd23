#include "model/indexer.h"

#include <algorithm>
#include <cmath>

#include "model/compressor.h"

namespace dsv4 {

IndexerQuery indexer_query(const ForwardContext& ctx, const IndexerParams& p, const RopeTable& rope, const float* qr,
                           const float* x, int64_t S, const int64_t* positions) {
  const int64_t nh = ctx.config.index_n_heads, hd = ctx.config.index_head_dim;
  IndexerQuery r;
  r.q = ctx.ws.floats(S * nh * hd);
  project(ctx, qr, S, p.wq_b, r.q);
  ctx.ops.rope(r.q, S, nh, nh * hd, hd, hd - rope.rope_dim, positions, rope, false);
  if (ctx.official()) ctx.ops.hadamard_fp4(r.q, S * nh, hd);
  r.wts = ctx.ws.floats(S * nh);
  LinearArgs a{x, S, p.weights_proj.in, &p.weights_proj, 0, nh, r.wts, nh};
  a.alpha = float(std::pow(double(hd), -0.5) * std::pow(double(nh), -0.5));
  ctx.ops.linear(a);
  return r;
}

IndexerSelection indexer_prefill(const ForwardContext& ctx, const IndexerParams& p, const RopeTable& rope,
                                 std::string_view scope, const float* qr, const float* x, int64_t S,
                                 const int64_t* positions) {
  const ModelConfig& cfg = ctx.config;
  const int64_t nh = cfg.index_n_heads, hd = cfg.index_head_dim;
  int64_t entries = 0;
  const float* keys = compress_prefill(ctx, p.compressor, CompressorRole::Indexer, rope, x, S, entries);
  ctx.record(scope, "indexer_keys", keys, {entries, hd});

  IndexerSelection out;
  out.k = std::min<int64_t>(cfg.index_topk, entries);
  out.sel.assign(size_t(S * out.k), -1);
  if (entries == 0) return out;

  const IndexerQuery iq = indexer_query(ctx, p, rope, qr, x, S, positions);
  float* score = ctx.ws.floats(S * entries);
  ctx.ops.indexer_scores(iq.q, iq.wts, keys, S, nh, hd, entries, positions, 4, score);
  ctx.ops.topk_indices(score, S, entries, out.k, out.sel.data());
  if (ctx.recording()) {
    ctx.record(scope, "indexer_scores", score, {S, entries});
    ctx.record_ints(scope, "indexer_topk", out.sel.data(), {S, out.k});
  }
  return out;
}

}  // namespace dsv4
