// RMSNorm and interleaved-pair RoPE (spec §3, §2.4).
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/error.h"

namespace dsv4 {

void CpuOps::rms_norm(const float* x, int64_t rows, int64_t n, int64_t ld, const float* weight, float eps,
                      float* y) {
  if (n <= 0 || ld < n) fail("rms_norm: bad width {} / stride {}", n, ld);
  parallel_rows(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * ld;
      float* yr = y + r * ld;
      double ss = 0.0;
      for (int64_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
      const float inv = float(1.0 / std::sqrt(ss / double(n) + double(eps)));
      if (weight != nullptr) {
        for (int64_t i = 0; i < n; ++i) yr[i] = weight[i] * (xr[i] * inv);
      } else {
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * inv;
      }
    }
  });
}

void CpuOps::rope(float* x, int64_t rows, int64_t vecs, int64_t row_stride, int64_t vec_stride, int64_t offset,
                  const int64_t* positions, const RopeTable& freqs, bool inverse) {
  const int64_t pairs = freqs.rope_dim / 2;
  if (offset < 0 || (vecs > 1 && vec_stride < offset + 2 * pairs))
    fail("rope: channels [{}, {}) do not fit a vector stride of {}", offset, offset + 2 * pairs, vec_stride);
  parallel_rows(rows, 8, [&](int64_t r0, int64_t r1) {
    std::vector<float> cs(static_cast<size_t>(pairs)), sn(static_cast<size_t>(pairs));
    for (int64_t r = r0; r < r1; ++r) {
      const float pos = float(positions[r]);
      for (int64_t i = 0; i < pairs; ++i) {
        const float angle = pos * freqs.inv_freq[i];
        cs[size_t(i)] = std::cos(angle);
        sn[size_t(i)] = inverse ? -std::sin(angle) : std::sin(angle);
      }
      for (int64_t v = 0; v < vecs; ++v) {
        float* p = x + r * row_stride + v * vec_stride + offset;
        for (int64_t i = 0; i < pairs; ++i) {
          const float a = p[2 * i], b = p[2 * i + 1];
          p[2 * i] = a * cs[size_t(i)] - b * sn[size_t(i)];
          p[2 * i + 1] = a * sn[size_t(i)] + b * cs[size_t(i)];
        }
      }
    }
  });
}

}  // namespace dsv4
