// core/quant.h against naive, independent implementations of spec §9.1-§9.3 and properties on
// random data (fresh seed per run, printed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/quant.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

double pow2(int k) {
  double r = 1.0;
  for (int i = 0; i < k; ++i) r *= 2.0;
  for (int i = 0; i > k; --i) r *= 0.5;
  return r;
}

// ---- independent references ----

// Ascending table of the non-negative finite values of a small format, built from its definition.
struct Table {
  std::vector<double> values;  // index == magnitude code
};

Table e4m3_table() {
  Table t;
  for (int c = 0; c < 127; ++c) {  // 0x7F is NaN
    const int e = c >> 3, m = c & 7;
    t.values.push_back(e == 0 ? m * pow2(-9) : (8 + m) * pow2(e - 10));
  }
  return t;
}

Table e2m1_table() { return Table{{0, 0.5, 1, 1.5, 2, 3, 4, 6}}; }

// Nearest value, ties to the even code, saturating; returns the code with the sign bit `sign_bit`.
uint8_t nearest_code(const Table& t, float x, uint8_t sign_bit) {
  const double a = std::fabs(double(x));
  size_t best = 0;
  for (size_t c = 1; c < t.values.size(); ++c) {
    const double d = std::fabs(a - t.values[c]), bd = std::fabs(a - t.values[best]);
    if (d < bd || (d == bd && (c & 1) == 0)) best = c;
  }
  return uint8_t((std::signbit(x) ? sign_bit : 0) | best);
}

double decode_code(const Table& t, uint8_t code, uint8_t sign_bit) {
  const double v = t.values[code & (sign_bit - 1)];
  return (code & sign_bit) ? -v : v;
}

// Smallest power of two >= p, by search (p > 0 finite).
double smallest_pow2_at_least(double p) {
  int k = 0;
  while (pow2(k) < p) ++k;
  while (pow2(k - 1) >= p) --k;
  return pow2(k);
}

// §9.1: the reference computes amax * (1/448) in fp32, then rounds up to a power of two.
float ref_fp8_scale(float amax) {
  const volatile float inv = 1.0f / 448.0f;
  const float p = std::max(amax, 1e-4f) * inv;
  return float(smallest_pow2_at_least(p));
}

// §9.3: amax floored at 6·2^-126, times fp32 1/6, rounded up to a power of two.
float ref_fp4_scale(float amax) {
  const volatile float inv = 1.0f / 6.0f;
  const float floor = float(6 * pow2(-126));
  const float p = std::max(amax, floor) * inv;
  return float(smallest_pow2_at_least(p));
}

float naive_block_amax(const float* x, size_t n, size_t i, size_t block) {
  const size_t b0 = i / block * block, b1 = std::min(n, b0 + block);
  float amax = 0;
  for (size_t j = b0; j < b1; ++j) amax = std::max(amax, std::fabs(x[j]));
  return amax;
}

uint8_t e8m0_of(float s) {  // s a power of two: its biased exponent, from double arithmetic
  int k = 0;
  while (pow2(k) < double(s)) ++k;
  while (pow2(k) > double(s)) --k;
  return uint8_t(k + 127);
}

// Half the e4m3 spacing at magnitude v (v <= 448).
double e4m3_half_ulp(double v) {
  if (v < pow2(-6)) return pow2(-10);
  int e = 0;
  while (pow2(e + 1) <= v) ++e;
  while (pow2(e) > v) --e;
  return pow2(e - 3) / 2;
}

double e2m1_half_ulp(double v) {
  if (v < 2) return 0.25;
  if (v < 4) return 0.5;
  return 1.0;
}

// Random rows with a wide dynamic range, zero blocks, exact zeros and values at 448·2^k.
std::vector<float> random_row(std::mt19937_64& rng, size_t n, float top) {
  std::normal_distribution<float> normal(0, 1);
  std::uniform_int_distribution<int> exp_dist(-40, 40);
  std::vector<float> x(n);
  const float scale = std::ldexp(1.0f, exp_dist(rng));
  const int mode = int(rng() % 5);
  for (size_t i = 0; i < n; ++i) {
    float v = normal(rng) * scale;
    if (mode == 1 && rng() % 4 == 0) v = 0;
    if (mode == 2 && (i / 32) % 3 == 1) v = 0;  // whole zero blocks
    if (mode == 3 && rng() % 16 == 0) v = top * std::ldexp(1.0f, exp_dist(rng)) * ((rng() & 1) ? -1.0f : 1.0f);
    if (mode == 4) v = std::ldexp(normal(rng), exp_dist(rng));  // each element its own magnitude
    x[i] = v;
  }
  return x;
}

