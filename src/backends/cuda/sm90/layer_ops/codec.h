// Scalar numerics shared by the layer-op kernels and their host-side checks: the quantizers of
// core/quant.h re-expressed so that GPU and CPU produce the same bits.
//
// The header compiles as plain C++ too (DSV4_HD vanishes), so tests/cuda/layer_ops_codec_test.cpp
// checks these exact lines against core/quant.h on the host, without a GPU.
//
// How bit-exactness is kept:
//  - every rounding step is one IEEE fp32 operation (mul_rn, add_rn, div_rn: __fmul_rn & co. on the
//    device so nvcc can never contract them into an FMA); no fast-math intrinsics;
//  - the e4m3 / e2m1 encoders are integer/threshold code equal to core/dtype.cpp's generic RNE
//    encoder (tested exhaustively on the host);
//  - NaN never comes out of GPU arithmetic implicitly: GPU NaNs are canonical (0x7FFFFFFF) while the
//    CPU's are quiet_NaN() (0x7FC00000, from the decoders) or the x86 "default NaN" 0xFFC00000 (from
//    0·inf and inf/inf). Each place where the CPU path makes a NaN returns that exact pattern;
//  - block amax follows std::max(amax, |x|): a NaN element never raises amax (a < NaN is false).
//  - exp/log/sin/cos: glibc's float functions are (nearly) correctly rounded, so the kernels evaluate
//    them in double and round once to float (ex_f32 and friends): equal to the CPU except where glibc
//    itself is not correctly rounded (rare; the tests report the max difference).
#pragma once

#include <cmath>
#include <cstdint>

#include "backends/cuda/sm90/weights/dequant_codec.h"  // DSV4_HD, bits_to_f32, f32_to_bits, bf16_rne_not_nan

