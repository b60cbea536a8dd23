// Bit-exact scalar codecs of the paged cache formats (backends/paged_ops.h), shared by the
// kernels and their host-side checks. The header compiles as plain C++ too (the __host__
// __device__ marks vanish), so tests/cuda/paged_ops_test.cpp checks these exact lines against
// core/dtype.h and core/quant.h on the host without a GPU.
//
// Encoders reproduce core/dtype.h's f32_to_e4m3 / f32_to_e2m1 / f32_to_bf16 (RNE, satfinite,
// NaN rules) with integer rounding on the fp32 bits; the block scales reproduce
// fp8_block_scale / fp4_block_scale (core/quant.cpp). No arithmetic here may be contracted or
// approximated: the kernels are built without --use_fast_math, and the few float operations use
// the explicitly rounded intrinsics on the device.
#pragma once

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/codec.h"  // bits_to_f32, f32_to_bits, mul_rn, div_rn (one copy)

#if defined(__CUDACC__)
#define DSV4_PHD __host__ __device__ __forceinline__
#else
#define DSV4_PHD inline
#endif

namespace dsv4::cuda::paged {

using layer::div_rn;
using layer::mul_rn;
DSV4_PHD float as_f32(uint32_t u) { return bits_to_f32(u); }
DSV4_PHD uint32_t as_u32(float x) { return f32_to_bits(x); }
DSV4_PHD float rint_rn(float x) {  // round to nearest even (x small and non-negative here)
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return __builtin_rintf(x);
#endif
}
DSV4_PHD float fabs_(float x) { return as_f32(as_u32(x) & 0x7FFFFFFFu); }
// std::max(a, b) exactly: (a < b) ? b : a (a NaN b is ignored when a is the running max).
DSV4_PHD float std_max(float a, float b) { return (a < b) ? b : a; }
// std::clamp(x, lo, hi): NaN passes through.
DSV4_PHD float std_clamp(float x, float lo, float hi) { return x < lo ? lo : (hi < x ? hi : x); }

// ---- bf16 ----
DSV4_PHD uint16_t enc_bf16(float x) {
  const uint32_t u = as_u32(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x0040u);
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
DSV4_PHD float dec_bf16(uint16_t h) { return as_f32(uint32_t(h) << 16); }

// ---- e4m3fn: RNE, satfinite to ±448, NaN -> 0x7F with the sign ----
DSV4_PHD uint8_t enc_e4m3(float x) {
  const uint32_t u = as_u32(x), sign = (u >> 24) & 0x80u, a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return uint8_t(sign | 0x7Fu);
  if (a >= 0x43E00000u) return uint8_t(sign | 0x7Eu);  // >= 448 (and inf): saturate
  uint32_t code;
  if (a < 0x3C800000u) {                               // below 2^-6: subnormal binade, quantum 2^-9
    code = uint32_t(rint_rn(mul_rn(as_f32(a), 512.0f)));  // exact scaling, then RNE
  } else {
    code = ((a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20) - (120u << 3);
    if (code > 0x7Eu) code = 0x7Eu;
  }
  return uint8_t(sign | code);
}
// |code| -> fp32 exactly (NaN for magnitude 0x7F).
DSV4_PHD float dec_e4m3(uint8_t q) {
  const uint32_t mag = q & 0x7Fu;
  if (mag == 0x7Fu) return as_f32(0x7FC00000u | (uint32_t(q & 0x80u) << 24));
  const float v = mul_rn(as_f32(mag << 20), 0x1p120f);
  return as_f32(as_u32(v) | (uint32_t(q & 0x80u) << 24));
}

// ---- e2m1: RNE, satfinite to ±6, NaN -> +6 (0x7) ----
DSV4_PHD uint8_t enc_e2m1(float x) {
  const uint32_t u = as_u32(x), a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return 0x7u;
  const uint32_t sign = (u >> 31) ? 0x8u : 0u;
  if (a >= 0x40C00000u) return uint8_t(sign | 0x7u);  // >= 6
  uint32_t code;
  if (a < 0x3F800000u) {                              // below 1: quantum 0.5
    code = uint32_t(rint_rn(mul_rn(as_f32(a), 2.0f)));
  } else {
    code = ((a + 0x1FFFFFu + ((a >> 22) & 1u)) >> 22) - (126u << 1);
    if (code > 0x7u) code = 0x7u;
  }
  return uint8_t(sign | code);
}
DSV4_PHD float dec_e2m1(uint32_t code) {
  const float v = mul_rn(as_f32((code & 0x7u) << 22), 0x1p126f);
  return as_f32(as_u32(v) | ((code & 0x8u) << 28));
}

// ---- UE8M0 block scales ----
// ceil(log2(x)) by the reference's bit trick (core/quant.cpp ceil_log2_bits).
DSV4_PHD int ceil_log2_bits(float x) {
  const uint32_t bits = as_u32(x);
  return int((bits >> 23) & 0xFFu) - 127 + ((bits & 0x7FFFFFu) != 0 ? 1 : 0);
}
DSV4_PHD float pow2_bits(int k) { return as_f32(uint32_t(k + 127) << 23); }
// fp8_block_scale(amax): 2^ceil(log2(max(amax, 1e-4) · fp32(1/448))).
DSV4_PHD float fp8_scale(float amax) { return pow2_bits(ceil_log2_bits(mul_rn(std_max(amax, 1e-4f), 1.0f / 448.0f))); }
// fp4_block_scale(amax): 2^ceil(log2(max(amax, 6·2^-126) · fp32(1/6))).
DSV4_PHD float fp4_scale(float amax) {
  return pow2_bits(ceil_log2_bits(mul_rn(std_max(amax, 6.0f * 0x1p-126f), 1.0f / 6.0f)));
}
// The scale byte of a power-of-two scale (or of +inf: 255).
DSV4_PHD uint8_t scale_byte(float s) { return uint8_t(as_u32(s) >> 23); }
// Decoding a scale byte: 2^(b-127) (b = 0: the fp32 subnormal 2^-127); 255 -> +inf.
DSV4_PHD float scale_value(uint8_t b) {
  return b == 0xFF ? as_f32(0x7F800000u) : (b == 0 ? as_f32(0x00400000u) : as_f32(uint32_t(b) << 23));
}

// One element of each format: code of x in a block of scale s; decoded value.
// A NaN quotient (x NaN, or ±inf / inf in a block holding an infinity) gets the canonical code
// 0x7F: the sign of a NaN differs between CPUs and GPUs, its value (NaN) does not.
DSV4_PHD uint8_t fp8_code(float x, float s) {
  const float r = std_clamp(div_rn(x, s), -448.0f, 448.0f);
  return r != r ? uint8_t(0x7F) : enc_e4m3(r);
}
DSV4_PHD uint8_t fp4_code(float x, float s) { return enc_e2m1(std_clamp(div_rn(x, s), -6.0f, 6.0f)); }
DSV4_PHD float fp8_value(uint8_t q, uint8_t sb) { return mul_rn(dec_e4m3(q), scale_value(sb)); }
// e2m1 · 2^k is exact in bf16 for every k a block scale takes; NaN/inf from sb = 255 pass.
DSV4_PHD float fp4_value(uint32_t code, uint8_t sb) { return mul_rn(dec_e2m1(code), scale_value(sb)); }

}  // namespace dsv4::cuda::paged
