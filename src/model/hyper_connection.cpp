#include "model/hyper_connection.h"

namespace dsv4 {

HcShape hc_shape(const ModelConfig& config) {
  HcShape hc;
  hc.n = config.hc_mult;
  hc.d = config.hidden_size;
  hc.norm_eps = float(config.rms_norm_eps);
  hc.hc_eps = float(config.hc_eps);
  hc.sinkhorn_iters = config.hc_sinkhorn_iters;
  return hc;
}

float* hc_pre(const ForwardContext& ctx, const HcParams& p, const float* X, int64_t S, HcMix& mix) {
  const HcShape hc = hc_shape(ctx.config);
  float* a_in = ctx.ws.floats(S * hc.d);
  mix.post = ctx.ws.floats(S * hc.n);
  mix.comb = ctx.ws.floats(S * hc.n * hc.n);
  ctx.ops.hc_pre(X, S, hc, p.fn, p.scale, p.base, a_in, mix.post, mix.comb);
  return a_in;
}

float* hc_post(const ForwardContext& ctx, const float* f, const HcMix& mix, const float* X, int64_t S,
               float* Xout) {
  const HcShape hc = hc_shape(ctx.config);
  float* out = Xout != nullptr ? Xout : ctx.ws.floats(S * hc.n * hc.d);
  ctx.ops.hc_post(f, X, mix.post, mix.comb, S, hc, out);
  return out;
}

float* hc_head(const ForwardContext& ctx, const HcParams& p, const float* X, int64_t S) {
  const HcShape hc = hc_shape(ctx.config);
  float* y = ctx.ws.floats(S * hc.d);
  ctx.ops.hc_head(X, S, hc, p.fn, p.scale, p.base, y);
  return y;
}

}  // namespace dsv4
