// Router (sqrt-softplus, biased top-k selection, renormalised weights; or fixed hash-routed ids)
// and the clamped SwiGLU (spec §8.1-§8.4).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/error.h"

namespace dsv4 {

namespace {
// torch.nn.functional.softplus with beta 1, threshold 20.
float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }
}  // namespace

void CpuOps::route(const float* logits, int64_t S, int64_t E, int64_t k, const float* bias, const int64_t* fixed_ids,
                   float route_scale, float* scores, int32_t* ids, float* weights) {
  if (k <= 0 || k > E) fail("route: top-k {} with {} experts", k, E);
  for (int64_t t = 0; t < S; ++t) {
    float* sc = scores + t * E;
    for (int64_t e = 0; e < E; ++e) sc[e] = std::sqrt(softplus(logits[t * E + e]));
    int32_t* chosen = ids + t * k;
    if (fixed_ids != nullptr) {
      for (int64_t j = 0; j < k; ++j) {
        const int64_t e = fixed_ids[t * k + j];
        if (e < 0 || e >= E) fail("route: hash-routed expert id {} outside [0, {}) at token {}", e, E, t);
        chosen[j] = int32_t(e);
      }
    } else {
      std::vector<int32_t> order(static_cast<size_t>(E));
      std::iota(order.begin(), order.end(), 0);
      auto biased = [&](int32_t e) { return sc[e] + (bias != nullptr ? bias[e] : 0.0f); };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
        const float va = biased(a), vb = biased(b);
        return va > vb || (va == vb && a < b);
      });
      std::copy(order.begin(), order.begin() + k, chosen);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) sum += sc[chosen[j]];
    for (int64_t j = 0; j < k; ++j) weights[t * k + j] = sc[chosen[j]] / sum * route_scale;
  }
}

void CpuOps::swiglu(const float* g, const float* u, int64_t M, int64_t I, float limit, const float* row_weight,
                    float* h) {
  parallel_rows(M, 8, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const float rw = row_weight != nullptr ? row_weight[m] : 1.0f;
      for (int64_t i = 0; i < I; ++i) {
        float gv = g[m * I + i], uv = u[m * I + i];
        if (limit > 0.0f) {
          gv = std::min(gv, limit);
          uv = std::clamp(uv, -limit, limit);
        }
        const float silu = gv / (1.0f + std::exp(-gv));
        h[m * I + i] = silu * uv * rw;
      }
    }
  });
}

}  // namespace dsv4
