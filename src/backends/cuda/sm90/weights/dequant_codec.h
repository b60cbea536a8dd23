// Bit-exact scalar codecs shared by the dequantization kernels and their host-side checks.
//
// Each function reproduces, in integer and single fp32-multiply steps, what the CPU path computes
// with core/dtype.h: f32_to_bf16(e4m3_to_f32(q) * e8m0_to_f32(s)) and
// f32_to_bf16(e2m1_to_f32(code) * e8m0_to_f32(s)), NaN patterns included. The header compiles as
// plain C++ too (the __host__ __device__ marks vanish), so the CPU tests check these exact lines on
// every input without a GPU.
//
// Why the results match the CPU bit for bit:
//  - decoding: the e4m3 magnitude bits placed at fp32 bit 20 (e2m1 at bit 22) read as an fp32 whose
//    exponent field is the small format's exponent field; one multiply by 2^120 (2^126) rebiases
//    it. Subnormal small codes land on fp32 subnormals, which that multiply scales exactly (no
//    flush to zero: the kernels are built without --use_fast_math / -ftz=true).
//  - the value times the scale is ONE fp32 multiply with round-to-nearest-even, the same operation
//    as the CPU's; the sign is applied afterwards, which is exact because RNE is symmetric.
//  - fp32 -> bf16 is the CPU's integer RNE; NaN never reaches it: GPU arithmetic makes the
//    canonical NaN 0x7FFFFFFF, while the CPU's NaN operand is std::numeric_limits<float>::quiet_NaN()
//    (0x7FC00000), which the CPU's f32_to_bf16 turns into 0x7FC0 (0x7FC0 | 0x40). So every NaN
//    input (e4m3 0x7F/0xFF, e8m0 0xFF) produces kBf16NaN directly.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define DSV4_HD __host__ __device__ __forceinline__
#else
#define DSV4_HD inline
#endif

namespace dsv4::cuda {

// bf16 of the CPU's quiet NaN: f32_to_bf16(quiet_NaN()) = (0x7FC00000 >> 16) | 0x40.
constexpr uint16_t kBf16NaN = 0x7FC0;

DSV4_HD float bits_to_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return __builtin_bit_cast(float, u);
#endif
}

DSV4_HD uint32_t f32_to_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  return __builtin_bit_cast(uint32_t, x);
#endif
}

// 2^k for an e8m0 byte other than 255 (0 gives the fp32 subnormal 2^-127).
DSV4_HD float e8m0_scale(uint8_t s) {
  return s == 0 ? bits_to_f32(0x00400000u) : bits_to_f32(uint32_t(s) << 23);
}

