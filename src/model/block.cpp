#include "model/block.h"

#include "model/attention.h"
#include "model/moe.h"

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

namespace {

// One sub-layer wrapped in hyper-connections: X <- hc_post(f(norm(hc_pre(X))), X).
template <typename SubLayer>
void hyper_connected(const ForwardContext& ctx, const HcParams& hcp, const Floats& norm, Floats& X, int64_t S,
                     SubLayer&& sublayer) {
  const HcShape hc = hc_shape(ctx.config);
  const int64_t d = hc.d, n = hc.n;
  Floats a_in(size_t(S * d)), post(size_t(S * n)), comb(size_t(S * n * n));
  ctx.ops.hc_pre(X.data(), S, hc, hcp.fn.data(), hcp.scale.data(), hcp.base.data(), a_in.data(), post.data(),
                 comb.data());
  ctx.ops.rms_norm(a_in.data(), S, d, d, norm.data(), hc.norm_eps, a_in.data());
  const Floats f = sublayer(a_in.data());
  Floats Xnew(X.size());
  ctx.ops.hc_post(f.data(), X.data(), post.data(), comb.data(), S, hc, Xnew.data());
  X.swap(Xnew);
}

}  // namespace

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
  hyper_connected(ctx, b.hc_attn, b.attn_norm, X, S, [&](const float* x) {
    Floats a = attention(x);
    ctx.record(b.scope, "attn_out", a.data(), {S, d});
    return a;
  });
  hyper_connected(ctx, b.hc_ffn, b.ffn_norm, X, S, [&](const float* x) {
    Floats f = moe_forward(ctx, b.moe, *b.spec, b.scope, x, S, token_ids);
    ctx.record(b.scope, "ffn_out", f.data(), {S, d});
    return f;
  });
  ctx.record(b.scope, "hidden_streams", X.data(), {S, cfg.hc_mult, d});
}

}  // namespace dsv4
