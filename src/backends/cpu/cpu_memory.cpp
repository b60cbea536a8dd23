// Backend memory of the CPU reference: host memory (aligned for the vectorized loops).
#include <cstdlib>
#include <cstring>

#include "backends/cpu/cpu_ops.h"
#include "core/error.h"

namespace dsv4 {

void* CpuOps::alloc(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) fail("cpu: out of host memory allocating {} bytes", bytes);
  return p;
}

void CpuOps::free(void* p) { std::free(p); }

void CpuOps::upload(void* dst, const void* host_src, size_t bytes) {
  if (bytes != 0) std::memcpy(dst, host_src, bytes);
}

void CpuOps::download(void* host_dst, const void* src, size_t bytes) {
  if (bytes != 0) std::memcpy(host_dst, src, bytes);
}

void CpuOps::copy(void* dst, const void* src, size_t bytes) {
  if (bytes != 0) std::memmove(dst, src, bytes);
}

void CpuOps::fill_zero(void* dst, size_t bytes) {
  if (bytes != 0) std::memset(dst, 0, bytes);
}

void CpuOps::gather_rows(const GatherRowsParams& p) {
  const char* what = "cpu_gather_rows";
  if (p.n < 0 || p.W < 0 || p.src_rows < 0) fail("{}: n = {}, W = {}, src_rows = {} invalid", what, p.n, p.W, p.src_rows);
  if (p.n == 0 || p.W == 0) return;
  if (!p.rows || !p.dst || (p.src_rows > 0 && !p.src)) fail("{}: null pointer", what);
  for (int64_t i = 0; i < p.n; ++i)
    if (p.rows[i] >= p.src_rows) fail("{}: rows[{}] = {} out of range (src_rows = {})", what, i, p.rows[i], p.src_rows);
  const size_t row_bytes = size_t(p.W) * sizeof(float);
  for (int64_t i = 0; i < p.n; ++i) {
    float* d = p.dst + i * p.W;
    if (p.rows[i] < 0)
      std::memset(d, 0, row_bytes);
    else
      std::memcpy(d, p.src + int64_t(p.rows[i]) * p.W, row_bytes);
  }
}

}  // namespace dsv4