// ---- ceil_log2_bits ----

TEST(Quant, CeilLog2BitsMatchesLibm) {
  for (int k = -126; k <= 127; ++k) {
    const float p = float(pow2(k));
    EXPECT_EQ(ceil_log2_bits(p), k) << "2^" << k;
    EXPECT_EQ(ceil_log2_bits(std::nextafter(p, std::numeric_limits<float>::infinity())), k + 1) << "above 2^" << k;
    if (k > -126) {
      EXPECT_EQ(ceil_log2_bits(std::nextafter(p, 0.0f)), k) << "below 2^" << k;
    }
  }
  // Every 13th normal positive float.
  int failures = 0;
  for (uint32_t b = 0x00800000u; b < 0x7F800000u && failures < 10; b += 13) {
    const float x = f32_from_bits(b);
    const int want = int(std::ceil(std::log2(double(x))));
    if (ceil_log2_bits(x) != want) {
      ++failures;
      ADD_FAILURE() << "x=" << x << " got " << ceil_log2_bits(x) << " want " << want;
    }
  }
  const uint64_t seed = test::fresh_seed("Quant.CeilLog2BitsMatchesLibm");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> normal_bits(0x00800000u, 0x7F7FFFFFu);
  for (int i = 0; i < 1000000; ++i) {
    const float x = f32_from_bits(normal_bits(rng));
    ASSERT_EQ(ceil_log2_bits(x), int(std::ceil(std::log2(double(x))))) << x;
  }
}

// ---- scales ----

TEST(Quant, BlockScalesMatchFormulaAndFloors) {
  // Floors: everything up to the floor gets the floor's scale.
  const float fp8_floor_scale = float(smallest_pow2_at_least(double(1e-4f) / 448));
  EXPECT_EQ(double(fp8_floor_scale), pow2(-22));  // 1e-4/448 = 2.23e-7 -> 2^-22
  for (float a : {0.0f, 1e-30f, std::numeric_limits<float>::denorm_min(), 5e-5f, 1e-4f})
    EXPECT_EQ(fp8_block_scale(a), fp8_floor_scale) << a;
  for (float a : {0.0f, 1e-44f, std::numeric_limits<float>::min(), float(6 * pow2(-126))})
    EXPECT_EQ(double(fp4_block_scale(a)), pow2(-126)) << a;
  EXPECT_EQ(double(fp4_block_scale(std::nextafter(float(6 * pow2(-126)), 1.0f))), pow2(-125));

  // Exact 448·2^k maps to 2^k; the next float up to 2^(k+1). Likewise 6·2^k for FP4.
  for (int k = -20; k <= 100; ++k) {
    const float a = float(448 * pow2(k));
    EXPECT_EQ(double(fp8_block_scale(a)), pow2(k)) << "448*2^" << k;
    EXPECT_EQ(double(fp8_block_scale(std::nextafter(a, std::numeric_limits<float>::infinity()))), pow2(k + 1)) << "above 448*2^" << k;
    EXPECT_EQ(double(fp8_block_scale(std::nextafter(a, 0.0f))), pow2(k)) << "below 448*2^" << k;
  }
  for (int k = -125; k <= 100; ++k) {
    const float a = float(6 * pow2(k));
    EXPECT_EQ(double(fp4_block_scale(a)), pow2(k)) << "6*2^" << k;
    EXPECT_EQ(double(fp4_block_scale(std::nextafter(a, std::numeric_limits<float>::infinity()))), pow2(k + 1)) << "above 6*2^" << k;
  }

  const uint64_t seed = test::fresh_seed("Quant.BlockScalesMatchFormulaAndFloors");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> bits(0, 0x7D000000u);  // positive floats up to ~1e37
  for (int i = 0; i < 300000; ++i) {
    const float a = f32_from_bits(bits(rng));
    const float s8 = fp8_block_scale(a), s4 = fp4_block_scale(a);
    ASSERT_EQ(s8, ref_fp8_scale(a)) << a;
    ASSERT_EQ(s4, ref_fp4_scale(a)) << a;
    // Smallest power of two with amax/s <= max (exact arithmetic in double).
    const double a8 = std::max(double(a), double(1e-4f));
    ASSERT_LE(a8 / double(s8), 448.0) << a;
    ASSERT_GT(a8 / (double(s8) / 2), 448.0) << a;
    const double a4 = std::max(double(a), 6 * pow2(-126));
    ASSERT_LE(a4 / double(s4), 6.0) << a;
    ASSERT_GT(a4 / (double(s4) / 2), 6.0) << a;
  }
}

// ---- FP8 blocks ----

