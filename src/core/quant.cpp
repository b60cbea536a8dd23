#include "core/quant.h"

#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "core/error.h"

namespace dsv4 {

int ceil_log2_bits(float x) {
  const uint32_t bits = f32_bits(x);
  const int exponent = int((bits >> 23) & 0xFF);
  const uint32_t mantissa = bits & 0x7FFFFFu;
  return exponent - 127 + (mantissa != 0 ? 1 : 0);
}

namespace {

float pow2_bits(int k) { return f32_from_bits(uint32_t(k + 127) << 23); }

float block_amax(const float* x, size_t n) {
  float amax = 0.0f;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

// The e8m0 byte of a block scale; a block holding inf has none (its scale would be inf).
uint8_t scale_byte(float s, const char* what, size_t b0, size_t len) {
  const auto code = f32_to_e8m0_exact(s);
  if (!code) fail("{}: block [{}, {}) holds a non-finite value; it has no power-of-two scale", what, b0, b0 + len);
  return *code;
}

}  // namespace

float fp8_block_scale(float amax) {
  const float inv_max = 1.0f / kE4M3Max;  // the reference multiplies by the fp32 reciprocal
  return pow2_bits(ceil_log2_bits(std::max(amax, kFp8AmaxFloor) * inv_max));
}

float fp4_block_scale(float amax) {
  const float floor = kE2M1Max * std::ldexp(1.0f, -126);
  const float inv_max = 1.0f / kE2M1Max;
  return pow2_bits(ceil_log2_bits(std::max(amax, floor) * inv_max));
}

void quantize_fp8_blocks(const float* x, size_t n, size_t block, uint8_t* q, uint8_t* scales) {
  for (size_t b0 = 0, bi = 0; b0 < n; b0 += block, ++bi) {
    const size_t len = std::min(block, n - b0);
    const float s = fp8_block_scale(block_amax(x + b0, len));
    scales[bi] = scale_byte(s, "quantize_fp8_blocks", b0, len);
    for (size_t i = 0; i < len; ++i)
      q[b0 + i] = f32_to_e4m3(std::clamp(x[b0 + i] / s, -kE4M3Max, kE4M3Max));
  }
}

namespace {

template <bool kRoundBf16>
void fp8_roundtrip(float* x, size_t n, size_t block) {
  for (size_t b0 = 0; b0 < n; b0 += block) {
    const size_t len = std::min(block, n - b0);
    const float s = fp8_block_scale(block_amax(x + b0, len));
    for (size_t i = 0; i < len; ++i) {
      const float v = e4m3_to_f32(f32_to_e4m3(std::clamp(x[b0 + i] / s, -kE4M3Max, kE4M3Max))) * s;
      x[b0 + i] = kRoundBf16 ? round_to_bf16(v) : v;
    }
  }
}

}  // namespace

void fake_quant_fp8(float* x, size_t n, size_t block) { fp8_roundtrip<true>(x, n, block); }
void quant_dequant_fp8(float* x, size_t n, size_t block) { fp8_roundtrip<false>(x, n, block); }

void quantize_fp4_blocks(const float* x, size_t n, size_t block, uint8_t* codes, uint8_t* scales) {
  for (size_t b0 = 0, bi = 0; b0 < n; b0 += block, ++bi) {
    const size_t len = std::min(block, n - b0);
    const float s = fp4_block_scale(block_amax(x + b0, len));
    scales[bi] = scale_byte(s, "quantize_fp4_blocks", b0, len);
    for (size_t i = 0; i < len; ++i)
      codes[b0 + i] = f32_to_e2m1(std::clamp(x[b0 + i] / s, -kE2M1Max, kE2M1Max));
  }
}

void fake_quant_fp4(float* x, size_t n, size_t block) {
  for (size_t b0 = 0; b0 < n; b0 += block) {
    const size_t len = std::min(block, n - b0);
    const float s = fp4_block_scale(block_amax(x + b0, len));
    for (size_t i = 0; i < len; ++i)
      x[b0 + i] = round_to_bf16(e2m1_to_f32(f32_to_e2m1(std::clamp(x[b0 + i] / s, -kE2M1Max, kE2M1Max))) * s);
  }
}

void quant_dequant_nvfp4(float* x, size_t n, float input_scale) {
  if (!(input_scale > 0.0f) || !std::isfinite(input_scale))
    fail("quant_dequant_nvfp4: input_scale must be positive and finite, got {}", input_scale);
  const float inv_global = 1.0f / input_scale;
  for (size_t b0 = 0; b0 < n; b0 += 16) {
    const size_t len = std::min<size_t>(16, n - b0);
    const float amax = block_amax(x + b0, len);
    const float sf = e4m3_to_f32(f32_to_e4m3(amax * (1.0f / kE2M1Max) * inv_global));
    if (!(sf > 0.0f)) {  // 0 (or NaN from a NaN block: propagate NaN)
      for (size_t i = 0; i < len; ++i) x[b0 + i] = std::isnan(sf) ? sf : 0.0f;
      continue;
    }
    const float step = sf * input_scale;
    for (size_t i = 0; i < len; ++i)
      x[b0 + i] = e2m1_to_f32(f32_to_e2m1(std::clamp(x[b0 + i] / step, -kE2M1Max, kE2M1Max))) * step;
  }
}

void hadamard_transform(float* x, size_t n) {
  if (n == 0 || (n & (n - 1)) != 0) fail("hadamard_transform: length {} is not a power of two", n);
  for (size_t h = 1; h < n; h <<= 1) {
    for (size_t i = 0; i < n; i += 2 * h) {
      for (size_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
  const float scale = 1.0f / std::sqrt(float(n));
  for (size_t i = 0; i < n; ++i) x[i] *= scale;
}

}  // namespace dsv4
