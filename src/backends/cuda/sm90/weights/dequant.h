// Dequantization of checkpoint weights to bf16 on the GPU (Hopper, sm_90a).
//
// Two formats of the checkpoint (spec §10.2):
//  - FP8 block: e4m3 codes [rows, cols] with one UE8M0 scale per 128x128 block,
//    scale [ceil(rows/128), ceil(cols/128)];
//  - MXFP4: e2m1 codes packed two per byte [rows, cols/2] (element 2m in the LOW nibble of byte m)
//    with one UE8M0 scale per 1x32 group, scale [rows, cols/32].
// Output: bf16 bits [rows, cols], row-major. Every element equals, bit for bit, the CPU's
// f32_to_bf16(e4m3_to_f32(q) * e8m0_to_f32(s)) (resp. e2m1), NaNs included (core/dtype.h).
//
// All pointers are device pointers; the launchers check shapes and alignment and return a Status
// naming the requirement that failed, before touching the GPU. Work is queued on `stream`; a
// kernel's own faults surface at the next synchronization, as for any CUDA launch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/error.h"

namespace dsv4::cuda {

// Which code path the kernels take. kPacked (the default) decodes two elements per bf16x2
// multiply; kScalar decodes one element at a time through fp32. Both are bit-identical to the
// CPU; kScalar exists to cross-check kPacked and as a fallback.
enum class DequantPath : uint8_t { kPacked, kScalar };

struct Fp8BlockDequantParams {
  const uint8_t* weight = nullptr;  // F8_E4M3 [rows, cols], 16-byte aligned
  const uint8_t* scale = nullptr;   // F8_E8M0 [ceil(rows/128), ceil(cols/128)]
  uint16_t* out = nullptr;          // BF16 [rows, cols], 16-byte aligned
  int64_t rows = 0;                 // any >= 0
  int64_t cols = 0;                 // multiple of 16 (16 codes per 16-byte load)
  DequantPath path = DequantPath::kPacked;
};

struct Mxfp4DequantParams {
  const uint8_t* weight = nullptr;  // packed e2m1 (I8/U8) [rows, cols/2], 16-byte aligned
  const uint8_t* scale = nullptr;   // F8_E8M0 [rows, cols/32]
  uint16_t* out = nullptr;          // BF16 [rows, cols], 16-byte aligned
  int64_t rows = 0;                 // any >= 0 (a stack of E experts [E*I, d] is one call)
  int64_t cols = 0;                 // multiple of 32 (one scale per 32 elements)
  DequantPath path = DequantPath::kPacked;
};

// Shape/alignment checks alone (no GPU call): ok, or which requirement failed.
Status check_fp8_block_dequant(const Fp8BlockDequantParams& p);
Status check_mxfp4_dequant(const Mxfp4DequantParams& p);

// Checks, then queues the kernel on `stream`. Empty matrices (rows or cols 0) queue nothing.
Status dequant_fp8_block_to_bf16(const Fp8BlockDequantParams& p, cudaStream_t stream);
Status dequant_mxfp4_to_bf16(const Mxfp4DequantParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda
