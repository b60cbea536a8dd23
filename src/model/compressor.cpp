#include "model/compressor.h"

#include <vector>

namespace dsv4 {

Floats compress_prefill(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role,
                        const RopeFrequencies& rope, const float* x, int64_t S) {
  const bool overlap = p.ratio == 4;
  const int64_t width = p.wkv.out;  // coff · D_c
  const int64_t entries = S / p.ratio;
  Floats E(size_t(entries * p.dim));
  if (entries == 0) return E;
  // Only the tokens of complete windows contribute.
  const int64_t used = entries * p.ratio;
  Floats kv(size_t(used * width)), gate(size_t(used * width));
  ctx.ops.linear(x, used, p.wkv.in, p.wkv, 0, width, kv.data(), width);
  ctx.ops.linear(x, used, p.wgate.in, p.wgate, 0, width, gate.data(), width);
  ctx.ops.compress_pool(kv.data(), gate.data(), p.ape.data(), used, p.ratio, p.dim, overlap, E.data());
  ctx.ops.rms_norm(E.data(), entries, p.dim, p.dim, p.norm.data(), float(ctx.config.rms_norm_eps), E.data());
  std::vector<int64_t> first_pos(static_cast<size_t>(entries));
  for (int64_t w = 0; w < entries; ++w) first_pos[size_t(w)] = w * p.ratio;
  const int64_t rd = rope.rope_dim();
  ctx.ops.rope(E.data(), entries, 1, p.dim, p.dim, p.dim - rd, first_pos.data(), rope, false);
  if (ctx.official()) {
    if (role == CompressorRole::Attention)
      ctx.ops.fake_quant_fp8(E.data(), entries, p.dim, 0, p.dim - rd, 64, /*bf16_out=*/true);
    else
      ctx.ops.hadamard_fp4(E.data(), entries, p.dim);
  }
  return E;
}

}  // namespace dsv4
