// Element types of the checkpoint and of the engine, and their scalar codecs.
//
// Every codec is a small pure function. Encoders round to nearest, ties to even, and saturate
// finite overflow (and infinities) to the largest finite value of the target format ("satfinite",
// the rule the reference applies by clamping before every narrowing cast, spec §9); NaN stays NaN.
// Decoders are exact. Tests check every bit pattern of the 8- and 4-bit formats and every
// bf16/fp16 value against independent formulas.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dsv4 {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  F8_E4M3,  // float8 e4m3fn: no infinities, 0x7F/0xFF NaN, max 448
  F8_E5M2,  // float8 e5m2: IEEE-like, max 57344
  F8_E8M0,  // unsigned power-of-two scale byte: 2^(e-127), 255 = NaN
  I8,       // in the checkpoint also: two packed FP4 e2m1 values per byte (routed experts)
  U8,       // NVFP4 packed weights
  I32,
  I64,
};

// Bytes per element (packed FP4 tensors are stored as I8/U8 with half the columns).
size_t dtype_size(DType t);
// The safetensors spelling ("F8_E4M3", "BF16", ...).
std::string_view dtype_name(DType t);
// Parses a safetensors dtype name; nullopt for names the engine does not support.
std::optional<DType> parse_dtype(std::string_view name);

// ---- bf16 ----
float bf16_to_f32(uint16_t bits);
uint16_t f32_to_bf16(float x);  // RNE; NaN -> quiet NaN with the sign kept; no saturation (bf16 has inf)
inline float round_to_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// ---- fp16 (IEEE binary16) ----
float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float x);  // RNE; overflow -> inf (IEEE); NaN -> quiet NaN

// ---- fp8 e4m3fn ----
float e4m3_to_f32(uint8_t bits);
uint8_t f32_to_e4m3(float x);  // RNE, satfinite to ±448, NaN -> 0x7F (sign kept)

// ---- fp8 e5m2 ----
float e5m2_to_f32(uint8_t bits);
uint8_t f32_to_e5m2(float x);  // RNE, satfinite to ±57344, NaN -> 0x7F (sign kept)

// ---- e8m0 (UE8M0 scale) ----
float e8m0_to_f32(uint8_t bits);  // 2^(bits-127); 255 -> NaN; 0 -> 2^-127 (a subnormal float)
// Encodes a power of two 2^k (k in [-127, 127]); returns nullopt for anything else.
std::optional<uint8_t> f32_to_e8m0_exact(float power_of_two);

// ---- fp4 e2m1 (one code per nibble: sign bit 3, exponent bits 2..1, mantissa bit 0) ----
// Values: 0, .5, 1, 1.5, 2, 3, 4, 6 and their negatives.
float e2m1_to_f32(uint8_t code);  // low 4 bits used
uint8_t f32_to_e2m1(float x);     // RNE (ties to the even code), satfinite to ±6; e2m1 has no NaN,
                                  // so NaN maps to +6 (code 0x7), as PTX cvt.satfinite does
// Packed pairs: element 2m in the low nibble, element 2m+1 in the high nibble of byte m.
inline float e2m1_packed_get(const uint8_t* bytes, size_t j) {
  const uint8_t b = bytes[j >> 1];
  return e2m1_to_f32((j & 1) ? (b >> 4) : (b & 0xF));
}

// Reinterprets float bits (no conversion).
uint32_t f32_bits(float x);
float f32_from_bits(uint32_t bits);

}  // namespace dsv4
