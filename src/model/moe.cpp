#include "model/moe.h"

#include <cstring>
#include <vector>

#include "model/expert.h"
#include "model/gate.h"

namespace dsv4 {

Floats moe_forward(const ForwardContext& ctx, const MoEParams& p, const LayerSpec& spec, std::string_view scope,
                   const float* x, int64_t S, const int64_t* token_ids) {
  const ModelConfig& cfg = ctx.config;
  const int64_t d = cfg.hidden_size, E = cfg.n_routed_experts;
  const Routing routing = gate_forward(ctx, p, spec, scope, x, S, token_ids);
  const int64_t k = routing.k;

  Floats Y(size_t(S * d), 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    std::vector<int64_t> rows;
    Floats row_weight;
    for (int64_t t = 0; t < S; ++t)
      for (int64_t j = 0; j < k; ++j)
        if (routing.ids[size_t(t * k + j)] == e) {
          rows.push_back(t);
          row_weight.push_back(routing.weights[size_t(t * k + j)]);
        }
    if (rows.empty()) continue;
    const int64_t M = int64_t(rows.size());
    Floats xg(size_t(M * d)), yg(size_t(M * d));
    for (int64_t m = 0; m < M; ++m) std::memcpy(xg.data() + m * d, x + rows[size_t(m)] * d, size_t(d) * sizeof(float));
    expert_forward(ctx, p.w->experts.at(size_t(e)), xg.data(), M, row_weight.data(), yg.data());
    for (int64_t m = 0; m < M; ++m) {
      float* dst = Y.data() + rows[size_t(m)] * d;
      const float* src = yg.data() + m * d;
      for (int64_t c = 0; c < d; ++c) dst[c] += src[c];
    }
  }

  if (cfg.n_shared_experts > 0) {
    Floats ys(size_t(S * d));
    expert_forward(ctx, p.w->shared, x, S, nullptr, ys.data());
    for (size_t i = 0; i < Y.size(); ++i) Y[i] += ys[i];
  }
  return Y;
}

}  // namespace dsv4
