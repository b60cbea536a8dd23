// Scalar codecs of the GEMM family (activation quantization, FP4 -> FP8 re-encoding), written as
// __host__ __device__ functions so that the CPU tests (tests/cuda/gemm_test.cpp, host part) check
// these exact lines against core/quant.h and core/dtype.h without a GPU.
#pragma once

#include <cstdint>

#include "backends/cuda/sm90/weights/dequant_codec.h"  // DSV4_HD, bits_to_f32, f32_to_bits

namespace dsv4::cuda::gemm {

// §9.1 power-of-two scale of a 1x128 activation block: 2^ceil(log2(max(amax, 1e-4) * (1/448)))
// by the reference's bit trick (exponent field, +1 when the mantissa is non-zero).
DSV4_HD float fp8_act_scale(float amax) {
  const float a = (amax > 1e-4f ? amax : 1e-4f) * (1.0f / 448.0f);
  const uint32_t b = f32_to_bits(a);
  const int e = int((b >> 23) & 0xFFu) - 127 + ((b & 0x7FFFFFu) != 0 ? 1 : 0);
  return bits_to_f32(uint32_t(e + 127) << 23);
}

// e2m1 code (sign bit 3) of x: round to nearest, ties to the even code, saturating at ±6; NaN -> 0x7
// (as core/dtype.h f32_to_e2m1).
DSV4_HD uint32_t f32_to_e2m1_code(float x) {
  if (x != x) return 0x7u;
  const uint32_t sign = (f32_to_bits(x) >> 28) & 0x8u;
  const float m = x < 0.0f ? -x : x;
  uint32_t c;
  if (m <= 0.25f) c = 0;
  else if (m < 0.75f) c = 1;
  else if (m <= 1.25f) c = 2;
  else if (m < 1.75f) c = 3;
  else if (m <= 2.5f) c = 4;
  else if (m < 3.5f) c = 5;
  else if (m <= 5.0f) c = 6;
  else c = 7;
  return sign | c;
}

// |e2m1 code| -> its value (0, 0.5, 1, 1.5, 2, 3, 4, 6), sign from bit 3.
DSV4_HD float e2m1_code_value(uint32_t code) {
  const float v = bits_to_f32((code & 0x7u) << 22) * 0x1p126f;
  return (code & 0x8u) ? -v : v;
}

// e4m3 bytes of the eight e2m1 magnitudes (exact: every e2m1 value is an e4m3 value), as two words
// for prmt: byte i of {hi:lo} = e4m3(|code i|).
constexpr uint32_t kE2m1ToE4m3Lo = 0x3C383000u;  // 1.5, 1.0, 0.5, 0
constexpr uint32_t kE2m1ToE4m3Hi = 0x4C484440u;  // 6, 4, 3, 2

// Four e2m1 codes in the low 16 bits of `nib` (nibble i = element i) -> four e4m3 bytes.
DSV4_HD uint32_t e2m1x4_to_e4m3x4(uint32_t nib) {
  const uint32_t mag = byte_perm(kE2m1ToE4m3Lo, kE2m1ToE4m3Hi, nib & 0x7777u);
  const uint32_t s = nib & 0x8888u;  // sign of element i at bit 4i+3 -> bit 8i+7
  const uint32_t sgn = ((s & 0x8u) << 4) | ((s & 0x80u) << 8) | ((s & 0x800u) << 12) | ((s & 0x8000u) << 16);
  return mag | sgn;
}

// 2^(s-127) for an e8m0 byte; 255 -> NaN (as core/dtype.h e8m0_to_f32).
DSV4_HD float e8m0_value(uint32_t s) {
  return s == 0xFFu ? bits_to_f32(0x7FC00000u) : e8m0_scale(uint8_t(s));
}

}  // namespace dsv4::cuda::gemm
