// RMSNorm on the GPU, the same arithmetic as CpuOps::rms_norm (backends/ops.h):
//   y[r, :] = weight · (x[r, :] · inv),  inv = float(1 / sqrt(Σ double(x)² / n + eps))
// The sum of squares is accumulated in double (as the CPU), in a fixed per-row order, so the result
// equals the CPU's up to the rare last-bit flip of inv; rows are independent of each other.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct RmsNormParams {
  const float* x = nullptr;       // [rows, ld] (first n of each row used); device
  float* y = nullptr;             // [rows, ld]; y == x allowed (in place); other aliasing not
  const float* weight = nullptr;  // [n] or null (unweighted)
  int64_t rows = 0;               // >= 0
  int64_t n = 0;                  // > 0 (any; float4 path when n, ld % 4 == 0 and x, y 16-byte aligned)
  int64_t ld = 0;                 // >= n, floats between rows
  float eps = 1e-6f;
};

#if DSV4_LAYER_OPS_HOST
Status check_rms_norm(const RmsNormParams& p);
Status rms_norm(const RmsNormParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
