// A linear layer's weight in its checkpoint format (FP8 128x128 blocks, MXFP4, NVFP4, BF16,
// F32) and its exact dequantization. Lives in core so that backends (below the model) can take
// weights without depending on the model layer.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace dsv4 {

// How a linear weight [out, in] is stored.
enum class WeightFormat : uint8_t {
  F32,
  BF16,
  FP8Block,  // weight F8_E4M3 [out, in]; scale F8_E8M0 [ceil(out/128), ceil(in/128)]
  MXFP4,     // weight I8 [out, in/2] (element 2m low nibble); scale F8_E8M0 [out, in/32]
  NVFP4,     // weight U8 [out, in/2]; scale F8_E4M3 [out, in/16]; global_scale (weight_scale_2)
};
const char* weight_format_name(WeightFormat f);

// A linear layer's weight: y = x · Wᵀ with W [out, in].
struct LinearWeight {
  WeightFormat format = WeightFormat::BF16;
  int64_t out = 0;
  int64_t in = 0;
  TensorView weight;
  TensorView scale;           // absent (data == nullptr) for F32/BF16
  float global_scale = 1.0f;  // NVFP4 weight_scale_2
  float input_scale = 1.0f;   // NVFP4 input_scale (activation global scale)
  std::string name;           // checkpoint prefix, e.g. "layers.3.attn.wq_a"
};

// One SwiGLU expert (routed or shared, spec §8.3).
struct ExpertWeights {
  LinearWeight w1;  // gate [I, d]
  LinearWeight w2;  // down [d, I]
  LinearWeight w3;  // up   [I, d]
};

// Dequantizes rows [row0, row0 + rows) of W into out[rows, in] (fp32, exact: every format's
// value is representable in fp32).
void dequantize_rows(const LinearWeight& w, int64_t row0, int64_t rows, float* out);
}  // namespace dsv4
