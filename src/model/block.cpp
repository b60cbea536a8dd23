#include "model/block.h"

#include "model/hyper_connection.h"
#include "model/moe.h"

namespace dsv4 {

void block_forward(const ForwardContext& ctx, const BlockParams& b, const float* X, int64_t S,
                   const int64_t* token_ids, const AttentionFn& attention, float* Xout) {
  const Workspace::Mark scope_start = ctx.ws.mark();
  const ModelConfig& cfg = ctx.config;
  const int64_t d = cfg.hidden_size;
  const float eps = float(cfg.rms_norm_eps);
  HcMix mix;

  // Attention sub-layer.
  float* x = hc_pre(ctx, b.hc_attn, X, S, mix);
  ctx.ops.rms_norm(x, S, d, d, b.attn_norm, eps, x);
  const float* a = attention(x);
  ctx.record(b.scope, "attn_out", a, {S, d});
  const float* X1 = hc_post(ctx, a, mix, X, S);

  // FFN sub-layer.
  x = hc_pre(ctx, b.hc_ffn, X1, S, mix);
  ctx.ops.rms_norm(x, S, d, d, b.ffn_norm, eps, x);
  const float* f = moe_forward(ctx, b.moe, *b.spec, b.scope, x, S, token_ids);
  ctx.record(b.scope, "ffn_out", f, {S, d});
  hc_post(ctx, f, mix, X1, S, Xout);

  ctx.record(b.scope, "hidden_streams", Xout, {S, cfg.hc_mult, d});
  ctx.ws.rewind(scope_start);
}

}  // namespace dsv4