// fp32 -> bf16, round to nearest even, for non-NaN inputs (infinities stay infinities).
DSV4_HD uint16_t bf16_rne_not_nan(uint32_t u) {
  return uint16_t((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// One e4m3 code times a finite scale (scale byte != 255) -> bf16 bits.
DSV4_HD uint16_t e4m3_scaled_bf16(uint32_t q, float scale) {
  const uint32_t mag = q & 0x7Fu;
  if (mag == 0x7Fu) return kBf16NaN;
  const float v = bits_to_f32(mag << 20) * 0x1p120f;  // exact decode of |q|
  const uint32_t u = f32_to_bits(v * scale) | ((q & 0x80u) << 24);
  return bf16_rne_not_nan(u);
}

// One e2m1 code (low 4 bits) times a finite scale -> bf16 bits.
DSV4_HD uint16_t e2m1_scaled_bf16(uint32_t code, float scale) {
  const float v = bits_to_f32((code & 0x7u) << 22) * 0x1p126f;  // exact decode of |code|
  const uint32_t u = f32_to_bits(v * scale) | ((code & 0x8u) << 28);
  return bf16_rne_not_nan(u);
}

// The full per-element functions (scale byte may be 255 = NaN).
DSV4_HD uint16_t dequant_e4m3_e8m0_bf16(uint8_t q, uint8_t s) {
  return s == 0xFF ? kBf16NaN : e4m3_scaled_bf16(q, e8m0_scale(s));
}
DSV4_HD uint16_t dequant_e2m1_e8m0_bf16(uint8_t code, uint8_t s) {
  return s == 0xFF ? kBf16NaN : e2m1_scaled_bf16(code, e8m0_scale(s));
}


// ---------------------------------------------------------------- packed (two bf16 per word)
//
// The kernels' fast path builds two bf16 lanes per 32-bit word and scales both with one bf16x2
// multiply. A small code placed in the bf16 bit fields reads as a bf16 whose exponent field is the
// code's exponent field (subnormal codes land on bf16 subnormals); one multiply by 2^120 (e4m3) or
// 2^126 (e2m1) rebiases it exactly, and a second multiply by the scale 2^(s-127) rounds once, to
// nearest even: the value the CPU gets by rounding the exact fp32 product. (The fp32 product is
// exact: at most 4 significant bits, magnitude >= 2^-136 or zero.) The sign bit travels through
// the multiplies. NaN codes are not handled here: callers detect them (e4m3x4_nan_bits) and take
// the scalar path.
//
// On the device the multiply is mul.rn.bf16x2 (sm_90: IEEE round-to-nearest-even, subnormals
// kept). On the host it is emulated through fp32, exact for every product these kernels form, so
// the CPU tests check the bit manipulation on every input; the GPU tests check the instruction.

// prmt.b32 (default mode): result byte i = byte sel.nibble[i] & 7 of {b:a}, or that byte's sign
// replicated when the nibble's bit 3 is set.
DSV4_HD uint32_t byte_perm(uint32_t a, uint32_t b, uint32_t sel) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(sel));
  return d;
#else
  const uint64_t src = (uint64_t(b) << 32) | a;
  uint32_t d = 0;
  for (int i = 0; i < 4; ++i) {
    const uint32_t n = (sel >> (4 * i)) & 0xFu;
    uint32_t byte = uint32_t(src >> (8 * (n & 7u))) & 0xFFu;
    if (n & 8u) byte = (byte & 0x80u) ? 0xFFu : 0u;
    d |= byte << (8 * i);
  }
  return d;
#endif
}

// Two bf16 lanes times two bf16 lanes, each rounded to nearest even.
DSV4_HD uint32_t bf16x2_mul(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  uint32_t d;
  asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
  return d;
#else
  auto lane = [](uint32_t x, uint32_t y) -> uint32_t {
    const float p = bits_to_f32(x << 16) * bits_to_f32(y << 16);  // exact for the products used here
    return bf16_rne_not_nan(f32_to_bits(p));
  };
  return lane(a & 0xFFFFu, b & 0xFFFFu) | (lane(a >> 16, b >> 16) << 16);
#endif
}

// The scale 2^(s-127) as bf16 in both lanes (s != 255; s = 0 is the bf16 subnormal 0x0040).
DSV4_HD uint32_t e8m0_scale_bf16x2(uint32_t s) {
  const uint32_t h = s == 0 ? 0x0040u : (s << 7);
  return h | (h << 16);
}

constexpr uint32_t kBf16x2Pow2_120 = 0x7B807B80u;  // 2^120 = (120 + 127) << 7
constexpr uint32_t kBf16x2Pow2_126 = 0x7E807E80u;  // 2^126 = (126 + 127) << 7

// Nonzero iff one of the word's four e4m3 codes is a NaN (magnitude 0x7F).
DSV4_HD uint32_t e4m3x4_nan_bits(uint32_t w) { return ((w & 0x7F7F7F7Fu) + 0x01010101u) & 0x80808080u; }

// Four e4m3 codes (byte i = element i) times the scale -> bf16 elements 0,1 in *lo, 2,3 in *hi.
// Valid when no code is NaN and the scale byte is not 255.
DSV4_HD void e4m3x4_scaled_bf16x2(uint32_t w, uint32_t scale_x2, uint32_t* lo, uint32_t* hi) {
  const uint32_t mag = w & 0x7F7F7F7Fu;           // magnitudes, one per byte
  const uint32_t sgn = (w >> 4) & 0x08080808u;    // signs at bit 3 of each byte
  // lane = sign byte : magnitude byte; << 4 puts the magnitude at bf16 bits 4..10, the sign at 15.
  const uint32_t a = byte_perm(mag, sgn, 0x5140u) << 4;  // elements 0 (low lane), 1
  const uint32_t b = byte_perm(mag, sgn, 0x7362u) << 4;  // elements 2, 3
  *lo = bf16x2_mul(bf16x2_mul(a, kBf16x2Pow2_120), scale_x2);
  *hi = bf16x2_mul(bf16x2_mul(b, kBf16x2Pow2_120), scale_x2);
}

// Eight packed e2m1 codes (element 2m in the low nibble of byte m) times the scale -> bf16
// elements 2k, 2k+1 in out[k]. Valid when the scale byte is not 255 (e2m1 has no NaN).
DSV4_HD void e2m1x8_scaled_bf16x2(uint32_t w, uint32_t scale_x2, uint32_t out[4]) {
  const uint32_t even = w & 0x0F0F0F0Fu;         // codes of elements 0, 2, 4, 6 (one per byte)
  const uint32_t odd = (w >> 4) & 0x0F0F0F0Fu;   // codes of elements 1, 3, 5, 7
  // Lane k: code zero-extended (selector bit 3 replicates the sign of a byte < 0x80: zero).
  // code * 0x1040 = code << 6 | code << 12 (no overlap); the mask keeps the magnitude at bf16
  // bits 6..8 and the sign at bit 15.
  constexpr uint32_t kSel[4] = {0xC480u, 0xD591u, 0xE6A2u, 0xF7B3u};
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
  for (int k = 0; k < 4; ++k) {
    const uint32_t t = byte_perm(even, odd, kSel[k]);
    const uint32_t h = (t * 0x1040u) & 0x81C081C0u;
    out[k] = bf16x2_mul(bf16x2_mul(h, kBf16x2Pow2_126), scale_x2);
  }
}

// ---------------------------------------------------------------- warp output staging
//
// Lane L of a warp holds kPieces 16-byte output pieces that belong at 16-byte positions
// L * kPieces + j of the warp's contiguous output (kPieces = 2 for FP8, 4 for MXFP4). They go to
// shared memory at stage_slot(L, j); store j of lane L then writes position j * 32 + L, read from
// stage_slot(pos / kPieces, pos % kPieces): each store instruction covers 512 contiguous bytes.
// The XOR swizzle keeps the 8 lanes of each quarter-warp phase on distinct banks, for the writes
// and for the reads (checked on the host in tests/cuda/codec_test.cpp).
template <int kPieces>
DSV4_HD uint32_t stage_slot(uint32_t lane, uint32_t piece) {
  static_assert(kPieces == 2 || kPieces == 4, "pieces per lane");
  return lane * kPieces + (piece ^ ((lane / (8 / kPieces)) % kPieces));
}

}  // namespace dsv4::cuda
