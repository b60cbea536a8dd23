// The official numerics' quantization points (spec §9) over rows, built on core/quant.h.
#include "backends/cpu/cpu_ops.h"
#include "core/error.h"
#include "core/quant.h"

namespace dsv4 {

void CpuOps::fake_quant_fp8(float* x, int64_t rows, int64_t ld, int64_t c0, int64_t n, int64_t block,
                            bool bf16_out) {
  if (block <= 0 || c0 < 0 || c0 + n > ld) fail("fake_quant_fp8: channels [{}, {}) outside stride {}", c0, c0 + n, ld);
  parallel_rows(rows, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* p = x + r * ld + c0;
      if (bf16_out)
        dsv4::fake_quant_fp8(p, size_t(n), size_t(block));
      else
        quant_dequant_fp8(p, size_t(n), size_t(block));
    }
  });
}

void CpuOps::fake_quant_nvfp4(float* x, int64_t rows, int64_t n, float input_scale) {
  parallel_rows(rows, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) quant_dequant_nvfp4(x + r * n, size_t(n), input_scale);
  });
}

void CpuOps::hadamard_fp4(float* x, int64_t rows, int64_t n) {
  parallel_rows(rows, 32, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      hadamard_transform(x + r * n, size_t(n));
      fake_quant_fp4(x + r * n, size_t(n), 32);
    }
  });
}

}  // namespace dsv4
