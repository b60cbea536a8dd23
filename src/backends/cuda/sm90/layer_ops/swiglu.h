// Clamped SwiGLU, as CpuOps::swiglu: h[m, i] = silu(min(g, limit)) · clamp(u, ±limit) · row_weight[m]
// (no clamping when limit <= 0; row_weight null = 1). silu(g) = g / (1 + exp(-g)) in fp32 steps with
// exp rounded once from double (codec.h), so it nearly always equals the CPU bit for bit.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct SwigluParams {
  const float* g = nullptr;           // [M, I] device
  const float* u = nullptr;           // [M, I] device
  const float* row_weight = nullptr;  // [M] or null
  float* h = nullptr;                 // [M, I]; h == g (or h == u) allowed
  int64_t M = 0;                      // >= 0
  int64_t I = 0;                      // >= 0
  float limit = 0.0f;                 // swiglu_limit (10 in V4); <= 0: no clamp
};

#if DSV4_LAYER_OPS_HOST
Status check_swiglu(const SwigluParams& p);
Status swiglu(const SwigluParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
