// y[i] += alpha · x[i] for i < n (the residual / scaled accumulate of the forward pass; the lead's
// CpuOps::add). One fp32 multiply then one add (never fused), so bit-exact with the CPU loop.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct AddParams {
  float* y = nullptr;        // [n] in/out, device
  const float* x = nullptr;  // [n] device; x == y allowed
  int64_t n = 0;             // >= 0 (float4 path when both pointers are 16-byte aligned and n % 4 == 0)
  float alpha = 1.0f;
};

#if DSV4_LAYER_OPS_HOST
Status check_add(const AddParams& p);
Status add(const AddParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
