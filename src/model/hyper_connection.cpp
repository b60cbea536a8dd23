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

Floats hc_pre(const ForwardContext& ctx, const HcParams& p, const Floats& X, int64_t S, HcMix& mix) {
  const HcShape hc = hc_shape(ctx.config);
  Floats a_in(size_t(S * hc.d));
  mix.post.resize(size_t(S * hc.n));
  mix.comb.resize(size_t(S * hc.n * hc.n));
  ctx.ops.hc_pre(X.data(), S, hc, p.fn.data(), p.scale.data(), p.base.data(), a_in.data(), mix.post.data(),
                 mix.comb.data());
  return a_in;
}

void hc_post(const ForwardContext& ctx, const Floats& f, const HcMix& mix, Floats& X, int64_t S) {
  Floats out(X.size());
  ctx.ops.hc_post(f.data(), X.data(), mix.post.data(), mix.comb.data(), S, hc_shape(ctx.config), out.data());
  X.swap(out);
}

Floats hc_head(const ForwardContext& ctx, const HcParams& p, const Floats& X, int64_t S) {
  const HcShape hc = hc_shape(ctx.config);
  Floats y(size_t(S * hc.d));
  ctx.ops.hc_head(X.data(), S, hc, p.fn.data(), p.scale.data(), p.base.data(), y.data());
  return y;
}

}  // namespace dsv4
