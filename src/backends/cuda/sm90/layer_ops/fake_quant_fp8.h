// FP8 act-quant fake-quantization (spec §9.1/§9.2), bit-exact with CpuOps::fake_quant_fp8 /
// core/quant.h (NaN patterns included, see codec.h): per row, blocks of `block` channels of
// x[r, c0 : c0 + n] (the last block may be partial) <- e4m3(clamp(x / s, ±448)) · s with
// s = 2^ceil(log2(max(amax, 1e-4) / 448)); bf16_out rounds the result to bf16.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct FakeQuantFp8Params {
  float* x = nullptr;     // [rows, ld] in place; device
  int64_t rows = 0;       // >= 0
  int64_t ld = 0;         // floats between rows
  int64_t c0 = 0;         // >= 0, first channel
  int64_t n = 0;          // >= 0 channels, c0 + n <= ld
  int64_t block = 128;    // > 0 (64 for KV, 128 for GEMM inputs; any size works)
  bool bf16_out = false;  // round to bf16 (KV fake-quant) or keep fp32 (GEMM inputs)
};

#if DSV4_LAYER_OPS_HOST
Status check_fake_quant_fp8(const FakeQuantFp8Params& p);
Status fake_quant_fp8(const FakeQuantFp8Params& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
