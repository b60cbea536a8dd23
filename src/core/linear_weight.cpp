#include "core/linear_weight.h"

#include <array>
#include <cstring>

#include "core/dtype.h"
#include "core/error.h"

namespace dsv4 {

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::F32: return "f32";
    case WeightFormat::BF16: return "bf16";
    case WeightFormat::FP8Block: return "fp8-block128";
    case WeightFormat::MXFP4: return "mxfp4";
    case WeightFormat::NVFP4: return "nvfp4";
  }
  return "?";
}

// ---------------------------------------------------------------- dequantization

namespace {

struct CodecTables {
  std::array<float, 256> e4m3;
  std::array<float, 256> e8m0;
  std::array<float, 16> e2m1;
  CodecTables() {
    for (int i = 0; i < 256; ++i) {
      e4m3[size_t(i)] = e4m3_to_f32(uint8_t(i));
      e8m0[size_t(i)] = e8m0_to_f32(uint8_t(i));
    }
    for (int i = 0; i < 16; ++i) e2m1[size_t(i)] = e2m1_to_f32(uint8_t(i));
  }
};

const CodecTables& tables() {
  static const CodecTables t;
  return t;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

void dequantize_rows(const LinearWeight& w, int64_t row0, int64_t rows, float* out) {
  if (row0 < 0 || rows < 0 || row0 + rows > w.out)
    fail("dequantize_rows({}): rows [{}, {}) outside [0, {})", w.name, row0, row0 + rows, w.out);
  const CodecTables& t = tables();
  const int64_t in = w.in;
  switch (w.format) {
    case WeightFormat::F32:
      std::memcpy(out, w.weight.as<float>() + row0 * in, size_t(rows * in) * sizeof(float));
      return;
    case WeightFormat::BF16: {
      const uint16_t* src = w.weight.as<uint16_t>() + row0 * in;
      for (int64_t k = 0; k < rows * in; ++k) out[k] = bf16_to_f32(src[k]);
      return;
    }
    case WeightFormat::FP8Block: {
      const uint8_t* q = w.weight.bytes();
      const uint8_t* s = w.scale.bytes();
      const int64_t scale_cols = ceil_div(in, 128);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = row0 + r;
        const uint8_t* qrow = q + i * in;
        const uint8_t* srow = s + (i / 128) * scale_cols;
        float* o = out + r * in;
        for (int64_t j = 0; j < in; ++j) o[j] = t.e4m3[qrow[j]] * t.e8m0[srow[j / 128]];
      }
      return;
    }
    case WeightFormat::MXFP4: {
      const uint8_t* q = w.weight.bytes();
      const uint8_t* s = w.scale.bytes();
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = row0 + r;
        const uint8_t* qrow = q + i * (in / 2);
        const uint8_t* srow = s + i * (in / 32);
        float* o = out + r * in;
        for (int64_t m = 0; m < in / 2; ++m) {
          const float scale = t.e8m0[srow[(2 * m) / 32]];
          o[2 * m] = t.e2m1[qrow[m] & 0xF] * scale;
          o[2 * m + 1] = t.e2m1[qrow[m] >> 4] * scale;
        }
      }
      return;
    }
    case WeightFormat::NVFP4: {
      const uint8_t* q = w.weight.bytes();
      const uint8_t* s = w.scale.bytes();
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = row0 + r;
        const uint8_t* qrow = q + i * (in / 2);
        const uint8_t* srow = s + i * (in / 16);
        float* o = out + r * in;
        for (int64_t m = 0; m < in / 2; ++m) {
          const float scale = t.e4m3[srow[(2 * m) / 16]] * w.global_scale;
          o[2 * m] = t.e2m1[qrow[m] & 0xF] * scale;
          o[2 * m + 1] = t.e2m1[qrow[m] >> 4] * scale;
        }
      }
      return;
    }
  }
}

}  // namespace dsv4
