// Walsh–Hadamard transform (scaled n^-1/2) then FP4 e2m1 fake-quant in 1×32 blocks (spec §9.3),
// bit-exact with CpuOps::hadamard_fp4: the butterflies run in core/quant.cpp hadamard_transform's
// order (stage h = 1, 2, 4, ...: x[j], x[j+h] <- x[j] + x[j+h], x[j] - x[j+h]), one warp per row.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct HadamardFp4Params {
  float* x = nullptr;  // [rows, n] contiguous, in place; device
  int64_t rows = 0;    // >= 0
  int64_t n = 128;     // power of two in [32, 1024] (index_head_dim = 128)
};

#if DSV4_LAYER_OPS_HOST
Status check_hadamard_fp4(const HadamardFp4Params& p);
Status hadamard_fp4(const HadamardFp4Params& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
