// Manifold-constrained hyper-connections (spec §6): pre (collapse + mixing coefficients +
// Sinkhorn), post, and the final head collapse. Per token, fp32.
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/error.h"

namespace dsv4 {

namespace {

constexpr int kMaxStreams = 16;

float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// 1 / sqrt(mean(x²) + eps) over the flattened n·d streams of one token.
float stream_rms_inv(const float* x, int64_t len, float eps) {
  double ss = 0.0;
  for (int64_t i = 0; i < len; ++i) ss += double(x[i]) * double(x[i]);
  return float(1.0 / std::sqrt(ss / double(len) + double(eps)));
}

// Sinkhorn projection of the n×n logits Z (row-major [j][k]) into comb, in the spec's order:
// row softmax + eps, column normalise, then (iters - 1) × (row normalise, column normalise).
void sinkhorn(const float* Z, int n, float eps, int iters, float* C) {
  for (int j = 0; j < n; ++j) {
    float mx = Z[j * n];
    for (int k = 1; k < n; ++k) mx = std::max(mx, Z[j * n + k]);
    float sum = 0.0f;
    for (int k = 0; k < n; ++k) sum += (C[j * n + k] = std::exp(Z[j * n + k] - mx));
    for (int k = 0; k < n; ++k) C[j * n + k] = C[j * n + k] / sum + eps;
  }
  auto normalise_columns = [&] {
    for (int k = 0; k < n; ++k) {
      float sum = 0.0f;
      for (int j = 0; j < n; ++j) sum += C[j * n + k];
      for (int j = 0; j < n; ++j) C[j * n + k] /= (sum + eps);
    }
  };
  auto normalise_rows = [&] {
    for (int j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int k = 0; k < n; ++k) sum += C[j * n + k];
      for (int k = 0; k < n; ++k) C[j * n + k] /= (sum + eps);
    }
  };
  normalise_columns();
  for (int it = 1; it < iters; ++it) {
    normalise_rows();
    normalise_columns();
  }
}

}  // namespace

void CpuOps::hc_pre(const float* X, int64_t S, const HcShape& hc, const float* fn, const float* scale,
                    const float* base, float* a_in, float* post, float* comb) {
  const int n = hc.n;
  const int64_t d = hc.d, width = int64_t(n) * d;
  const int mix = (2 + n) * n;
  if (n < 1 || n > kMaxStreams) fail("hc_pre: {} streams (supported 1..{})", n, kMaxStreams);
  parallel_rows(S, 4, [&](int64_t s0, int64_t s1) {
    std::vector<float> m(static_cast<size_t>(mix));
    for (int64_t s = s0; s < s1; ++s) {
      const float* x = X + s * width;
      const float r = stream_rms_inv(x, width, hc.norm_eps);
      for (int i = 0; i < mix; ++i) m[size_t(i)] = cpu::dot(fn + int64_t(i) * width, x, width) * r;
      float pre[kMaxStreams];
      for (int j = 0; j < n; ++j) pre[j] = sigmoid(m[size_t(j)] * scale[0] + base[j]) + hc.hc_eps;
      for (int j = 0; j < n; ++j) post[s * n + j] = 2.0f * sigmoid(m[size_t(n + j)] * scale[1] + base[n + j]);
      std::vector<float> Z(static_cast<size_t>(n * n));
      for (int i = 0; i < n * n; ++i) Z[size_t(i)] = m[size_t(2 * n + i)] * scale[2] + base[2 * n + i];
      sinkhorn(Z.data(), n, hc.hc_eps, hc.sinkhorn_iters, comb + s * n * n);
      float* out = a_in + s * d;
      for (int64_t c = 0; c < d; ++c) {
        float acc = 0.0f;
        for (int j = 0; j < n; ++j) acc += pre[j] * x[j * d + c];
        out[c] = acc;
      }
    }
  });
}

void CpuOps::hc_post(const float* f, const float* X, const float* post, const float* comb, int64_t S,
                     const HcShape& hc, float* Xout) {
  const int n = hc.n;
  const int64_t d = hc.d;
  parallel_rows(S, 4, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const float* x = X + s * n * d;
      const float* cm = comb + s * n * n;
      for (int k = 0; k < n; ++k) {
        float* out = Xout + (s * n + k) * d;
        const float pk = post[s * n + k];
        for (int64_t c = 0; c < d; ++c) {
          float acc = pk * f[s * d + c];
          for (int j = 0; j < n; ++j) acc += cm[j * n + k] * x[j * d + c];
          out[c] = acc;
        }
      }
    }
  });
}

void CpuOps::hc_head(const float* X, int64_t S, const HcShape& hc, const float* fn, const float* scale,
                     const float* base, float* y) {
  const int n = hc.n;
  const int64_t d = hc.d, width = int64_t(n) * d;
  if (n < 1 || n > kMaxStreams) fail("hc_head: {} streams (supported 1..{})", n, kMaxStreams);
  parallel_rows(S, 4, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const float* x = X + s * width;
      const float r = stream_rms_inv(x, width, hc.norm_eps);
      float w[kMaxStreams];
      for (int j = 0; j < n; ++j) w[j] = sigmoid(cpu::dot(fn + j * width, x, width) * r * scale[0] + base[j]) + hc.hc_eps;
      for (int64_t c = 0; c < d; ++c) {
        float acc = 0.0f;
        for (int j = 0; j < n; ++j) acc += w[j] * x[j * d + c];
        y[s * d + c] = acc;
      }
    }
  });
}

}  // namespace dsv4