namespace dsv4::cuda::layer {

constexpr uint32_t kQuietNaN = 0x7FC00000u;    // std::numeric_limits<float>::quiet_NaN()
constexpr uint32_t kDefaultNaN = 0xFFC00000u;  // x86 SSE result of 0·inf, inf/inf, inf-inf

DSV4_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
DSV4_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
DSV4_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
DSV4_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
DSV4_HD float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

DSV4_HD bool nan_bits(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }
DSV4_HD bool inf_bits(uint32_t u) { return (u & 0x7FFFFFFFu) == 0x7F800000u; }
DSV4_HD float abs_bits(float x) { return bits_to_f32(f32_to_bits(x) & 0x7FFFFFFFu); }

// std::max(amax, fabs(v)) exactly: a NaN v leaves amax as it was.
DSV4_HD float amax_step(float amax, float v) {
  const float a = abs_bits(v);
  return amax < a ? a : amax;
}
// Combining two partial amax values (neither NaN): the larger.
DSV4_HD float amax_join(float a, float b) { return a < b ? b : a; }

// std::clamp(v, -m, m) (a NaN v passes through).
DSV4_HD float clamp_sym(float v, float m) { return v < -m ? -m : (m < v ? m : v); }

// core/quant.cpp ceil_log2_bits and pow2_bits.
DSV4_HD int ceil_log2_bits(float x) {
  const uint32_t b = f32_to_bits(x);
  return int((b >> 23) & 0xFFu) - 127 + ((b & 0x7FFFFFu) != 0 ? 1 : 0);
}
DSV4_HD float pow2_bits(int k) { return bits_to_f32(uint32_t(k + 127) << 23); }

constexpr float kInv448 = 1.0f / 448.0f;
constexpr float kInv6 = 1.0f / 6.0f;
constexpr float kFp4AmaxFloor = 0x1.8p-124f;  // 6 * 2^-126

DSV4_HD float fp8_block_scale(float amax) {
  const float a = amax < 1e-4f ? 1e-4f : amax;
  return pow2_bits(ceil_log2_bits(mul_rn(a, kInv448)));
}
DSV4_HD float fp4_block_scale(float amax) {
  const float a = amax < kFp4AmaxFloor ? kFp4AmaxFloor : amax;
  return pow2_bits(ceil_log2_bits(mul_rn(a, kInv6)));
}

// ---- e4m3 ----
// Magnitude code of a finite a >= 0 (RNE, satfinite 0x7E = 448), as core/dtype.cpp.
DSV4_HD uint32_t e4m3_encode_mag(float a) {
  if (!(a < 448.0f)) return 0x7Eu;
  if (a < 0x1p-6f) return uint32_t(rintf(a * 512.0f));  // subnormal binade: quantum 2^-9 (exact scaling)
  const uint32_t u = f32_to_bits(a);
  const uint32_t r = (u + 0x7FFFFu + ((u >> 20) & 1u)) >> 20;  // RNE of the mantissa to 3 bits
  const uint32_t code = r - (120u << 3);                       // rebias 127 -> 7
  return code > 0x7Eu ? 0x7Eu : code;
}
// Value of a magnitude code < 0x7F.
DSV4_HD float e4m3_decode_mag(uint32_t mag) { return bits_to_f32(mag << 20) * 0x1p120f; }

// ---- e2m1 ----
// Magnitude code of a finite a in [0, 6] (RNE to the even code, satfinite).
DSV4_HD uint32_t e2m1_encode_mag(float a) {
  if (a <= 0.25f) return 0;
  if (a < 0.75f) return 1;
  if (a <= 1.25f) return 2;
  if (a < 1.75f) return 3;
  if (a <= 2.5f) return 4;
  if (a < 3.5f) return 5;
  if (a <= 5.0f) return 6;
  return 7;
}
DSV4_HD float e2m1_decode_mag(uint32_t mag) {
  const uint32_t m = mag & 7u;
  return m < 4 ? 0.5f * float(m) : (m < 6 ? float(m - 2) : (m == 6 ? 4.0f : 6.0f));
}

// ---- fake-quant elements (results as fp32 bits) ----

// core/quant.cpp fp8_roundtrip on one element: e4m3(clamp(x/s, ±448))·s, bf16-rounded if asked.
DSV4_HD uint32_t fp8_fake_elem(float x, float s, bool bf16) {
  const float q = div_rn(x, s);
  if (nan_bits(f32_to_bits(q))) return kQuietNaN;  // code 0x7F: quiet_NaN() * s
  const float c = clamp_sym(q, 448.0f);
  const uint32_t sign = f32_to_bits(c) & 0x80000000u;
  const float v = e4m3_decode_mag(e4m3_encode_mag(abs_bits(c)));
  if (v == 0.0f && inf_bits(f32_to_bits(s))) return kDefaultNaN;  // ±0 · inf
  const uint32_t r = f32_to_bits(mul_rn(v, s)) | sign;
  return bf16 ? uint32_t(bf16_rne_not_nan(r)) << 16 : r;
}

// e2m1(clamp(x/step, ±6))·step (f32_to_e2m1 maps NaN to +6). Used by FP4 (bf16-rounded) and NVFP4.
DSV4_HD uint32_t fp4_fake_elem(float x, float step, bool bf16) {
  const float q = div_rn(x, step);
  uint32_t sign = 0, mag = 7;
  if (!nan_bits(f32_to_bits(q))) {
    const float c = clamp_sym(q, 6.0f);
    sign = f32_to_bits(c) & 0x80000000u;
    mag = e2m1_encode_mag(abs_bits(c));
  }
  const float v = e2m1_decode_mag(mag);
  if (v == 0.0f && inf_bits(f32_to_bits(step))) return kDefaultNaN;
  const uint32_t r = f32_to_bits(mul_rn(v, step)) | sign;
  return bf16 ? uint32_t(bf16_rne_not_nan(r)) << 16 : r;
}

// NVFP4 block scale: e4m3(amax·(1/6)·inv_global) decoded; returns false (and *nan_block when the
// value is NaN) when the block becomes all 0 (resp. all NaN).
DSV4_HD float nvfp4_block_sf(float amax, float inv_global) {
  const float t = mul_rn(mul_rn(amax, kInv6), inv_global);
  if (nan_bits(f32_to_bits(t))) return bits_to_f32(kQuietNaN);
  return e4m3_decode_mag(e4m3_encode_mag(t));
}

// ---- transcendental functions rounded once from double (see the header comment) ----
#if defined(__CUDA_ARCH__)
DSV4_HD float exp_f32(float x) { return float(::exp(double(x))); }
DSV4_HD float log1p_f32(float x) { return float(::log1p(double(x))); }
#else
DSV4_HD float exp_f32(float x) { return float(std::exp(double(x))); }
DSV4_HD float log1p_f32(float x) { return float(std::log1p(double(x))); }
#endif
// 1 / (1 + exp(-v)) in fp32 steps, as the CPU's sigmoid.
DSV4_HD float sigmoid_f32(float v) { return div_rn(1.0f, add_rn(1.0f, exp_f32(-v))); }
// sqrt(softplus(x)), softplus = torch's (beta 1, threshold 20).
DSV4_HD float sqrt_softplus_f32(float x) { return sqrt_rn(x > 20.0f ? x : log1p_f32(exp_f32(x))); }

// ---- order-preserving key of a float (for top-k): larger float -> larger key; -0 == +0 ----
DSV4_HD uint32_t order_key(float x) {
  uint32_t u = f32_to_bits(x);
  if ((u & 0x7FFFFFFFu) == 0) u = 0;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
constexpr uint32_t kKeyNegInf = 0x007FFFFFu;  // order_key(-inf)

}  // namespace dsv4::cuda::layer
