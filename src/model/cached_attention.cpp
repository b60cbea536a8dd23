#include "model/cached_attention.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/attention_parts.h"
#include "model/cached_compressor.h"
#include "model/indexer.h"

namespace dsv4 {

namespace {

// Indexer selection of one segment against all keys of the sequence visible by its end.
std::vector<int32_t> select_entries(const ForwardContext& ctx, const IndexerParams& p, const RopeFrequencies& rope,
                                    const float* x, const float* qI, const float* wts, const SegmentSpan& s,
                                    const int64_t* positions, int layer, KvCache& cache, int64_t& k) {
  const ModelConfig& cfg = ctx.config;
  const int64_t nh = cfg.index_n_heads, hd = cfg.index_head_dim, S = s.length;
  const Floats fresh = compress_cached(ctx, p.compressor, CompressorRole::Indexer, rope, x, S, s.start, s.seq, layer, cache);
  const int64_t ne = (s.start + S) / 4, old = s.start / 4;
  k = std::min<int64_t>(cfg.index_topk, ne);
  std::vector<int32_t> sel(size_t(S * k), -1);
  if (ne == 0) return sel;
  Floats keys(size_t(ne * hd));
  if (old > 0) cache.read_entries(s.seq, layer, CacheRole::Indexer, 0, old, keys.data());
  std::copy(fresh.begin(), fresh.end(), keys.begin() + old * hd);
  Floats score(size_t(S * ne));
  ctx.ops.indexer_scores(qI, wts, keys.data(), S, nh, hd, ne, positions, 4, score.data());
  ctx.ops.topk_indices(score.data(), S, ne, k, sel.data());
  return sel;
}

}  // namespace

Floats attention_cached(const ForwardContext& ctx, const AttentionParams& p, const LayerSpec& spec,
                        const float* x, int64_t T, const int64_t* positions, const std::vector<SegmentSpan>& segments,
                        KvCache& cache) {
  const ModelConfig& cfg = ctx.config;
  const int64_t H = cfg.num_heads, D = cfg.head_dim, W = cfg.sliding_window, d = cfg.hidden_size;
  const int layer = spec.index;
  const int ratio = spec.compress_ratio;

  // Token-wise: queries, window K=V, indexer queries of every token of the batch.
  Floats qr, q;
  query_path(ctx, p, x, T, positions, qr, q);
  const Floats kv = window_kv(ctx, p, x, T, positions);
  Floats qI, wts;
  if (p.has_indexer) indexer_query(ctx, p.indexer, p.rope, qr.data(), x, T, positions, qI, wts);

  Floats o(size_t(T * H * D));
  const float scale = float(std::pow(double(D), -0.5));
  for (const SegmentSpan& s : segments) {
    const int64_t S = s.length, p0 = s.start;
    if (s.offset < 0 || s.offset + S > T) fail("attention: segment rows [{}, {}) outside the batch of {}", s.offset, s.offset + S, T);
    const float* xs = x + s.offset * d;
    const int64_t* ps = positions + s.offset;

    // Compressed entries of the sequence (cached ones, then those this call completes).
    Floats fresh;
    std::vector<int32_t> sel;
    int64_t n_entries = 0, comp_width = 0;
    if (p.has_compressor) {
      fresh = compress_cached(ctx, p.compressor, CompressorRole::Attention, p.rope, xs, S, p0, s.seq, layer, cache);
      n_entries = (p0 + S) / ratio;
      if (p.has_indexer) {
        sel = select_entries(ctx, p.indexer, p.rope, xs, qI.data() + s.offset * cfg.index_n_heads * cfg.index_head_dim,
                             wts.data() + s.offset * cfg.index_n_heads, s, ps, layer, cache, comp_width);
      } else {
        comp_width = n_entries;
      }
    }

    // keys = [cached window positions r0 .. p0-1 | the call's K=V | compressed entries].
    const int64_t r0 = std::max<int64_t>(0, p0 - W + 1), nr = p0 - r0;
    const int64_t nk = nr + S + n_entries;
    Floats keys(size_t(nk * D));
    if (nr > 0) cache.read_window(s.seq, layer, r0, nr, keys.data());
    std::copy(kv.begin() + s.offset * D, kv.begin() + (s.offset + S) * D, keys.begin() + nr * D);
    const int64_t old = n_entries - int64_t(fresh.size()) / D;
    if (old > 0) cache.read_entries(s.seq, layer, CacheRole::Attention, 0, old, keys.data() + (nr + S) * D);
    std::copy(fresh.begin(), fresh.end(), keys.begin() + (nr + S + old) * D);
    cache.write_window(s.seq, layer, p0, S, kv.data() + s.offset * D);

    const int64_t kw = W + comp_width;
    std::vector<int32_t> idx(size_t(S * kw), -1);
    for (int64_t t = 0; t < S; ++t) {
      int32_t* row = idx.data() + t * kw;
      const int64_t pt = ps[t];
      for (int64_t j = 0; j < W; ++j) {
        const int64_t src = pt - W + 1 + j;
        if (src >= 0) row[j] = int32_t(src - r0);  // ring positions first, then the call's (same order)
      }
      for (int64_t j = 0; j < comp_width; ++j) {
        int64_t w = -1;
        if (p.has_indexer) {
          w = sel[size_t(t * comp_width + j)];
        } else if (j < (pt + 1) / ratio) {
          w = j;
        }
        if (w >= 0) row[W + j] = int32_t(nr + S + w);
      }
    }
    ctx.ops.sparse_attention(q.data() + s.offset * H * D, keys.data(), idx.data(), p.sink.data(), S, H, D, nk, kw,
                             scale, o.data() + s.offset * H * D);
  }
  return attention_output(ctx, p, o, T, positions);
}

}  // namespace dsv4
