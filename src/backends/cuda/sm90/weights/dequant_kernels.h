// The raw kernel launches behind dequant.h (no checks, no Status: nvcc cannot compile core/error.h's
// fmt in C++20 mode, so the checking launchers live in dequant.cpp and call these). The benchmark
// also calls them directly to compare kernel variants.
// Preconditions (checked by dequant.cpp): 16-byte aligned weight and out, cols % 16 == 0 (FP8) or
// cols % 32 == 0 (MXFP4), rows * cols / 16 (resp. / 32) < 2^32, rows, cols > 0.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace dsv4::cuda::detail {

struct KernelVariant {
  bool packed = true;          // two elements per bf16x2 multiply (else one at a time through fp32)
  bool staged_stores = true;   // each warp's output goes through shared memory so that every store
                               // instruction writes 512 contiguous bytes (else each thread stores
                               // its own 32/64 contiguous bytes directly)
  int chunks_per_thread = 2;   // 16-byte loads in flight per thread: 1, 2 or 4
};

cudaError_t launch_fp8_block_dequant(const uint8_t* weight, const uint8_t* scale, uint16_t* out, int64_t rows,
                                     int64_t cols, KernelVariant variant, cudaStream_t stream);
cudaError_t launch_mxfp4_dequant(const uint8_t* weight, const uint8_t* scale, uint16_t* out, int64_t rows,
                                 int64_t cols, KernelVariant variant, cudaStream_t stream);

}  // namespace dsv4::cuda::detail
