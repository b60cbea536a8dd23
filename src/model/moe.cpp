#include "model/moe.h"

#include <cstring>
#include <vector>

#include "core/error.h"

namespace dsv4 {

void expert_forward(const ForwardContext& ctx, const ExpertWeights& e, const float* x, int64_t M,
                    const float* row_weight, float* y) {
  const int64_t I = e.w1.out;
  Floats g(size_t(M * I)), u(size_t(M * I));
  project(ctx, x, M, e.w1, g.data());
  project(ctx, x, M, e.w3, u.data());
  ctx.ops.swiglu(g.data(), u.data(), M, I, float(ctx.config.swiglu_limit), row_weight, g.data());
  project(ctx, g.data(), M, e.w2, y);
}

Floats moe_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                   const float* x, int64_t S, const int64_t* token_ids) {
  const ModelConfig& cfg = ctx.config;
  const int64_t d = cfg.hidden_size, E = cfg.n_routed_experts, k = cfg.num_experts_per_tok;

  // Gate.
  Floats logits(size_t(S * E));
  ctx.ops.linear(x, S, d, p.gate, 0, E, logits.data(), E);
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
  Floats scores(size_t(S * E)), weights(size_t(S * k));
  std::vector<int32_t> ids(static_cast<size_t>(S * k));
  ctx.ops.route(logits.data(), S, E, k, p.bias.empty() ? nullptr : p.bias.data(),
                spec.hash_routed ? hash_ids.data() : nullptr, float(cfg.routed_scaling_factor), scores.data(),
                ids.data(), weights.data());
  if (ctx.recording()) {
    ctx.record(scope, "router_scores", scores.data(), {S, E});
    ctx.record_ints(scope, "moe_expert_ids", ids.data(), {S, k});
    ctx.record(scope, "moe_expert_weights", weights.data(), {S, k});
  }

  // Routed experts, ascending expert id; each runs on the rows routed to it.
  Floats Y(size_t(S * d), 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    std::vector<int64_t> rows;
    Floats rw;
    for (int64_t t = 0; t < S; ++t)
      for (int64_t j = 0; j < k; ++j)
        if (ids[size_t(t * k + j)] == e) {
          rows.push_back(t);
          rw.push_back(weights[size_t(t * k + j)]);
        }
    if (rows.empty()) continue;
    const int64_t M = int64_t(rows.size());
    Floats xg(size_t(M * d)), yg(size_t(M * d));
    for (int64_t m = 0; m < M; ++m) std::memcpy(xg.data() + m * d, x + rows[size_t(m)] * d, size_t(d) * 4);
    expert_forward(ctx, p.w->experts.at(size_t(e)), xg.data(), M, rw.data(), yg.data());
    for (int64_t m = 0; m < M; ++m) {
      float* dst = Y.data() + rows[size_t(m)] * d;
      const float* src = yg.data() + m * d;
      for (int64_t c = 0; c < d; ++c) dst[c] += src[c];
    }
  }

  // Shared expert (same clamp, no routing weight).
  if (cfg.n_shared_experts > 0) {
    Floats ys(size_t(S * d));
    expert_forward(ctx, p.w->shared, x, S, nullptr, ys.data());
    for (size_t i = 0; i < Y.size(); ++i) Y[i] += ys[i];
  }
  return Y;
}

}  // namespace dsv4