void check_fp8_row(const std::vector<float>& x, size_t block) {
  const Table t = e4m3_table();
  const size_t n = x.size(), nb = (n + block - 1) / block;
  std::vector<uint8_t> q(n, 0xAA), scales(nb + 1, 0xAA);
  quantize_fp8_blocks(x.data(), n, block, q.data(), scales.data());
  EXPECT_EQ(scales[nb], 0xAA) << "wrote past the scales";
  std::vector<float> fq = x, qd = x;
  fake_quant_fp8(fq.data(), n, block);
  quant_dequant_fp8(qd.data(), n, block);
  for (size_t i = 0; i < n; ++i) {
    const float amax = naive_block_amax(x.data(), n, i, block);
    const float s = ref_fp8_scale(amax);
    const double sd = s;
    ASSERT_EQ(scales[i / block], e8m0_of(s)) << "i=" << i;
    const float v = std::clamp(x[i] / s, -448.0f, 448.0f);
    const uint8_t code = nearest_code(t, v, 0x80);
    ASSERT_EQ(q[i], code) << "i=" << i << " x=" << x[i] << " s=" << s;
    // The product is taken in fp32 (spec §9.2); it overflows to inf only when a block max near
    // FLT_MAX rounds up to 256·2^120 = 2^128.
    const float deq_f = float(decode_code(t, code, 0x80)) * s;
    const double deq = decode_code(t, code, 0x80) * sd;
    ASSERT_EQ(qd[i], deq_f) << "i=" << i;
    ASSERT_EQ(fq[i], bf16_to_f32(f32_to_bf16(deq_f))) << "i=" << i;
    if (std::isfinite(deq_f)) {
      ASSERT_EQ(double(deq_f), deq) << "i=" << i;
    }
    // Properties: error within half an e4m3 ulp at this scale; block max in the top binade.
    ASSERT_LE(std::fabs(deq - double(x[i])), e4m3_half_ulp(std::fabs(double(x[i]) / sd)) * sd) << "i=" << i;
    if (amax > 1e-4f) {
      ASSERT_LE(double(amax) / sd, 448.0);
      ASSERT_GT(double(amax) / sd, 224.0);
    }
  }
}

