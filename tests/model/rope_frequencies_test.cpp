// RoPE frequency tables per layer kind (spec §2.4): plain base^(-2i/64) on SWA layers; YaRN on
// compressed layers with the ramp between pairs 15 and 25 for the V4 parameters.
#include <gtest/gtest.h>

#include <cmath>

#include "model/forward_context.h"

namespace dsv4 {
namespace {

TEST(RopeFrequencies, PlainBaseWithoutYarn) {
  RopeSpec spec;
  spec.base = 10000.0;
  const RopeFrequencies f = rope_frequencies(spec, 64);
  ASSERT_EQ(f.inv_freq.size(), 32u);
  for (int i = 0; i < 32; ++i)
    EXPECT_NEAR(double(f.inv_freq[size_t(i)]), std::pow(10000.0, -2.0 * i / 64.0), 1e-7 * std::pow(10000.0, -2.0 * i / 64.0))
        << i;
}

TEST(RopeFrequencies, YarnOnCompressedLayersMatchesTheSpecValues) {
  RopeSpec spec;
  spec.base = 160000.0;
  spec.yarn = true;
  spec.factor = 16.0;
  spec.original_max_positions = 65536;
  spec.beta_fast = 32.0;
  spec.beta_slow = 1.0;
  const RopeFrequencies f = rope_frequencies(spec, 64);
  auto plain = [](int i) { return std::pow(160000.0, -2.0 * i / 64.0); };
  for (int i = 0; i <= 15; ++i) EXPECT_NEAR(double(f.inv_freq[size_t(i)]), plain(i), 1e-6 * plain(i)) << "pair " << i;
  for (int i = 25; i < 32; ++i) EXPECT_NEAR(double(f.inv_freq[size_t(i)]), plain(i) / 16.0, 1e-6 * plain(i)) << "pair " << i;
  for (int i = 16; i < 25; ++i) {  // interpolated: ramp (i - 15) / 10
    const double ramp = (i - 15) / 10.0;
    const double want = plain(i) * (1 - ramp) + plain(i) / 16.0 * ramp;
    EXPECT_NEAR(double(f.inv_freq[size_t(i)]), want, 1e-6 * want) << "pair " << i;
  }
  EXPECT_NEAR(double(f.inv_freq[16]), 0.00226562, 1e-8);  // spec §2.4's worked values
  EXPECT_NEAR(double(f.inv_freq[31]), 5.68e-7, 1e-9);
}

}  // namespace
}  // namespace dsv4
