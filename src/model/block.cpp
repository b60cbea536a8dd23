#include "model/block.h"

#include "model/attention.h"
#include "model/hyper_connection.h"
#include "model/moe.h"

namespace dsv4 {

void block_forward(const ForwardContext& ctx, const BlockParams& b, Floats& X, int64_t S, const int64_t* positions,
                   const int64_t* token_ids) {
  block_forward_with(ctx, b, X, S, token_ids, [&](const float* x) {
    return attention_prefill(ctx, b.attn, *b.spec, b.scope, x, S, positions);
  });
}

void block_forward_with(const ForwardContext& ctx, const BlockParams& b, Floats& X, int64_t S,
                        const int64_t* token_ids, const AttentionFn& attention) {
  const ModelConfig& cfg = ctx.config;
  const int64_t d = cfg.hidden_size;
  const float eps = float(cfg.rms_norm_eps);
  HcMix mix;

  // Attention sub-layer.
  Floats x = hc_pre(ctx, b.hc_attn, X, S, mix);
  ctx.ops.rms_norm(x.data(), S, d, d, b.attn_norm.data(), eps, x.data());
  const Floats a = attention(x.data());
  ctx.record(b.scope, "attn_out", a.data(), {S, d});
  hc_post(ctx, a, mix, X, S);

  // FFN sub-layer.
  x = hc_pre(ctx, b.hc_ffn, X, S, mix);
  ctx.ops.rms_norm(x.data(), S, d, d, b.ffn_norm.data(), eps, x.data());
  const Floats f = moe_forward(ctx, b.moe, *b.spec, b.scope, x.data(), S, token_ids);
  ctx.record(b.scope, "ffn_out", f.data(), {S, d});
  hc_post(ctx, f, mix, X, S);

  ctx.record(b.scope, "hidden_streams", X.data(), {S, cfg.hc_mult, d});
}

}  // namespace dsv4