TEST(Quant, Fp8BlocksMatchNaiveImplementation) {
  const uint64_t seed = test::fresh_seed("Quant.Fp8BlocksMatchNaiveImplementation");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (size_t block : {size_t(128), size_t(64)}) {
    for (size_t n : {block, 2 * block, 7 * block, block + 1, 3 * block - 5, size_t(1), size_t(1000), size_t(448)}) {
      for (int rep = 0; rep < 12; ++rep) {
        SCOPED_TRACE(::testing::Message() << "block=" << block << " n=" << n << " rep=" << rep);
        check_fp8_row(random_row(rng, n, 448.0f), block);
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(Quant, Fp8BlocksEdgeRows) {
  for (size_t block : {size_t(128), size_t(64)}) {
    SCOPED_TRACE(block);
    check_fp8_row(std::vector<float>(block * 2 + 3, 0.0f), block);             // all zero: floor scale
    check_fp8_row(std::vector<float>(block, -448.0f), block);                  // exactly at max
    std::vector<float> r(block * 2);
    for (size_t i = 0; i < r.size(); ++i) r[i] = (i % 2 ? -1.0f : 1.0f) * float(i) * 3.5f;
    check_fp8_row(r, block);
    std::vector<float> tiny(block, 1e-6f);
    tiny[3] = -3e-5f;
    check_fp8_row(tiny, block);  // below the 1e-4 floor
    std::vector<float> huge(block, 1e30f);
    huge[0] = -3.3e38f;
    check_fp8_row(huge, block);
  }
}

// ---- FP4 blocks ----

void check_fp4_row(const std::vector<float>& x, size_t block) {
  const Table t = e2m1_table();
  const size_t n = x.size(), nb = (n + block - 1) / block;
  std::vector<uint8_t> codes(n, 0xAA), scales(nb + 1, 0xAA);
  quantize_fp4_blocks(x.data(), n, block, codes.data(), scales.data());
  EXPECT_EQ(scales[nb], 0xAA) << "wrote past the scales";
  std::vector<float> fq = x;
  fake_quant_fp4(fq.data(), n, block);
  const double floor = 6 * pow2(-126);
  for (size_t i = 0; i < n; ++i) {
    const float amax = naive_block_amax(x.data(), n, i, block);
    const float s = ref_fp4_scale(amax);
    const double sd = s;
    ASSERT_EQ(scales[i / block], e8m0_of(s)) << "i=" << i;
    const float v = std::clamp(x[i] / s, -6.0f, 6.0f);
    const uint8_t code = nearest_code(t, v, 0x08);
    ASSERT_EQ(codes[i], code) << "i=" << i << " x=" << x[i];
    const double deq = decode_code(t, code, 0x08) * sd;
    ASSERT_EQ(fq[i], bf16_to_f32(f32_to_bf16(float(decode_code(t, code, 0x08)) * s))) << "i=" << i;
    // x/s may lose bits only when it is subnormal; allow for that.
    const double slack = std::fabs(double(x[i]) / sd) < 1e-30 ? 1e-30 * sd : 0.0;
    ASSERT_LE(std::fabs(deq - double(x[i])), e2m1_half_ulp(std::fabs(double(x[i]) / sd)) * sd + slack) << "i=" << i;
    if (double(amax) > floor) {
      ASSERT_LE(double(amax) / sd, 6.0);
      ASSERT_GT(double(amax) / sd, 3.0);
    }
  }
}

TEST(Quant, Fp4BlocksMatchNaiveImplementation) {
  const uint64_t seed = test::fresh_seed("Quant.Fp4BlocksMatchNaiveImplementation");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (size_t n : {size_t(32), size_t(64), size_t(31), size_t(33), size_t(1), size_t(128), size_t(500)}) {
    for (int rep = 0; rep < 20; ++rep) {
      SCOPED_TRACE(::testing::Message() << "n=" << n << " rep=" << rep);
      check_fp4_row(random_row(rng, n, 6.0f), 32);
      if (HasFatalFailure()) return;
    }
  }
  check_fp4_row(std::vector<float>(40, 0.0f), 32);
  check_fp4_row(std::vector<float>(32, std::numeric_limits<float>::min()), 32);
  std::vector<float> ties(32);
  for (size_t i = 0; i < 32; ++i) ties[i] = 0.25f * float(i % 25);  // many exact midpoints at scale 1
  ties[31] = 6.0f;
  check_fp4_row(ties, 32);
}

TEST(Quant, NonFiniteBlocksAreRejectedOrPropagate) {
  // A block holding inf has no finite power-of-two scale; quantization must report it, not
  // invoke undefined behaviour.
  std::vector<float> x(128, 1.0f);
  x[5] = std::numeric_limits<float>::infinity();
  std::vector<uint8_t> q(128), s(1);
  EXPECT_THROW(quantize_fp8_blocks(x.data(), x.size(), 128, q.data(), s.data()), Error);
  EXPECT_THROW(quantize_fp4_blocks(x.data(), 32, 32, q.data(), s.data()), Error);
}

// ---- Hadamard ----

TEST(Quant, HadamardIsOrthonormalSylvester) {
  const uint64_t seed = test::fresh_seed("Quant.HadamardIsOrthonormalSylvester");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, 1);
  for (size_t n = 1; n <= 256; n *= 2) {
    SCOPED_TRACE(n);
    const double inv_sqrt = 1.0 / std::sqrt(double(n));
    for (size_t j = 0; j < n; ++j) {
      std::vector<float> e(n, 0.0f);
      e[j] = 1.0f;
      hadamard_transform(e.data(), n);
      for (size_t i = 0; i < n; ++i) {
        const double want = (__builtin_popcountll(i & j) % 2 ? -1.0 : 1.0) * inv_sqrt;  // Sylvester, natural order
        ASSERT_NEAR(double(e[i]), want, 1e-7) << "H[" << i << "][" << j << "]";
      }
      hadamard_transform(e.data(), n);  // H·H = I
      for (size_t i = 0; i < n; ++i) ASSERT_NEAR(double(e[i]), i == j ? 1.0 : 0.0, 1e-6);
    }
    // A random vector against the explicit matrix product in double; the norm is kept.
    std::vector<float> x(n);
    for (float& v : x) v = float(normal(rng));
    std::vector<float> y = x;
    hadamard_transform(y.data(), n);
    double nx = 0, ny = 0;
    for (size_t i = 0; i < n; ++i) {
      double acc = 0;
      for (size_t j = 0; j < n; ++j) acc += (__builtin_popcountll(i & j) % 2 ? -1.0 : 1.0) * double(x[j]);
      ASSERT_NEAR(double(y[i]), acc * inv_sqrt, 1e-4) << i;
      nx += double(x[i]) * double(x[i]);
      ny += double(y[i]) * double(y[i]);
    }
    EXPECT_NEAR(nx, ny, 1e-4 * nx);
  }
  std::vector<float> bad(12);
  for (size_t n : {size_t(0), size_t(3), size_t(12), size_t(6)}) EXPECT_THROW(hadamard_transform(bad.data(), n), Error);
}

}  // namespace
}  // namespace dsv4
