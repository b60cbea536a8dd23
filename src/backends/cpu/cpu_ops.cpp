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

}  // namespace dsv4

#include "core/error.h"

namespace dsv4 {

// The default graph entries, for backends without graphs.
void Ops::graph_begin() { fail("{} backend: no CUDA graphs", name()); }
uint64_t Ops::graph_end() { fail("{} backend: no CUDA graphs", name()); }
void Ops::graph_replay(uint64_t) { fail("{} backend: no CUDA graphs", name()); }
void Ops::graph_release(uint64_t) {}

}  // namespace dsv4
