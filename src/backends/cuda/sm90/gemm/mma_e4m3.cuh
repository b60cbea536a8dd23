// The one FP8 tensor-core instruction of the official-numerics GEMMs (mma_gemm in gemm_core.cuh,
// decode_fp8_gemm in decode_fp8_kernel.cuh): both kernels feed it the same fragments in the same
// k order, which is what makes their outputs bitwise equal (linear.h, batch invariance).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace dsv4::cuda::gemm {

// c += A(16x32, e4m3, row) · B(32x8, e4m3, col) in fp32. Fragments (lane l, g = l / 4, q = l % 4):
// a[0] = A[g][4q..4q+3], a[1] = A[g+8][4q..], a[2] = A[g][16+4q..], a[3] = A[g+8][16+4q..];
// b[0] = B[4q..4q+3][g], b[1] = B[16+4q..][g]; c[0..1] = C[g][2q, 2q+1], c[2..3] = C[g+8][2q, 2q+1].
__device__ __forceinline__ void mma_e4m3(float c[4], const uint32_t a[4], const uint32_t b[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

}  // namespace dsv4::cuda::gemm
