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

}  // namespace dsv4
