// RandomFill on the CPU (backends/random_fill.h): the same per-element arithmetic as the CUDA
// kernels, so random weights are bit-identical on both backends.
#include "backends/cpu/cpu_ops.h"
#include "backends/random_fill.h"
#include "core/error.h"

namespace dsv4 {

void CpuOps::fill_random(const RandomFillParams& p) {
  using namespace random_fill;
  if (p.rows < 0 || p.cols < 0 || p.data == nullptr) fail("fill_random: bad shape [{}, {}] or null data", p.rows, p.cols);
  const int64_t R = p.rows, C = p.cols;
  switch (p.kind) {
    case RandomFill::F32: {
      auto* out = static_cast<float*>(p.data);
      parallel_rows(R, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0 * C; i < r1 * C; ++i) out[i] = value_of(p, uint64_t(i));
      });
      return;
    }
    case RandomFill::Bf16: {
      auto* out = static_cast<uint16_t*>(p.data);
      parallel_rows(R, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0 * C; i < r1 * C; ++i) out[i] = cuda::bf16_rne_not_nan(cuda::f32_to_bits(value_of(p, uint64_t(i))));
      });
      return;
    }
    case RandomFill::Fp8Block: {
      const float s = fp8_scale(p);
      auto* out = static_cast<uint8_t*>(p.data);
      parallel_rows(R, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0 * C; i < r1 * C; ++i) out[i] = e4m3_code(value_of(p, uint64_t(i)), s);
      });
      auto* sc = static_cast<uint8_t*>(p.scale);
      for (int64_t i = 0; i < ((R + 127) / 128) * ((C + 127) / 128); ++i) sc[i] = e8m0_of(s);
      return;
    }
    case RandomFill::Mxfp4: {
      if (C % 32 != 0) fail("fill_random: MXFP4 needs cols % 32 == 0, got {}", C);
      const float s = fp4_scale(p);
      auto* out = static_cast<uint8_t*>(p.data);
      parallel_rows(R, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0 * C; i < r1 * C; i += 2)
          out[i / 2] = uint8_t(e2m1_code(value_of(p, uint64_t(i)), s) | (e2m1_code(value_of(p, uint64_t(i + 1)), s) << 4));
      });
      auto* sc = static_cast<uint8_t*>(p.scale);
      for (int64_t i = 0; i < R * (C / 32); ++i) sc[i] = e8m0_of(s);
      return;
    }
  }
}

}  // namespace dsv4
