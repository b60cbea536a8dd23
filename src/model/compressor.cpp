#include "model/compressor.h"

#include <vector>

namespace dsv4 {

void compressor_project(const ForwardContext& ctx, const CompressorParams& p, const float* x, int64_t S, float* kv,
                        float* gate) {
  const int64_t width = p.width();
  ctx.ops.linear(x, S, p.wkv.in, p.wkv, 0, width, kv, width);
  ctx.ops.linear(x, S, p.wgate.in, p.wgate, 0, width, gate, width);
}

float* compress_prefill(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role,
                        const RopeTable& rope, const float* x, int64_t S, int64_t& entries) {
  const bool overlap = p.ratio == 4;
  const int64_t width = p.width();  // coff · D_c
  entries = S / p.ratio;
  float* E = ctx.ws.floats(entries * p.dim);
  if (entries == 0) return E;
  // Only the tokens of complete windows contribute.
  const int64_t used = entries * p.ratio;
  float* kv = ctx.ws.floats(used * width);
  float* gate = ctx.ws.floats(used * width);
  compressor_project(ctx, p, x, used, kv, gate);
  ctx.ops.compress_pool(kv, gate, p.ape, used, p.ratio, p.dim, overlap, E);
  std::vector<int64_t> first_pos(static_cast<size_t>(entries));  // host memory: the oracle is CPU-only
  for (int64_t w = 0; w < entries; ++w) first_pos[size_t(w)] = w * p.ratio;
  finish_entries(ctx, p, role, rope, E, first_pos.data(), entries);
  return E;
}

void finish_entries(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role,
                    const RopeTable& rope, float* E, const int64_t* first_pos, int64_t entries) {
  if (entries == 0) return;
  ctx.ops.rms_norm(E, entries, p.dim, p.dim, p.norm, float(ctx.config.rms_norm_eps), E);
  const int64_t rd = rope.rope_dim;
  ctx.ops.rope(E, entries, 1, p.dim, p.dim, p.dim - rd, first_pos, rope, false);
  if (ctx.official()) {
    if (role == CompressorRole::Attention)
      ctx.ops.fake_quant_fp8(E, entries, p.dim, 0, p.dim - rd, 64, /*bf16_out=*/true);
    else
      ctx.ops.hadamard_fp4(E, entries, p.dim);
  }
}

}  // namespace dsv4
