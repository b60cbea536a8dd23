#include "core/dtype.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace dsv4 {

uint32_t f32_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

float f32_from_bits(uint32_t bits) {
  float x;
  std::memcpy(&x, &bits, 4);
  return x;
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::F8_E4M3: return 1;
    case DType::F8_E5M2: return 1;
    case DType::F8_E8M0: return 1;
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::F8_E5M2: return "F8_E5M2";
    case DType::F8_E8M0: return "F8_E8M0";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  static constexpr DType kAll[] = {DType::F32,     DType::F16,     DType::BF16, DType::F8_E4M3,
                                   DType::F8_E5M2, DType::F8_E8M0, DType::I8,   DType::U8,
                                   DType::I32,     DType::I64};
  for (DType t : kAll)
    if (dtype_name(t) == name) return t;
  return std::nullopt;
}

// ---- bf16 ----

float bf16_to_f32(uint16_t bits) { return f32_from_bits(uint32_t(bits) << 16); }

uint16_t f32_to_bf16(float x) {
  const uint32_t u = f32_bits(x);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t((u >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounding_bias = 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t((u + rounding_bias) >> 16);
}

// ---- small IEEE-like formats: one generic encoder ----
//
// A format with `ebits` exponent bits, `mbits` mantissa bits and exponent bias `bias`; `max_code`
// is the magnitude code of the largest finite value. Rounds |x| to the nearest multiple of the
// quantum of its binade (subnormal binade below the smallest normal), ties to even, then saturates.
namespace {

struct MiniFormat {
  int ebits;
  int mbits;
  int bias;
  uint32_t max_code;  // magnitude bits (without sign) of the largest finite value
};

float mini_decode_magnitude(const MiniFormat& f, uint32_t mag) {
  const uint32_t e = mag >> f.mbits;
  const uint32_t m = mag & ((1u << f.mbits) - 1);
  if (e == 0) return std::ldexp(float(m), 1 - f.bias - f.mbits);
  return std::ldexp(float((1u << f.mbits) | m), int(e) - f.bias - f.mbits);
}

// Encodes a finite, non-negative magnitude (already known to be <= max finite after saturation).
uint32_t mini_encode_magnitude(const MiniFormat& f, float a) {
  const float max_val = mini_decode_magnitude(f, f.max_code);
  if (!(a < max_val)) return f.max_code;  // saturate (also catches +inf)
  int e2;
  std::frexp(a, &e2);  // a = frac * 2^e2, frac in [0.5, 1) => floor(log2 a) = e2 - 1
  int exp_unbiased = e2 - 1;
  const int min_normal_exp = 1 - f.bias;
  if (a == 0.0f || exp_unbiased < min_normal_exp) exp_unbiased = min_normal_exp;
  const float quantum = std::ldexp(1.0f, exp_unbiased - f.mbits);
  const float q = std::nearbyint(a / quantum);  // exact division (power of two); RNE in default mode
  const float v = q * quantum;
  if (v >= max_val) return f.max_code;
  if (v == 0.0f) return 0;
  // Re-derive exponent/mantissa from the rounded value (rounding may have carried into the next binade).
  int ev;
  std::frexp(v, &ev);
  int eu = ev - 1;
  if (eu < min_normal_exp) {  // subnormal
    const uint32_t m = uint32_t(std::ldexp(v, f.bias - 1 + f.mbits));
    return m;
  }
  const uint32_t biased = uint32_t(eu + f.bias);
  const uint32_t m = uint32_t(std::ldexp(v, f.mbits - eu)) - (1u << f.mbits);
  return (biased << f.mbits) | m;
}

constexpr MiniFormat kE4M3{4, 3, 7, 0x7E};    // 0x7E = 448; 0x7F is NaN
constexpr MiniFormat kE5M2{5, 2, 15, 0x7B};   // 0x7B = 57344; 0x7C inf, above NaN
constexpr MiniFormat kE2M1{2, 1, 1, 0x7};     // 0x7 = 6
constexpr MiniFormat kF16{5, 10, 15, 0x7BFF};  // 65504

}  // namespace

// ---- fp16 ----

float f16_to_f32(uint16_t bits) {
  const bool neg = bits & 0x8000;
  const uint32_t mag = bits & 0x7FFF;
  float v;
  if ((mag >> 10) == 0x1F)
    v = (mag & 0x3FF) ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = mini_decode_magnitude(kF16, mag);
  return neg ? -v : v;
}

uint16_t f32_to_f16(float x) {
  const uint16_t sign = (f32_bits(x) >> 16) & 0x8000;
  if (std::isnan(x)) return uint16_t(sign | 0x7E00);
  const float a = std::fabs(x);
  // IEEE overflow: values that round beyond 65504 become inf. The rounding boundary is
  // 65504 + half a quantum (16) = 65520; ties there go to the even code, i.e. to inf.
  if (a >= 65520.0f) return uint16_t(sign | 0x7C00);
  return uint16_t(sign | mini_encode_magnitude(kF16, a));
}

// ---- e4m3 ----

float e4m3_to_f32(uint8_t bits) {
  const uint32_t mag = bits & 0x7F;
  if (mag == 0x7F) return std::numeric_limits<float>::quiet_NaN();
  const float v = mini_decode_magnitude(kE4M3, mag);
  return (bits & 0x80) ? -v : v;
}

uint8_t f32_to_e4m3(float x) {
  const uint8_t sign = (f32_bits(x) >> 24) & 0x80;
  if (std::isnan(x)) return uint8_t(sign | 0x7F);
  return uint8_t(sign | mini_encode_magnitude(kE4M3, std::fabs(x)));
}

// ---- e5m2 ----

float e5m2_to_f32(uint8_t bits) {
  const uint32_t mag = bits & 0x7F;
  float v;
  if ((mag >> 2) == 0x1F)
    v = (mag & 0x3) ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    v = mini_decode_magnitude(kE5M2, mag);
  return (bits & 0x80) ? -v : v;
}

uint8_t f32_to_e5m2(float x) {
  const uint8_t sign = (f32_bits(x) >> 24) & 0x80;
  if (std::isnan(x)) return uint8_t(sign | 0x7F);
  return uint8_t(sign | mini_encode_magnitude(kE5M2, std::fabs(x)));
}

// ---- e8m0 ----

float e8m0_to_f32(uint8_t bits) {
  if (bits == 0xFF) return std::numeric_limits<float>::quiet_NaN();
  return std::ldexp(1.0f, int(bits) - 127);
}

std::optional<uint8_t> f32_to_e8m0_exact(float p) {
  if (!(p > 0.0f) || std::isinf(p)) return std::nullopt;
  int e;
  const float frac = std::frexp(p, &e);
  if (frac != 0.5f) return std::nullopt;
  const int k = e - 1;
  if (k < -127 || k > 127) return std::nullopt;
  return uint8_t(k + 127);
}

// ---- e2m1 ----

float e2m1_to_f32(uint8_t code) {
  const float v = mini_decode_magnitude(kE2M1, code & 0x7);
  return (code & 0x8) ? -v : v;
}

uint8_t f32_to_e2m1(float x) {
  if (std::isnan(x)) return 0x7;
  const uint8_t sign = std::signbit(x) ? 0x8 : 0;
  return uint8_t(sign | mini_encode_magnitude(kE2M1, std::fabs(x)));
}

}  // namespace dsv4
