// Host-side checks of the layer-op kernels' scalar numerics (backends/cuda/sm90/layer_ops/codec.h,
// compiled here as plain C++) against core/quant.h and core/dtype.h: the encoders over dense sweeps
// of fp32 patterns, and whole rows run through the kernels' algorithm (amax, scale, element) on the
// boundary patterns, bit for bit, NaN patterns included. No GPU needed (these run in CI).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "backends/cuda/sm90/layer_ops/codec.h"
#include "core/quant.h"
#include "cuda/layer_ops_support.h"
#include "support/test_support.h"

namespace dsv4::cuda {
namespace {

using namespace dsv4::cuda::layer;
using test::bitsf;
using test::fbits;

TEST(LayerOpsCodec, E4m3EncoderMatchesCpuOnDenseSweep) {
  size_t bad = 0;
  for (uint64_t u = 0; u <= bitsf(460.0f); u += 61) {
    const float a = fbits(uint32_t(u));
    const float c = a > 448.0f ? 448.0f : a;
    if (e4m3_encode_mag(c) != f32_to_e4m3(c) && ++bad <= 5) ADD_FAILURE() << "a = " << a;
  }
  for (int code = 0; code < 0x7E; ++code) {  // every midpoint and its neighbours
    const float mid = 0.5f * (e4m3_to_f32(uint8_t(code)) + e4m3_to_f32(uint8_t(code + 1)));
    for (int o = -3; o <= 3; ++o) {
      const float a = fbits(uint32_t(int64_t(bitsf(mid)) + o));
      if (e4m3_encode_mag(a) != f32_to_e4m3(a) && ++bad <= 10) ADD_FAILURE() << "midpoint neighbour " << a;
    }
  }
  for (int code = 0; code < 0x7F; ++code)
    EXPECT_EQ(bitsf(e4m3_decode_mag(uint32_t(code))), bitsf(e4m3_to_f32(uint8_t(code)))) << code;
  EXPECT_EQ(bad, 0u);
}

TEST(LayerOpsCodec, E2m1EncoderMatchesCpuOnDenseSweep) {
  size_t bad = 0;
  for (uint64_t u = 0; u <= bitsf(6.0f); u += 29) {
    const float a = fbits(uint32_t(u));
    if (e2m1_encode_mag(a) != f32_to_e2m1(a) && ++bad <= 5) ADD_FAILURE() << "a = " << a;
  }
  for (int code = 0; code < 8; ++code)
    EXPECT_EQ(bitsf(e2m1_decode_mag(uint32_t(code))), bitsf(e2m1_to_f32(uint8_t(code)))) << code;
  EXPECT_EQ(bad, 0u);
}

TEST(LayerOpsCodec, ScalesMatchCpu) {
  std::mt19937_64 rng(dsv4::test::fresh_seed("LayerOpsCodec.ScalesMatchCpu"));
  for (int i = 0; i < 200000; ++i) {
    const float a = i < 1000 ? std::ldexp(1.0f, i % 250 - 125) * (i & 1 ? 448.f : 6.f)
                             : fbits(uint32_t(rng() & 0x7F7FFFFFu));
    ASSERT_EQ(bitsf(fp8_block_scale(a)), bitsf(dsv4::fp8_block_scale(a))) << a;
    ASSERT_EQ(bitsf(fp4_block_scale(a)), bitsf(dsv4::fp4_block_scale(a))) << a;
  }
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(bitsf(fp8_block_scale(inf)), bitsf(dsv4::fp8_block_scale(inf)));
  EXPECT_EQ(bitsf(fp4_block_scale(inf)), bitsf(dsv4::fp4_block_scale(inf)));
}

// The kernels' row algorithms, on the host.
void emu_fp8_row(float* x, size_t n, size_t block, bool bf16) {
  for (size_t b0 = 0; b0 < n; b0 += block) {
    const size_t len = std::min(block, n - b0);
    float amax = 0.0f;
    for (size_t i = 0; i < len; ++i) amax = amax_step(amax, x[b0 + i]);
    const float s = fp8_block_scale(amax);
    for (size_t i = 0; i < len; ++i) x[b0 + i] = fbits(fp8_fake_elem(x[b0 + i], s, bf16));
  }
}
void emu_fp4_row(float* x, size_t n) {
  for (size_t b0 = 0; b0 < n; b0 += 32) {
    const size_t len = std::min<size_t>(32, n - b0);
    float amax = 0.0f;
    for (size_t i = 0; i < len; ++i) amax = amax_step(amax, x[b0 + i]);
    const float s = fp4_block_scale(amax);
    for (size_t i = 0; i < len; ++i) x[b0 + i] = fbits(fp4_fake_elem(x[b0 + i], s, true));
  }
}
void emu_nvfp4_row(float* x, size_t n, float input_scale) {
  const float inv = 1.0f / input_scale;
  for (size_t b0 = 0; b0 < n; b0 += 16) {
    const size_t len = std::min<size_t>(16, n - b0);
    float amax = 0.0f;
    for (size_t i = 0; i < len; ++i) amax = amax_step(amax, x[b0 + i]);
    const float sf = nvfp4_block_sf(amax, inv);
    for (size_t i = 0; i < len; ++i) {
      if (!(sf > 0.0f))
        x[b0 + i] = nan_bits(bitsf(sf)) ? fbits(kQuietNaN) : 0.0f;
      else
        x[b0 + i] = fbits(fp4_fake_elem(x[b0 + i], mul_rn(sf, input_scale), false));
    }
  }
}

TEST(LayerOpsCodec, Fp8RowsMatchCpuBitwiseOnBoundaryPatterns) {
  const uint64_t seed = dsv4::test::fresh_seed("LayerOpsCodec.Fp8Rows");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto grid = test::e4m3_grid();
  for (size_t block : {64u, 128u})
    for (bool bf16 : {false, true}) {
      const size_t n = 4096 + 37;
      auto x = test::boundary_rows(rng, 8, int64_t(n), 0, int64_t(n), int64_t(block), 448.0f, grid);
      auto want = x, got = x;
      for (int r = 0; r < 8; ++r) {
        if (bf16)
          dsv4::fake_quant_fp8(want.data() + r * n, n, block);
        else
          quant_dequant_fp8(want.data() + r * n, n, block);
        emu_fp8_row(got.data() + r * n, n, block, bf16);
      }
      test::expect_bitwise(got, want, "fp8 rows", &x);
    }
}

TEST(LayerOpsCodec, Fp4AndNvfp4RowsMatchCpuBitwiseOnBoundaryPatterns) {
  const uint64_t seed = dsv4::test::fresh_seed("LayerOpsCodec.Fp4Rows");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto grid = test::e2m1_grid();
  const size_t n = 2048 + 21;
  auto x = test::boundary_rows(rng, 8, int64_t(n), 0, int64_t(n), 32, 6.0f, grid);
  auto want = x, got = x;
  for (int r = 0; r < 8; ++r) {
    fake_quant_fp4(want.data() + r * n, n, 32);
    emu_fp4_row(got.data() + r * n, n);
  }
  test::expect_bitwise(got, want, "fp4 rows", &x);
  for (float input_scale : {1.0f, 0.0123f, 3.7e-5f, 250.0f, 1e30f, 1e-38f}) {
    auto y = test::boundary_rows(rng, 8, int64_t(n), 0, int64_t(n), 16, 6.0f * 448.0f * input_scale, grid);
    auto w = y, g = y;
    for (int r = 0; r < 8; ++r) {
      quant_dequant_nvfp4(w.data() + r * n, n, input_scale);
      emu_nvfp4_row(g.data() + r * n, n, input_scale);
    }
    test::expect_bitwise(g, w, "nvfp4 rows, input_scale " + std::to_string(input_scale), &y);
  }
}

TEST(LayerOpsCodec, OrderKeyIsMonotone) {
  const float vals[] = {-std::numeric_limits<float>::infinity(), -3.0f, -1e-40f, -0.0f, 0.0f, 1e-40f, 2.0f,
                        std::numeric_limits<float>::infinity()};
  for (size_t i = 0; i + 1 < std::size(vals); ++i) EXPECT_LE(order_key(vals[i]), order_key(vals[i + 1])) << i;
  EXPECT_EQ(order_key(-0.0f), order_key(0.0f));
  EXPECT_EQ(order_key(-std::numeric_limits<float>::infinity()), kKeyNegInf);
}

}  // namespace
}  // namespace dsv4::cuda
