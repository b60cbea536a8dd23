#include "model/cached_compressor.h"

#include <algorithm>

namespace dsv4 {

Floats compress_cached(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role,
                       const RopeFrequencies& rope, const float* x, int64_t S, int64_t p0, SequenceId seq, int layer,
                       KvCache& cache) {
  const bool overlap = p.ratio == 4;
  const int64_t c = p.ratio, width = p.wkv.out;
  const CacheRole crole = role == CompressorRole::Attention ? CacheRole::Attention : CacheRole::Indexer;
  Floats kv(size_t(S * width)), gate(size_t(S * width));
  ctx.ops.linear(x, S, p.wkv.in, p.wkv, 0, width, kv.data(), width);
  ctx.ops.linear(x, S, p.wgate.in, p.wgate, 0, width, gate.data(), width);

  const int64_t w_begin = p0 / c, w_end = (p0 + S) / c;
  Floats E;
  if (w_end > w_begin) {
    // Tokens of the pooled windows: from window w_begin − 1 (its A-halves) or w_begin, to w_end.
    const int64_t base = (overlap && w_begin > 0 ? w_begin - 1 : w_begin) * c, end = w_end * c;
    const int64_t n = end - base, cached = std::max<int64_t>(0, p0 - base);
    Floats bkv(size_t(n * width)), bgate(size_t(n * width));
    if (cached > 0) cache.read_compressor(seq, layer, crole, base, cached, bkv.data(), bgate.data());
    const int64_t from_call = n - cached;  // tokens p0 .. end-1 (base >= p0 when nothing is cached)
    const int64_t first = std::max(base, p0) - p0;
    std::copy(kv.begin() + first * width, kv.begin() + (first + from_call) * width, bkv.begin() + cached * width);
    std::copy(gate.begin() + first * width, gate.begin() + (first + from_call) * width, bgate.begin() + cached * width);
    Floats pooled(size_t((n / c) * p.dim));
    ctx.ops.compress_pool(bkv.data(), bgate.data(), p.ape.data(), n, p.ratio, p.dim, overlap, pooled.data());
    const int64_t skip = w_begin - base / c;  // the leading window only lends its A-halves
    E.assign(pooled.begin() + skip * p.dim, pooled.end());
    finish_entries(ctx, p, role, rope, E.data(), w_begin, w_end - w_begin);
    cache.write_entries(seq, layer, crole, w_begin, w_end - w_begin, E.data());
  }
  cache.write_compressor(seq, layer, crole, p0, S, kv.data(), gate.data());
  return E;
}

}  // namespace dsv4
