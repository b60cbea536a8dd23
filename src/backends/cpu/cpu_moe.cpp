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

void CpuOps::route(const float* logits, int64_t S, int64_t E, int64_t k, const float* bias, const int64_t* tid2eid,
                   const int64_t* token_ids, int64_t vocab, float route_scale, float* scores, int32_t* ids,
                   float* weights) {
  if (k <= 0 || k > E) fail("route: top-k {} with {} experts", k, E);
  for (int64_t t = 0; t < S; ++t) {
    float* sc = scores + t * E;
    for (int64_t e = 0; e < E; ++e) sc[e] = std::sqrt(softplus(logits[t * E + e]));
    int32_t* chosen = ids + t * k;
    if (tid2eid != nullptr) {
      if (token_ids[t] < 0 || token_ids[t] >= vocab)
        fail("route: token id {} at row {} outside tid2eid's {} rows", token_ids[t], t, vocab);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t e = tid2eid[token_ids[t] * k + j];
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

namespace dsv4 {

void CpuOps::moe_routed(const MoeArgs& a) {
  const int64_t T = a.T, d = a.d, k = a.k;
  std::fill(a.y, a.y + T * d, 0.0f);
  const int64_t total = a.experts_total > 0 ? a.experts_total : a.E;
  if (a.expert0 < 0 || a.expert0 + a.E > total)
    fail("moe: experts [{}, {}) outside the layer's {}", a.expert0, a.expert0 + a.E, total);
  for (int64_t i = 0; i < T * k; ++i)
    if (a.ids[i] >= total) fail("moe: expert id {} outside [0, {}) at token {}", a.ids[i], total, i / k);
  // Per expert held here: gather its tokens, run the expert on them, scatter-add (expert order,
  // then token order, as the reference's loop over experts). Ids of other ranks' experts skipped.
  for (int64_t e = 0; e < a.E; ++e) {
    const int64_t id = a.expert0 + e;
    std::vector<int64_t> rows;
    std::vector<float> row_weight;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < k; ++j)
        if (a.ids[t * k + j] == id) {
          rows.push_back(t);
          row_weight.push_back(a.weights[t * k + j]);
        }
    if (rows.empty()) continue;
    const ExpertWeights& ex = a.experts[e];
    const int64_t M = int64_t(rows.size()), I = ex.w1.out;
    std::vector<float> xg(size_t(M * d)), g(size_t(M * I)), u(size_t(M * I)), yg(size_t(M * d));
    for (int64_t m = 0; m < M; ++m) std::copy(a.x + rows[size_t(m)] * d, a.x + (rows[size_t(m)] + 1) * d, xg.begin() + m * d);
    linear(LinearArgs{xg.data(), M, d, &ex.w1, 0, I, g.data(), I, a.act});
    linear(LinearArgs{xg.data(), M, d, &ex.w3, 0, I, u.data(), I, a.act});
    swiglu(g.data(), u.data(), M, I, a.swiglu_limit, row_weight.data(), g.data());
    linear(LinearArgs{g.data(), M, I, &ex.w2, 0, d, yg.data(), d, a.act});
    for (int64_t m = 0; m < M; ++m) {
      float* dst = a.y + rows[size_t(m)] * d;
      const float* src = yg.data() + m * d;
      for (int64_t c = 0; c < d; ++c) dst[c] += src[c];
    }
  }
}

void CpuOps::embed(const int64_t* ids, int64_t T, const TensorView& table, int n, float* X) {
  if (table.dtype != DType::BF16 || table.ndim() != 2) fail("embed: table must be BF16 [vocab, d]");
  const int64_t vocab = table.dim(0), d = table.dim(1);
  const uint16_t* bits = table.as<uint16_t>();
  for (int64_t t = 0; t < T; ++t) {
    if (ids[t] < 0 || ids[t] >= vocab) fail("embed: token id {} outside [0, {}) at row {}", ids[t], vocab, t);
    float* row = X + t * n * d;
    for (int64_t c = 0; c < d; ++c) row[c] = bf16_to_f32(bits[ids[t] * d + c]);
    for (int j = 1; j < n; ++j) std::copy(row, row + d, row + j * d);
  }
}

void CpuOps::add(float* y, const float* x, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace dsv4
