// NVFP4 activation quantization (ModelOpt W4A4) against an independent brute-force formula:
// every positive finite e4m3 block scale, every e2m1 value, and the midpoints between them.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/dtype.h"
#include "core/error.h"
#include "core/quant.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

const double kE2M1[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};

// Nearest of ±{0,.5,...,6} to v (|v| saturated at 6); ties to the even code (codes 0..7 in order).
double nearest_e2m1(double v) {
  const double a = std::min(std::fabs(v), 6.0);
  int best = 0;
  for (int c = 1; c < 8; ++c) {
    const double d = std::fabs(a - kE2M1[c]), db = std::fabs(a - kE2M1[best]);
    if (d < db || (d == db && c % 2 == 0)) best = c;
  }
  return std::copysign(kE2M1[best], v);
}

TEST(Nvfp4Quant, EveryBlockScaleAndElementValue) {
  const float g = 1.0f / (448.0f * 6.0f) * 0.75f;  // an input_scale
  int checked = 0;
  for (int code = 1; code < 0x7F; ++code) {  // every positive finite e4m3 block scale
    const float sf = e4m3_to_f32(uint8_t(code));
    const float step = sf * g;
    // Block: the max element 6·step makes the computed scale exactly sf, then every e2m1 value
    // and every midpoint (plus a hair either side) as the other elements.
    std::vector<float> block = {6.0f * step};
    for (int c = 0; c < 8; ++c) block.push_back(float(kE2M1[c]) * step * (c % 2 ? -1.0f : 1.0f));
    for (int c = 0; c < 7; ++c) {
      const float mid = float((kE2M1[c] + kE2M1[c + 1]) / 2) * step;
      block.push_back(mid);
      block.push_back(std::nextafter(mid, 0.0f));
      block.push_back(-std::nextafter(mid, 1e30f));
    }
    block.resize(((block.size() + 15) / 16) * 16, 0.0f);
    std::vector<float> x = block;
    quant_dequant_nvfp4(x.data(), x.size(), g);
    for (size_t b = 0; b < x.size(); b += 16) {
      float amax = 0;
      for (size_t i = b; i < b + 16; ++i) amax = std::max(amax, std::fabs(block[i]));
      const float s = e4m3_to_f32(f32_to_e4m3(amax / 6.0f * (1.0f / g)));
      const float step_f = s * g;  // the definition's fp32 step: x / (sf · input_scale)
      for (size_t i = b; i < b + 16; ++i) {
        const double want = s == 0 ? 0.0 : nearest_e2m1(double(block[i] / step_f)) * double(step_f);
        ASSERT_EQ(double(x[i]), double(float(want))) << "scale code " << code << " element " << block[i];
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 126 * 30);
}

TEST(Nvfp4Quant, RandomBlocksStayWithinOneStepOrSaturate) {
  const uint64_t seed = test::fresh_seed("nvfp4");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<float> mag(0.0f, 2.0f);
  for (int trial = 0; trial < 2000; ++trial) {
    const size_t n = 1 + rng() % 100;
    std::vector<float> x(n);
    for (float& v : x) v = mag(rng) * ((rng() & 1) ? 1.0f : -1.0f);
    float amax_all = 0;
    for (float v : x) amax_all = std::max(amax_all, std::fabs(v));
    const float g = amax_all / (448.0f * 6.0f);
    std::vector<float> q = x;
    quant_dequant_nvfp4(q.data(), n, g);
    for (size_t b = 0; b < n; b += 16) {
      float amax = 0;
      for (size_t i = b; i < std::min(n, b + 16); ++i) amax = std::max(amax, std::fabs(x[i]));
      const float step = e4m3_to_f32(f32_to_e4m3(amax / 6.0f * (1.0f / g))) * g;
      for (size_t i = b; i < std::min(n, b + 16); ++i) {
        if (step == 0.0f) {
          ASSERT_EQ(q[i], 0.0f);
          continue;
        }
        // Inside ±6 steps the e2m1 spacing is at most 2 steps (between 4 and 6): error <= 1 step.
        // Beyond (the e4m3 block scale rounded down, coarsely so in its subnormal range) the
        // value saturates at ±6 steps.
        const float a = std::fabs(x[i]);
        if (a <= 6.0f * step) {
          ASSERT_LE(std::fabs(q[i] - x[i]), step * 1.0001f) << i;
        } else {
          ASSERT_EQ(q[i], std::copysign(6.0f * step, x[i])) << i;
        }
      }
    }
  }
}

TEST(Nvfp4Quant, RejectsABadGlobalScale) {
  std::vector<float> x(16, 1.0f);
  EXPECT_THROW(quant_dequant_nvfp4(x.data(), x.size(), 0.0f), Error);
  EXPECT_THROW(quant_dequant_nvfp4(x.data(), x.size(), INFINITY), Error);
}

}  // namespace
}  // namespace dsv4
