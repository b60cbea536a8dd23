// The inner kernels of the CPU backend: dot products, and the GEMM block: out[r][c] = x_r · w_c for up to 4 input rows and 2
// weight rows of length K (dot-product form; both operands contiguous along K). An AVX2+FMA
// version is chosen at run time where the CPU has it; the portable version is plain C++.
#pragma once

#include <cstdint>

namespace dsv4::cpu {

// xs[4], ws[2]: row pointers (callers pad short blocks by repeating a valid row).
using DotBlockFn = void (*)(const float* const* xs, const float* const* ws, int64_t K, float* out /*[4][2]*/);
DotBlockFn dot_block_4x2();

// Σ a[i]·b[i] (fp32 partial sums in 8–16 lanes).
float dot(const float* a, const float* b, int64_t n);
// y[i] += a·x[i]
void axpy(float a, const float* x, float* y, int64_t n);

}  // namespace dsv4::cpu
