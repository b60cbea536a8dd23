// Lightning-indexer scores and top-k (spec §7.4), core attention with sink (spec §7.6).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/error.h"

namespace dsv4 {

void CpuOps::indexer_scores(const float* q, const float* wts, const float* keys, int64_t S, int64_t nh, int64_t hd,
                            int64_t Ne, const int64_t* positions, int ratio, float* score) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  parallel_rows(S, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t visible = (positions[t] + 1) / ratio;
      for (int64_t w = 0; w < Ne; ++w) {
        if (w >= visible) {
          score[t * Ne + w] = neg_inf;
          continue;
        }
        float acc = 0.0f;
        for (int64_t h = 0; h < nh; ++h) {
          const float qk = cpu::dot(q + (t * nh + h) * hd, keys + w * hd, hd);
          acc += wts[t * nh + h] * std::max(qk, 0.0f);
        }
        score[t * Ne + w] = acc;
      }
    }
  });
}

void CpuOps::topk_indices(const float* score, int64_t S, int64_t Ne, int64_t k, int32_t* sel) {
  if (k > Ne || k < 0) fail("topk_indices: k = {} with {} candidates", k, Ne);
  parallel_rows(S, 16, [&](int64_t t0, int64_t t1) {
    std::vector<int32_t> order(static_cast<size_t>(Ne));
    for (int64_t t = t0; t < t1; ++t) {
      const float* row = score + t * Ne;
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
        return row[a] > row[b] || (row[a] == row[b] && a < b);
      });
      for (int64_t j = 0; j < k; ++j) {
        const int32_t w = order[size_t(j)];
        sel[t * k + j] = std::isinf(row[w]) && row[w] < 0 ? -1 : w;
      }
    }
  });
}

void CpuOps::sparse_attention(const float* q, const float* keys, const int32_t* idx, const float* sink, int64_t S,
                              int64_t H, int64_t D, int64_t Nk, int64_t kw, float scale, float* out) {
  for (int64_t i = 0; i < S * kw; ++i)
    if (idx[i] >= Nk) fail("sparse_attention: key index {} out of range ({} keys) at query {}", idx[i], Nk, i / kw);
  parallel_rows(S * H, 4, [&](int64_t r0, int64_t r1) {
    std::vector<float> p(static_cast<size_t>(kw));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r / H, h = r % H;
      const float* qv = q + r * D;
      const int32_t* ids = idx + t * kw;
      float mx = sink[h];
      for (int64_t j = 0; j < kw; ++j) {
        if (ids[j] < 0) continue;
        p[size_t(j)] = cpu::dot(qv, keys + int64_t(ids[j]) * D, D) * scale;
        mx = std::max(mx, p[size_t(j)]);
      }
      float den = std::exp(sink[h] - mx);
      for (int64_t j = 0; j < kw; ++j) {
        if (ids[j] < 0) continue;
        p[size_t(j)] = std::exp(p[size_t(j)] - mx);
        den += p[size_t(j)];
      }
      float* o = out + r * D;
      std::fill(o, o + D, 0.0f);
      for (int64_t j = 0; j < kw; ++j) {
        if (ids[j] < 0) continue;
        cpu::axpy(p[size_t(j)] / den, keys + int64_t(ids[j]) * D, o, D);
      }
    }
  });
}

}  // namespace dsv4
