#include "model/indexer.h"

#include <algorithm>
#include <cmath>

#include "model/compressor.h"

namespace dsv4 {

IndexerSelection indexer_prefill(const ForwardContext& ctx, const IndexerParams& p, const RopeFrequencies& rope,
                                 std::string_view scope, const float* qr, const float* x, int64_t S,
                                 const int64_t* positions) {
  const ModelConfig& cfg = ctx.config;
  const int64_t nh = cfg.index_n_heads, hd = cfg.index_head_dim;
  const Floats keys = compress_prefill(ctx, p.compressor, CompressorRole::Indexer, rope, x, S);
  const int64_t entries = int64_t(keys.size()) / hd;
  ctx.record(scope, "indexer_keys", keys.data(), {entries, hd});

  IndexerSelection out;
  out.k = std::min<int64_t>(cfg.index_topk, entries);
  out.sel.assign(size_t(S * out.k), -1);
  if (entries == 0) return out;

  Floats q(size_t(S * nh * hd));
  project(ctx, qr, S, p.w->wq_b, q.data());
  ctx.ops.rope(q.data(), S, nh, nh * hd, hd, hd - rope.rope_dim(), positions, rope, false);
  if (ctx.official()) ctx.ops.hadamard_fp4(q.data(), S * nh, hd);

  Floats wts(size_t(S * nh));
  ctx.ops.linear(x, S, p.weights_proj.in, p.weights_proj, 0, nh, wts.data(), nh);
  const float wscale = float(std::pow(double(hd), -0.5) * std::pow(double(nh), -0.5));
  for (float& v : wts) v *= wscale;

  Floats score(size_t(S * entries));
  ctx.ops.indexer_scores(q.data(), wts.data(), keys.data(), S, nh, hd, entries, positions, 4, score.data());
  ctx.ops.topk_indices(score.data(), S, entries, out.k, out.sel.data());
  if (ctx.recording()) {
    ctx.record(scope, "indexer_scores", score.data(), {S, entries});
    ctx.record_ints(scope, "indexer_topk", out.sel.data(), {S, out.k});
  }
  return out;
}

}  // namespace dsv4
