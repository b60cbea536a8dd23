#include "backends/cpu/cpu_ops.h"

#include <algorithm>

namespace dsv4 {

Ops& cpu_ops() {
  static CpuOps ops(default_thread_pool());
  return ops;
}

void CpuOps::parallel_rows(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = int64_t(pool_.threads()) * 4;
  const int64_t chunks = std::clamp<int64_t>(n / grain, 1, max_chunks);
  const int64_t step = (n + chunks - 1) / chunks;
  const int64_t count = (n + step - 1) / step;
  pool_.parallel_for(size_t(count), [&](size_t c) {
    const int64_t b = int64_t(c) * step;
    fn(b, std::min(n, b + step));
  });
}

namespace cpu {

float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail;
}

}  // namespace cpu
}  // namespace dsv4
