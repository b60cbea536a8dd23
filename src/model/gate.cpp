#include "model/gate.h"

namespace dsv4 {

Routing gate_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                     const float* x, int64_t S, const int64_t* token_ids) {
  const ModelConfig& cfg = ctx.config;
  const int64_t d = cfg.hidden_size, E = cfg.n_routed_experts, k = cfg.num_experts_per_tok;
  float* logits = ctx.ws.floats(S * E);
  ctx.ops.linear(x, S, d, p.gate, 0, E, logits, E);  // router in fp32, never quantized

  Routing r;
  r.k = k;
  r.scores = ctx.ws.floats(S * E);
  r.ids = ctx.ws.ints(S * k);
  r.weights = ctx.ws.floats(S * k);
  ctx.ops.route(logits, S, E, k, p.bias, spec.hash_routed ? p.tid2eid.as<int64_t>() : nullptr, token_ids,
                spec.hash_routed ? p.tid2eid.dim(0) : 0, float(cfg.routed_scaling_factor), r.scores, r.ids,
                r.weights);
  if (ctx.recording()) {
    ctx.record(scope, "router_scores", r.scores, {S, E});
    ctx.record_ints(scope, "moe_expert_ids", r.ids, {S, k});
    ctx.record(scope, "moe_expert_weights", r.weights, {S, k});
  }
  return r;
}

}  // namespace dsv4
