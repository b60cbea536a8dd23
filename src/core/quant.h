// The reference's quantization points (spec §9), as plain functions on fp32 data.
//
//  * act_quant (§9.1): per row, blocks of `block` (128 for GEMM inputs, 64 for KV fake-quant)
//    along the row; amax floored at 1e-4; power-of-two scale s = 2^ceil(log2(amax * (1/448)))
//    computed with the reference's bit trick; q = e4m3(clamp(x/s, ±448)) with RNE.
//  * FP4 (§9.3): blocks of 32; amax floored at 6·2^-126; s = 2^ceil(log2(amax * (1/6)));
//    q = e2m1(clamp(x/s, ±6)).
//  * Fake-quant replaces x by bf16(dequant(q)) in place.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsv4 {

inline constexpr float kE4M3Max = 448.0f;
inline constexpr float kE2M1Max = 6.0f;
inline constexpr float kFp8AmaxFloor = 1e-4f;

// ceil(log2(x)) for a positive normal float, by the reference's bit trick: the unbiased exponent
// field, plus one when the mantissa field is non-zero.
int ceil_log2_bits(float x);

// Power-of-two FP8 scale of a block whose max |x| is `amax` (§9.1).
float fp8_block_scale(float amax);
// Power-of-two FP4 scale of a block whose max |x| is `amax` (§9.3).
float fp4_block_scale(float amax);

// Quantizes row x[0..n) into e4m3 codes with one e8m0 scale byte per `block` elements
// (the last block may be partial). q has n bytes, scales has ceil(n/block) bytes.
void quantize_fp8_blocks(const float* x, size_t n, size_t block, uint8_t* q, uint8_t* scales);
// x[i] <- bf16(e4m3(q)·s): the §9.2 fake-quant of one row (block 64 for KV, 128 for GEMM inputs).
void fake_quant_fp8(float* x, size_t n, size_t block);
// x[i] <- e4m3(q)·s without the bf16 rounding (the fp32 view of the GEMM input quantization).
void quant_dequant_fp8(float* x, size_t n, size_t block);

// Quantizes into e2m1 codes (one per byte, low nibble) with one e8m0 scale per `block`.
void quantize_fp4_blocks(const float* x, size_t n, size_t block, uint8_t* codes, uint8_t* scales);
// x[i] <- bf16(e2m1(q)·s): the §9.3 fake-quant (block 32).
void fake_quant_fp4(float* x, size_t n, size_t block);

// NVFP4 activation quantization (NVIDIA ModelOpt W4A4, as vLLM/TensorRT-LLM run NVFP4 experts):
// per block of 16, the e4m3 block scale sf = e4m3(amax/6 · (1/input_scale)); each element
// becomes e2m1(x / (sf · input_scale)) (RNE, ±6 saturation), dequantized as q · sf · input_scale.
// A block whose scale rounds to 0 becomes 0. x[i] <- the dequantized value (fp32).
void quant_dequant_nvfp4(float* x, size_t n, float input_scale);

// In-place Sylvester (natural order) Walsh–Hadamard transform of length n (a power of two),
// scaled by n^-1/2, as the fast_hadamard_transform package computes it.
void hadamard_transform(float* x, size_t n);

}  // namespace dsv4
