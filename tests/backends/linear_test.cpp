// linear(): y = x·Wᵀ over weights in every checkpoint format, against a naive double GEMM on
// weights decoded here by independent formulas (spec §10.3).
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "op_test_util.h"

namespace dsv4::test {
namespace {

double e4m3_value(uint8_t b) {
  const int sign = b >> 7, exp = (b >> 3) & 0xF, mant = b & 7;
  const double mag = exp == 0 ? std::ldexp(mant / 8.0, -6) : std::ldexp(1.0 + mant / 8.0, exp - 7);
  return sign ? -mag : mag;
}
double e8m0_value(uint8_t b) { return std::ldexp(1.0, int(b) - 127); }
double fp4_value(uint8_t code) {
  static const double table[16] = {0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6};
  return table[code & 0xF];
}

struct TestWeight {
  LinearWeight w;
  std::vector<uint8_t> weight_bytes, scale_bytes;
  std::vector<double> dense;  // [out, in] decoded independently
};

TestWeight make_weight(WeightFormat format, int64_t out, int64_t in, Rng& rng) {
  TestWeight t;
  t.w.format = format;
  t.w.out = out;
  t.w.in = in;
  t.w.name = "test.weight";
  t.dense.resize(size_t(out * in));
  switch (format) {
    case WeightFormat::F32: {
      t.weight_bytes.resize(size_t(out * in) * 4);
      for (int64_t i = 0; i < out * in; ++i) {
        const float v = rng.normal();
        std::memcpy(&t.weight_bytes[size_t(i) * 4], &v, 4);
        t.dense[size_t(i)] = v;
      }
      t.w.weight = TensorView{t.weight_bytes.data(), DType::F32, {out, in}, Device::Host};
      break;
    }
    case WeightFormat::BF16: {
      t.weight_bytes.resize(size_t(out * in) * 2);
      for (int64_t i = 0; i < out * in; ++i) {
        const float v = rng.normal();
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        const uint16_t hi = uint16_t(bits >> 16);  // truncation: any bf16 value is fine here
        std::memcpy(&t.weight_bytes[size_t(i) * 2], &hi, 2);
        const uint32_t back = uint32_t(hi) << 16;
        float f;
        std::memcpy(&f, &back, 4);
        t.dense[size_t(i)] = f;
      }
      t.w.weight = TensorView{t.weight_bytes.data(), DType::BF16, {out, in}, Device::Host};
      break;
    }
    case WeightFormat::FP8Block: {
      const int64_t so = (out + 127) / 128, si = (in + 127) / 128;
      t.weight_bytes.resize(size_t(out * in));
      t.scale_bytes.resize(size_t(so * si));
      for (auto& s : t.scale_bytes) s = uint8_t(rng.integer(118, 134));
      for (int64_t i = 0; i < out; ++i)
        for (int64_t j = 0; j < in; ++j) {
          uint8_t b;
          do b = uint8_t(rng.integer(0, 255)); while ((b & 0x7F) == 0x7F);
          t.weight_bytes[size_t(i * in + j)] = b;
          t.dense[size_t(i * in + j)] = e4m3_value(b) * e8m0_value(t.scale_bytes[size_t((i / 128) * si + j / 128)]);
        }
      t.w.weight = TensorView{t.weight_bytes.data(), DType::F8_E4M3, {out, in}, Device::Host};
      t.w.scale = TensorView{t.scale_bytes.data(), DType::F8_E8M0, {so, si}, Device::Host};
      break;
    }
    case WeightFormat::MXFP4: {
      t.weight_bytes.resize(size_t(out * in / 2));
      t.scale_bytes.resize(size_t(out * in / 32));
      for (auto& b : t.weight_bytes) b = uint8_t(rng.integer(0, 255));
      for (auto& s : t.scale_bytes) s = uint8_t(rng.integer(118, 134));
      for (int64_t i = 0; i < out; ++i)
        for (int64_t j = 0; j < in; ++j) {
          const uint8_t byte = t.weight_bytes[size_t(i * in / 2 + j / 2)];
          const uint8_t code = (j % 2 == 0) ? (byte & 0xF) : (byte >> 4);
          t.dense[size_t(i * in + j)] = fp4_value(code) * e8m0_value(t.scale_bytes[size_t(i * (in / 32) + j / 32)]);
        }
      t.w.weight = TensorView{t.weight_bytes.data(), DType::I8, {out, in / 2}, Device::Host};
      t.w.scale = TensorView{t.scale_bytes.data(), DType::F8_E8M0, {out, in / 32}, Device::Host};
      break;
    }
    default:
      ADD_FAILURE() << "format not covered";
  }
  return t;
}

void check_linear(WeightFormat format, int64_t M, int64_t out, int64_t in, int64_t row0, int64_t N, int64_t pad) {
  const uint64_t seed = fresh_seed("linear");
  DSV4_SEED_TRACE(seed);
  SCOPED_TRACE(::testing::Message() << weight_format_name(format) << " M=" << M << " out=" << out << " in=" << in
                                    << " rows [" << row0 << ", " << row0 + N << ")");
  Rng rng(seed);
  TestWeight tw = make_weight(format, out, in, rng);
  const int64_t ldx = in + pad, ldy = N + pad;
  std::vector<float> x = rng.normals(size_t(M * ldx));
  std::vector<float> y(size_t(M * ldy), 12345.0f);
  ops().linear(x.data(), M, ldx, tw.w, row0, N, y.data(), ldy);
  std::vector<float> got;
  std::vector<double> want;
  double scale = 0.0;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0.0, mag = 0.0;
      for (int64_t k = 0; k < in; ++k) {
        acc += double(x[size_t(m * ldx + k)]) * tw.dense[size_t((row0 + j) * in + k)];
        mag += std::fabs(double(x[size_t(m * ldx + k)]) * tw.dense[size_t((row0 + j) * in + k)]);
      }
      got.push_back(y[size_t(m * ldy + j)]);
      want.push_back(acc);
      scale = std::max(scale, mag);
    }
  EXPECT_TRUE(close(got, want, 1e-6 * scale));
  for (int64_t m = 0; m < M; ++m)  // padding columns untouched
    for (int64_t j = N; j < ldy; ++j) ASSERT_EQ(y[size_t(m * ldy + j)], 12345.0f);
}

TEST(CpuLinear, Fp32AndBf16OddSizes) {
  check_linear(WeightFormat::F32, 7, 37, 53, 0, 37, 0);
  check_linear(WeightFormat::BF16, 1, 16, 8, 0, 16, 3);
  check_linear(WeightFormat::BF16, 33, 70, 129, 5, 40, 2);
}

TEST(CpuLinear, Fp8BlockScaled) {
  check_linear(WeightFormat::FP8Block, 9, 256, 384, 0, 256, 0);
  check_linear(WeightFormat::FP8Block, 130, 200, 130, 64, 136, 5);  // partial scale blocks, sub-range
}

TEST(CpuLinear, Mxfp4) {
  check_linear(WeightFormat::MXFP4, 5, 48, 128, 0, 48, 0);
  check_linear(WeightFormat::MXFP4, 67, 96, 256, 17, 50, 1);
}

TEST(CpuLinear, EmptyAndInvalid) {
  Rng rng(1);
  TestWeight tw = make_weight(WeightFormat::F32, 4, 8, rng);
  std::vector<float> x(8), y(4);
  ops().linear(x.data(), 0, 8, tw.w, 0, 4, y.data(), 4);  // M = 0: nothing to do
  EXPECT_THROW(ops().linear(x.data(), 1, 8, tw.w, 2, 4, y.data(), 4), Error);
  EXPECT_THROW(ops().linear(x.data(), 1, 4, tw.w, 0, 4, y.data(), 4), Error);
}

}  // namespace
}  // namespace dsv4::test
