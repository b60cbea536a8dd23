// Seeded random tensors in the checkpoint formats, generated where they live (device memory for
// --random-weights on a GPU, host memory on the CPU) with the same arithmetic on both backends:
// every element is a pure function of (seed, index), so a tensor is bit-identical whichever
// backend or thread layout made it.
//
// Values: mean + std·z with z an Irwin–Hall(4) variate scaled to unit variance (exact in fp32:
// four 24-bit uniforms, no transcendental functions), bounded by |z| <= 2·sqrt(3). Quantized
// formats use one power-of-two scale for the whole tensor, chosen from that bound as the real
// quantizers choose it from a block's amax (§9.1, §9.3), so every code is in range.
#pragma once

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/codec.h"  // host/device codecs (plain C++ without nvcc)

namespace dsv4 {

enum class RandomFill : uint8_t {
  F32,       // data: float [rows, cols]
  Bf16,      // data: bf16 bits [rows, cols]
  Fp8Block,  // data: e4m3 [rows, cols], scale: e8m0 [ceil(rows/128), ceil(cols/128)]
  Mxfp4,     // data: packed e2m1 [rows, cols/2] (element 2m low nibble), scale: e8m0 [rows, cols/32]
};

struct RandomFillParams {
  RandomFill kind = RandomFill::F32;
  void* data = nullptr;
  void* scale = nullptr;  // quantized kinds only
  int64_t rows = 0, cols = 0;
  float mean = 0.0f, stddev = 1.0f;
  uint64_t seed = 0;
  // A block of a larger [*, full_cols] tensor (a rank's share, model/parallel.h): element (r, c)
  // gets the value of the larger tensor's (row0 + r, col0 + c). full_cols 0 = cols.
  int64_t row0 = 0, col0 = 0, full_cols = 0;
};

namespace random_fill {

inline constexpr float kZBound = 3.4641016f;  // 2·sqrt(3)

DSV4_HD uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// Unit-variance variate of element i.
DSV4_HD float z_of(uint64_t seed, uint64_t i) {
  const uint64_t a = mix(seed ^ (i * 0xD6E8FEB86659FD93ull)), b = mix(a);
  const float u = float(uint32_t(a) >> 8) + float(uint32_t(a >> 32) >> 8) + float(uint32_t(b) >> 8) +
                  float(uint32_t(b >> 32) >> 8);
  return (u * 0x1p-24f - 2.0f) * 1.7320508f;
}
// The larger tensor's element index of element i of the block.
DSV4_HD uint64_t element_index(const RandomFillParams& p, uint64_t i) {
  const int64_t full = p.full_cols > 0 ? p.full_cols : p.cols;
  if (p.row0 == 0 && p.col0 == 0 && full == p.cols) return i;
  const uint64_t r = i / uint64_t(p.cols), c = i % uint64_t(p.cols);
  return (uint64_t(p.row0) + r) * uint64_t(full) + uint64_t(p.col0) + c;
}
// Element i of the block (row-major over [rows, cols]).
DSV4_HD float value_of(const RandomFillParams& p, uint64_t i) {
  return p.mean + p.stddev * z_of(p.seed, element_index(p, i));
}
DSV4_HD float amax_bound(const RandomFillParams& p) {
  const float m = p.mean < 0 ? -p.mean : p.mean, s = p.stddev < 0 ? -p.stddev : p.stddev;
  return m + s * kZBound;
}
DSV4_HD float fp8_scale(const RandomFillParams& p) { return cuda::layer::fp8_block_scale(amax_bound(p)); }
DSV4_HD float fp4_scale(const RandomFillParams& p) { return cuda::layer::fp4_block_scale(amax_bound(p)); }
DSV4_HD uint8_t e8m0_of(float pow2) { return uint8_t((cuda::f32_to_bits(pow2) >> 23) & 0xFF); }
DSV4_HD uint8_t e4m3_code(float v, float s) {
  const float q = cuda::layer::clamp_sym(v / s, 448.0f);
  return uint8_t(cuda::layer::e4m3_encode_mag(q < 0 ? -q : q) | (q < 0 ? 0x80u : 0u));
}
DSV4_HD uint8_t e2m1_code(float v, float s) {
  const float q = cuda::layer::clamp_sym(v / s, 6.0f);
  return uint8_t(cuda::layer::e2m1_encode_mag(q < 0 ? -q : q) | (q < 0 ? 0x8u : 0u));
}

}  // namespace random_fill
}  // namespace dsv4
