#include "model/moe.h"

#include "model/expert.h"
#include "model/gate.h"

namespace dsv4 {

float* moe_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                   const float* x, int64_t S, const int64_t* token_ids) {
  const ModelConfig& cfg = ctx.config;
  const int64_t d = cfg.hidden_size;
  const Routing routing = gate_forward(ctx, p, spec, scope, x, S, token_ids);
  float* Y = ctx.ws.floats(S * d);
  MoeArgs a;
  a.x = x;
  a.T = S;
  a.d = d;
  a.ids = routing.ids;
  a.weights = routing.weights;
  a.k = routing.k;
  a.experts = p.experts.data();
  a.E = int64_t(p.experts.size());
  a.expert0 = p.expert0;
  a.experts_total = p.experts_total;
  a.swiglu_limit = float(cfg.swiglu_limit);
  a.act = p.experts.empty() ? ActQuant::None : act_quant_for(ctx, p.experts.front().w1);
  a.y = Y;
  ctx.ops.moe_routed(a);
  // Several ranks: each has its experts' (or its slices') share of every token's routed sum.
  if (ctx.parallel != nullptr) combine_routed(*ctx.parallel, Y, S * d, ctx.ops.native_stream());
  if (p.has_shared) {  // whole on every rank, added once after the combine
    float* ys = ctx.ws.floats(S * d);
    expert_forward(ctx, p.shared, x, S, nullptr, ys);
    ctx.ops.add(Y, ys, S * d, 1.0f);
  }
  return Y;
}

}  // namespace dsv4
