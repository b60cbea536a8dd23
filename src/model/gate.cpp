#include "model/gate.h"

#include <cstring>

#include "core/error.h"

namespace dsv4 {

Routing gate_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                     const float* x, int64_t S, const int64_t* token_ids) {
  const ModelConfig& cfg = ctx.config;
  const int64_t d = cfg.hidden_size, E = cfg.n_routed_experts, k = cfg.num_experts_per_tok;
  Floats logits(size_t(S * E));
  ctx.ops.linear(x, S, d, p.gate, 0, E, logits.data(), E);  // router in fp32, never quantized

  std::vector<int64_t> hash_ids;
  if (spec.hash_routed) {
    const TensorView& table = p.w->tid2eid;
    if (table.dtype != DType::I64 || table.ndim() != 2 || table.dim(1) != k)
      fail("{}: tid2eid must be I64 [vocab, {}], got {} {}", scope, k, dtype_name(table.dtype), shape_str(table.shape));
    hash_ids.resize(size_t(S * k));
    for (int64_t t = 0; t < S; ++t) {
      if (token_ids[t] < 0 || token_ids[t] >= table.dim(0))
        fail("{}: token id {} at position {} outside tid2eid's {} rows", scope, token_ids[t], t, table.dim(0));
      std::memcpy(hash_ids.data() + t * k, table.bytes() + size_t(token_ids[t] * k) * 8, size_t(k) * 8);
    }
  }

  Routing r;
  r.k = k;
  r.scores.resize(size_t(S * E));
  r.ids.resize(size_t(S * k));
  r.weights.resize(size_t(S * k));
  ctx.ops.route(logits.data(), S, E, k, p.bias.empty() ? nullptr : p.bias.data(),
                spec.hash_routed ? hash_ids.data() : nullptr, float(cfg.routed_scaling_factor), r.scores.data(),
                r.ids.data(), r.weights.data());
  if (ctx.recording()) {
    ctx.record(scope, "router_scores", r.scores.data(), {S, E});
    ctx.record_ints(scope, "moe_expert_ids", r.ids.data(), {S, k});
    ctx.record(scope, "moe_expert_weights", r.weights.data(), {S, k});
  }
  return r;
}

}  // namespace dsv4
