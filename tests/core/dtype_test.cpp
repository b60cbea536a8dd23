// Scalar codecs of core/dtype.h against independent references:
//  * decoders: every bit pattern against sign/exponent/mantissa arithmetic written here with
//    std::pow in double (not ldexp), or against hand tables taken from the format definitions;
//  * encoders: round trip of every code; every midpoint between adjacent representable values
//    (ties to the even code) and its float neighbours; saturation, zeros, infinities, NaN;
//    a brute-force nearest-value encoder on random floats (fresh seed) and on a stride over all
//    floats; fp16 against the compiler's _Float16 conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// 2^k in double by repeated multiplication (independent of ldexp / bit tricks).
double pow2(int k) {
  double r = 1.0;
  if (k >= 0)
    for (int i = 0; i < k; ++i) r *= 2.0;
  else
    for (int i = 0; i < -k; ++i) r *= 0.5;
  return r;
}

bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return f32_bits(a) == f32_bits(b);
}

// ---- independent decoders ----

// e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; S.1111.111 is NaN; no infinities.
double ref_e4m3(uint8_t c) {
  const int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
  if (e == 15 && m == 7) return std::nan("");
  const double mag = e == 0 ? (m / 8.0) * std::pow(2.0, -6) : (1.0 + m / 8.0) * std::pow(2.0, e - 7);
  return s ? -mag : mag;
}

// e5m2: 1 sign, 5 exponent (bias 15), 2 mantissa; IEEE specials at exponent 31.
double ref_e5m2(uint8_t c) {
  const int s = c >> 7, e = (c >> 2) & 31, m = c & 3;
  double mag;
  if (e == 31)
    mag = m == 0 ? std::numeric_limits<double>::infinity() : std::nan("");
  else
    mag = e == 0 ? (m / 4.0) * std::pow(2.0, -14) : (1.0 + m / 4.0) * std::pow(2.0, e - 15);
  return s ? -mag : mag;
}

// e2m1 from the spec's table (§10.3), written out by hand.
const double kE2M1Table[16] = {0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6};

// bf16: 1 sign, 8 exponent (bias 127), 7 mantissa.
double ref_bf16(uint16_t b) {
  const int s = b >> 15, e = (b >> 7) & 0xFF, m = b & 0x7F;
  double mag;
  if (e == 255)
    mag = m == 0 ? std::numeric_limits<double>::infinity() : std::nan("");
  else
    mag = e == 0 ? (m / 128.0) * std::pow(2.0, -126) : (1.0 + m / 128.0) * std::pow(2.0, e - 127);
  return s ? -mag : mag;
}

// ---- reference encoders ----

// All finite non-negative values of a format as (magnitude code, value), ascending.
struct Grid {
  std::vector<uint8_t> codes;
  std::vector<double> values;
};

Grid make_grid(double (*decode)(uint8_t), int n_codes) {
  Grid g;
  for (int c = 0; c < n_codes; ++c) {
    const double v = decode(uint8_t(c));
    if (std::isfinite(v)) {
      g.codes.push_back(uint8_t(c));
      g.values.push_back(v);
    }
  }
  for (size_t i = 1; i < g.values.size(); ++i) EXPECT_LT(g.values[i - 1], g.values[i]);
  return g;
}

double e2m1_table(uint8_t c) { return kE2M1Table[c & 0xF]; }

const Grid& e4m3_grid() {
  static const Grid g = make_grid(ref_e4m3, 128);
  return g;
}
const Grid& e5m2_grid() {
  static const Grid g = make_grid(ref_e5m2, 128);
  return g;
}
const Grid& e2m1_grid() {
  static const Grid g = make_grid(e2m1_table, 8);
  return g;
}

// Brute force: the nearest of all finite values (distance in double: exact whenever x is close
// enough to the candidates for the comparison to matter), ties to the even code, saturating.
uint8_t brute_encode_magnitude(const Grid& g, float a) {
  // satfinite: anything at or beyond the largest finite value is that value (this also keeps the
  // double distances below exact: far beyond the grid they would all round to the same number).
  if (double(a) >= g.values.back()) return g.codes.back();
  size_t best = 0;
  double best_d = std::fabs(double(a) - g.values[0]);
  for (size_t i = 1; i < g.values.size(); ++i) {
    const double d = std::fabs(double(a) - g.values[i]);
    if (d < best_d || (d == best_d && (g.codes[i] & 1) == 0 && (g.codes[best] & 1) != 0)) {
      best = i;
      best_d = d;
    }
  }
  return g.codes[best];
}

// Midpoint search: exact comparisons of x against the exact midpoints of adjacent values.
uint8_t midpoint_encode_magnitude(const Grid& g, float a) {
  const double x = a;
  size_t lo = 0, hi = g.values.size() - 1;
  if (x >= g.values[hi]) return g.codes[hi];
  while (hi - lo > 1) {  // invariant: values[lo] <= x < values[hi]
    const size_t mid = (lo + hi) / 2;
    if (g.values[mid] <= x) lo = mid; else hi = mid;
  }
  const double midpoint = (g.values[lo] + g.values[hi]) / 2;  // exact: few significant bits
  if (x < midpoint) return g.codes[lo];
  if (x > midpoint) return g.codes[hi];
  return (g.codes[lo] & 1) == 0 ? g.codes[lo] : g.codes[hi];
}

uint8_t ref_f32_to_e4m3(float x) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  if (std::isnan(x)) return sign | 0x7F;
  return sign | brute_encode_magnitude(e4m3_grid(), std::fabs(x));
}
uint8_t ref_f32_to_e5m2(float x) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  if (std::isnan(x)) return sign | 0x7F;
  return sign | brute_encode_magnitude(e5m2_grid(), std::fabs(x));
}
uint8_t ref_f32_to_e2m1(float x) {
  if (std::isnan(x)) return 0x7;  // documented: e2m1 has no NaN, NaN -> +6
  const uint8_t sign = std::signbit(x) ? 0x8 : 0;
  return sign | brute_encode_magnitude(e2m1_grid(), std::fabs(x));
}

// ---- decoders: every bit pattern ----

TEST(DType, E4M3DecodesEveryCode) {
  int nans = 0;
  for (int c = 0; c < 256; ++c) {
    const double want = ref_e4m3(uint8_t(c));
    const float got = e4m3_to_f32(uint8_t(c));
    if (std::isnan(want)) {
      ++nans;
      EXPECT_TRUE(std::isnan(got)) << "code " << c;
      continue;
    }
    EXPECT_EQ(double(got), want) << "code " << c;
    EXPECT_EQ(std::signbit(got), c >= 128) << "code " << c;
  }
  EXPECT_EQ(nans, 2);  // 0x7F and 0xFF
  // Hand-checked landmarks of the format definition.
  EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0xFE), -448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), 0.001953125f);  // 2^-9, smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x07), 0.013671875f);  // 7/8 * 2^-6, largest subnormal
  EXPECT_EQ(e4m3_to_f32(0x08), 0.015625f);     // 2^-6, smallest normal
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(e4m3_to_f32(0x3C), 1.5f);
  EXPECT_EQ(e4m3_to_f32(0x78), 256.0f);
}

TEST(DType, E5M2DecodesEveryCode) {
  int nans = 0, infs = 0;
  for (int c = 0; c < 256; ++c) {
    const double want = ref_e5m2(uint8_t(c));
    const float got = e5m2_to_f32(uint8_t(c));
    if (std::isnan(want)) {
      ++nans;
      EXPECT_TRUE(std::isnan(got)) << "code " << c;
      continue;
    }
    if (std::isinf(want)) ++infs;
    EXPECT_EQ(double(got), want) << "code " << c;
    EXPECT_EQ(std::signbit(got), c >= 128) << "code " << c;
  }
  EXPECT_EQ(nans, 6);
  EXPECT_EQ(infs, 2);
  EXPECT_EQ(e5m2_to_f32(0x7B), 57344.0f);
  EXPECT_EQ(e5m2_to_f32(0x01), 1.52587890625e-05f);  // 2^-16
  EXPECT_EQ(e5m2_to_f32(0x3C), 1.0f);
  EXPECT_EQ(e5m2_to_f32(0x7C), kInf);
  EXPECT_EQ(e5m2_to_f32(0xFC), -kInf);
}

TEST(DType, E8M0DecodesEveryCode) {
  for (int c = 0; c < 255; ++c) {
    const float got = e8m0_to_f32(uint8_t(c));
    EXPECT_EQ(double(got), pow2(c - 127)) << "code " << c;
    // As float bits: exponent field c for c >= 1, the subnormal 2^-127 (mantissa MSB) for c = 0.
    EXPECT_EQ(f32_bits(got), c == 0 ? 0x00400000u : uint32_t(c) << 23) << "code " << c;
  }
  EXPECT_TRUE(std::isnan(e8m0_to_f32(255)));
}

TEST(DType, E2M1DecodesEveryCode) {
  for (int c = 0; c < 256; ++c) {  // only the low nibble counts
    const double want = kE2M1Table[c & 0xF];
    const float got = e2m1_to_f32(uint8_t(c));
    EXPECT_EQ(double(got), want) << "code " << c;
    EXPECT_EQ(std::signbit(got), (c & 0x8) != 0) << "code " << c;
  }
  // Packed pairs: element 2m low nibble, 2m+1 high nibble.
  std::vector<uint8_t> packed(128);
  for (size_t m = 0; m < 128; ++m) packed[m] = uint8_t((m & 0xF) | (((m * 7 + 3) & 0xF) << 4));
  for (size_t m = 0; m < 128; ++m) {
    EXPECT_EQ(double(e2m1_packed_get(packed.data(), 2 * m)), kE2M1Table[packed[m] & 0xF]);
    EXPECT_EQ(double(e2m1_packed_get(packed.data(), 2 * m + 1)), kE2M1Table[packed[m] >> 4]);
  }
}

TEST(DType, Bf16DecodesEveryValue) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const double want = ref_bf16(uint16_t(b));
    const float got = bf16_to_f32(uint16_t(b));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "bits " << b;
      continue;
    }
    ASSERT_EQ(double(got), want) << "bits " << b;
    ASSERT_EQ(std::signbit(got), b >= 0x8000) << "bits " << b;
  }
}

TEST(DType, Fp16DecodesEveryValueLikeFloat16) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t h16 = uint16_t(b);
    _Float16 h;
    std::memcpy(&h, &h16, 2);
    const float want = float(h);
    const float got = f16_to_f32(h16);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << "bits " << b;
      continue;
    }
    ASSERT_TRUE(same_float(got, want)) << "bits " << b << " got " << got << " want " << want;
  }
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 5.9604644775390625e-08f);  // 2^-24
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
}

// ---- small encoders: round trips, midpoints, specials ----

using Encoder = uint8_t (*)(float);
using Decoder = float (*)(uint8_t);

struct MiniCase {
  const char* name;
  Encoder encode;
  Decoder decode;
  Encoder reference;
  const Grid& (*grid)();
  uint8_t sign_bit;
  uint8_t max_code;
};

const MiniCase kMiniCases[] = {
    {"e4m3", f32_to_e4m3, e4m3_to_f32, ref_f32_to_e4m3, e4m3_grid, 0x80, 0x7E},
    {"e5m2", f32_to_e5m2, e5m2_to_f32, ref_f32_to_e5m2, e5m2_grid, 0x80, 0x7B},
    {"e2m1", f32_to_e2m1, e2m1_to_f32, ref_f32_to_e2m1, e2m1_grid, 0x08, 0x07},
};

TEST(DType, SmallFormatsRoundTripEveryCode) {
  for (const MiniCase& f : kMiniCases) {
    SCOPED_TRACE(f.name);
    const int n = f.sign_bit == 0x80 ? 256 : 16;
    for (int c = 0; c < n; ++c) {
      const float v = f.decode(uint8_t(c));
      if (std::isnan(v)) continue;
      if (std::isinf(v)) {  // e5m2 infinities saturate
        EXPECT_EQ(f.encode(v), uint8_t((c & f.sign_bit) | f.max_code)) << "code " << c;
        continue;
      }
      EXPECT_EQ(f.encode(v), uint8_t(c)) << "code " << c << " value " << v;
    }
  }
}

TEST(DType, SmallFormatsRoundMidpointsToEvenCode) {
  for (const MiniCase& f : kMiniCases) {
    SCOPED_TRACE(f.name);
    const Grid& g = f.grid();
    for (size_t i = 0; i + 1 < g.values.size(); ++i) {
      const double lo = g.values[i], hi = g.values[i + 1];
      const float mid = float((lo + hi) / 2);
      ASSERT_EQ(double(mid), (lo + hi) / 2);  // the midpoint is a float
      const uint8_t even = (g.codes[i] & 1) == 0 ? g.codes[i] : g.codes[i + 1];
      for (int s = 0; s < 2; ++s) {
        const float sg = s ? -1.0f : 1.0f;
        const uint8_t sb = s ? f.sign_bit : 0;
        EXPECT_EQ(f.encode(sg * mid), uint8_t(sb | even)) << "midpoint " << sg * mid;
        EXPECT_EQ(f.encode(sg * std::nextafter(mid, 0.0f)), uint8_t(sb | g.codes[i])) << "below " << sg * mid;
        EXPECT_EQ(f.encode(sg * std::nextafter(mid, kInf)), uint8_t(sb | g.codes[i + 1])) << "above " << sg * mid;
        // Just off the representable values themselves.
        EXPECT_EQ(f.encode(sg * std::nextafter(float(hi), 0.0f)), uint8_t(sb | g.codes[i + 1]));
        EXPECT_EQ(f.encode(sg * std::nextafter(float(lo), kInf)), uint8_t(sb | g.codes[i]));
      }
    }
  }
}

TEST(DType, SmallFormatsSaturateAndHandleSpecials) {
  for (const MiniCase& f : kMiniCases) {
    SCOPED_TRACE(f.name);
    const float max = f.decode(f.max_code);
    const float beyond[] = {std::nextafter(max, kInf), max * 1.0625f, max * 1.5f, max * 2, 1e30f,
                            std::numeric_limits<float>::max(), kInf};
    for (float b : beyond) {
      EXPECT_EQ(f.encode(b), f.max_code) << b;
      EXPECT_EQ(f.encode(-b), uint8_t(f.sign_bit | f.max_code)) << -b;
    }
    EXPECT_EQ(f.encode(0.0f), 0);
    EXPECT_EQ(f.encode(-0.0f), f.sign_bit);
    // Tiny values round to a signed zero.
    const float smallest = f.decode(1);
    const float tiny[] = {std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(), 1e-30f,
                          smallest / 4, std::nextafter(smallest / 2, 0.0f)};
    for (float t : tiny) {
      EXPECT_EQ(f.encode(t), 0) << t;
      EXPECT_EQ(f.encode(-t), f.sign_bit) << -t;
    }
    EXPECT_EQ(f.encode(smallest / 2), 0);  // tie between 0 (even) and the smallest subnormal
    EXPECT_EQ(f.encode(std::nextafter(smallest / 2, kInf)), 1);
  }
  EXPECT_EQ(f32_to_e4m3(kNaN), 0x7F);
  EXPECT_EQ(f32_to_e4m3(-kNaN), 0xFF);
  EXPECT_TRUE(std::isnan(e4m3_to_f32(f32_to_e4m3(kNaN))));
  EXPECT_TRUE(std::isnan(e5m2_to_f32(f32_to_e5m2(kNaN))));
  EXPECT_TRUE(std::isnan(e5m2_to_f32(f32_to_e5m2(-kNaN))));
  EXPECT_EQ(f32_to_e5m2(-kNaN) & 0x80, 0x80);
  EXPECT_EQ(f32_to_e2m1(kNaN), 0x7);
  EXPECT_EQ(f32_to_e2m1(-kNaN), 0x7);  // documented: NaN -> +6 whatever its sign
  // Signalling NaN payloads too.
  EXPECT_EQ(f32_to_e4m3(f32_from_bits(0x7F800001u)), 0x7F);
}

TEST(DType, SmallFormatsMatchBruteForceOnRandomFloats) {
  const uint64_t seed = test::fresh_seed("DType.SmallFormatsMatchBruteForceOnRandomFloats");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (const MiniCase& f : kMiniCases) {
    SCOPED_TRACE(f.name);
    const double max = f.decode(f.max_code);
    std::uniform_real_distribution<double> log_mag(std::log2(double(f.decode(1))) - 3, std::log2(max) + 2);
    std::uniform_real_distribution<double> lin(-1.1 * max, 1.1 * max);
    int failures = 0;
    for (int i = 0; i < 2000000 && failures < 10; ++i) {
      float x;
      switch (i % 3) {
        case 0: x = float(std::exp2(log_mag(rng))) * ((rng() & 1) ? -1.0f : 1.0f); break;
        case 1: x = float(lin(rng)); break;
        default: x = f32_from_bits(uint32_t(rng())); break;  // any bit pattern, NaN/inf included
      }
      const uint8_t want = f.reference(x), got = f.encode(x);
      if (want != got) {
        ++failures;
        ADD_FAILURE() << "x=" << x << " (bits " << std::hex << f32_bits(x) << ") got " << int(got) << " want "
                      << int(want);
      }
    }
  }
}

TEST(DType, SmallFormatsMatchReferenceOnAllFloatsByStride) {
  // A stride over every non-negative float bit pattern (finite and inf), both signs, checked
  // against the midpoint-search reference (exact comparisons).
  constexpr uint32_t kStride = 197;
  for (const MiniCase& f : kMiniCases) {
    SCOPED_TRACE(f.name);
    const Grid& g = f.grid();
    int failures = 0;
    for (uint64_t b = 0; b <= 0x7F800000u && failures < 10; b += kStride) {
      const float x = f32_from_bits(uint32_t(b));
      const uint8_t want = midpoint_encode_magnitude(g, x);
      const uint8_t got = f.encode(x), got_neg = f.encode(-x);
      if (got != want || got_neg != uint8_t(f.sign_bit | want)) {
        ++failures;
        ADD_FAILURE() << "x=" << x << " got " << int(got) << "/" << int(got_neg) << " want " << int(want);
      }
    }
    // And every float within 64 ulps of every midpoint and every representable value.
    for (size_t i = 0; i + 1 < g.values.size(); ++i) {
      for (double center : {g.values[i], (g.values[i] + g.values[i + 1]) / 2}) {
        const uint32_t cb = f32_bits(float(center));
        for (int d = -64; d <= 64; ++d) {
          if (d < 0 && cb < uint32_t(-d)) continue;
          const float x = f32_from_bits(uint32_t(int64_t(cb) + d));
          ASSERT_EQ(f.encode(x), midpoint_encode_magnitude(g, x)) << "x=" << x;
        }
      }
    }
  }
}

// ---- bf16 encoder ----

// Reference: the two bf16 neighbours of x (truncation and the next code), nearest by exact
// double distance, ties to the even code; IEEE overflow to inf falls out naturally.
uint16_t ref_f32_to_bf16(float x) {
  const uint32_t u = f32_bits(x);
  const uint16_t lo = uint16_t(u >> 16);
  if ((u & 0xFFFF) == 0) return lo;
  const uint16_t hi = uint16_t(lo + 1);
  const double dlo = std::fabs(double(x) - ref_bf16(lo));
  const double dhi = std::fabs(ref_bf16(hi) - double(x));
  if (std::isinf(ref_bf16(hi))) {  // rounding past the max: the midpoint is max + half ulp
    const double top = std::fabs(ref_bf16(lo));
    const double mid = top + (top - std::fabs(ref_bf16(uint16_t(lo - 1)))) / 2;
    const double a = std::fabs(double(x));
    return a < mid ? lo : (a > mid ? hi : ((lo & 1) ? hi : lo));
  }
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1) ? hi : lo;
}

TEST(DType, Bf16EncoderRoundTripsAndRoundsMidpoints) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t code = uint16_t(b);
    const float v = bf16_to_f32(code);
    if (std::isnan(v)) {
      const uint16_t r = f32_to_bf16(v);
      EXPECT_TRUE(std::isnan(bf16_to_f32(r))) << b;
      EXPECT_EQ(r & 0x8000, code & 0x8000) << b;
      continue;
    }
    ASSERT_EQ(f32_to_bf16(v), code) << b;
    if ((code & 0x7FFF) >= 0x7F80) continue;  // inf: no next value
    // Midpoint to the next code away from zero: float bits code<<16 | 0x8000.
    const float mid = f32_from_bits((uint32_t(code) << 16) | 0x8000u);
    const uint16_t next = uint16_t(code + 1);
    const uint16_t even = (code & 1) ? next : code;
    ASSERT_EQ(f32_to_bf16(mid), even) << "midpoint after " << b;
    ASSERT_EQ(f32_to_bf16(std::nextafter(mid, 0.0f)), code) << b;
    ASSERT_EQ(f32_to_bf16(std::nextafter(mid, std::signbit(mid) ? -kInf : kInf)), next) << b;
  }
  EXPECT_EQ(f32_to_bf16(kInf), 0x7F80);
  EXPECT_EQ(f32_to_bf16(-kInf), 0xFF80);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);  // IEEE: rounds to inf
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f32_from_bits(0x7F800001u)))));  // sNaN stays NaN
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(f32_from_bits(0xFF800001u)))));
}

TEST(DType, Bf16EncoderMatchesReferenceOnRandomFloats) {
  const uint64_t seed = test::fresh_seed("DType.Bf16EncoderMatchesReferenceOnRandomFloats");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  int failures = 0;
  for (int i = 0; i < 4000000 && failures < 10; ++i) {
    const float x = f32_from_bits(uint32_t(rng()));
    if (std::isnan(x)) continue;
    if (f32_to_bf16(x) != ref_f32_to_bf16(x)) {
      ++failures;
      ADD_FAILURE() << "x bits " << std::hex << f32_bits(x);
    }
  }
  for (uint64_t b = 0; b < 0x7F800000u; b += 173) {  // stride over all finite floats
    const float x = f32_from_bits(uint32_t(b));
    ASSERT_EQ(f32_to_bf16(x), ref_f32_to_bf16(x)) << "bits " << b;
    ASSERT_EQ(f32_to_bf16(-x), ref_f32_to_bf16(-x)) << "bits -" << b;
  }
}

// ---- fp16 encoder: the compiler's float -> _Float16 conversion is the oracle ----

uint16_t oracle_f32_to_f16(float x) {
  const _Float16 h = static_cast<_Float16>(x);
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}

TEST(DType, Fp16EncoderMatchesFloat16OnMidpointsAndStride) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t code = uint16_t(b);
    const float v = f16_to_f32(code);
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(v))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(v), code) << b;
    if ((code & 0x7FFF) >= 0x7C00) continue;
    const float next_v = f16_to_f32(uint16_t(code + 1));  // next away from zero (may be inf)
    const double mid_d = std::isinf(next_v) ? double(v) + 16.0 * (std::signbit(v) ? -1 : 1)
                                            : (double(v) + double(next_v)) / 2;
    const float mid = float(mid_d);
    ASSERT_EQ(double(mid), mid_d);
    for (float x : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, std::signbit(mid) ? -kInf : kInf)})
      ASSERT_EQ(f32_to_f16(x), oracle_f32_to_f16(x)) << "x=" << x;
    const uint16_t even = (code & 1) ? uint16_t(code + 1) : code;
    ASSERT_EQ(f32_to_f16(mid), even) << "midpoint after " << b;
  }
  for (uint64_t b = 0; b <= 0x7F800000u; b += 107) {
    const float x = f32_from_bits(uint32_t(b));
    ASSERT_EQ(f32_to_f16(x), oracle_f32_to_f16(x)) << "bits " << b;
    ASSERT_EQ(f32_to_f16(-x), oracle_f32_to_f16(-x)) << "bits -" << b;
  }
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);
  EXPECT_EQ(f32_to_f16(-kInf), 0xFC00);
  EXPECT_EQ(f32_to_f16(-kNaN) & 0x8000, 0x8000);
}

TEST(DType, Fp16EncoderMatchesFloat16OnRandomFloats) {
  const uint64_t seed = test::fresh_seed("DType.Fp16EncoderMatchesFloat16OnRandomFloats");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> log_mag(-26, 17);
  int failures = 0;
  for (int i = 0; i < 4000000 && failures < 10; ++i) {
    const float x = (i & 1) ? f32_from_bits(uint32_t(rng()))
                            : float(std::exp2(log_mag(rng))) * ((rng() & 1) ? -1.0f : 1.0f);
    if (std::isnan(x)) continue;
    if (f32_to_f16(x) != oracle_f32_to_f16(x)) {
      ++failures;
      ADD_FAILURE() << "x=" << x << " bits " << std::hex << f32_bits(x);
    }
  }
}

// ---- e8m0 ----

TEST(DType, E8M0ExactEncodesEveryPowerOfTwoAndRejectsTheRest) {
  for (int k = -127; k <= 127; ++k) {
    const float p = float(pow2(k));
    ASSERT_EQ(double(p), pow2(k));
    const auto code = f32_to_e8m0_exact(p);
    ASSERT_TRUE(code.has_value()) << "2^" << k;
    EXPECT_EQ(*code, k + 127) << "2^" << k;
    EXPECT_EQ(e8m0_to_f32(*code), p);
    EXPECT_FALSE(f32_to_e8m0_exact(-p).has_value()) << "-2^" << k;
    EXPECT_FALSE(f32_to_e8m0_exact(p * 1.5f).has_value()) << "1.5*2^" << k;
    EXPECT_FALSE(f32_to_e8m0_exact(std::nextafter(p, kInf)).has_value()) << "above 2^" << k;
    if (k > -127) {
      EXPECT_FALSE(f32_to_e8m0_exact(std::nextafter(p, 0.0f)).has_value()) << "below 2^" << k;
    }
  }
  const float rejects[] = {0.0f, -0.0f, kInf, -kInf, kNaN, 3.0f, 0.75f, float(pow2(-128)), float(pow2(-149)),
                           std::numeric_limits<float>::denorm_min() * 3, std::numeric_limits<float>::max()};
  for (float r : rejects) EXPECT_FALSE(f32_to_e8m0_exact(r).has_value()) << r;
}

TEST(DType, NamesAndSizes) {
  struct Row {
    const char* name;
    size_t size;
  };
  const Row rows[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
                      {"F8_E8M0", 1}, {"I8", 1}, {"U8", 1}, {"I32", 4}, {"I64", 8}};
  for (const Row& r : rows) {
    const auto t = parse_dtype(r.name);
    ASSERT_TRUE(t.has_value()) << r.name;
    EXPECT_EQ(dtype_name(*t), r.name);
    EXPECT_EQ(dtype_size(*t), r.size) << r.name;
  }
  for (const char* bad : {"", "f32", "F64", "BOOL", "F8_E4M3FN", "U16", "F32 "})
    EXPECT_FALSE(parse_dtype(bad).has_value()) << bad;
}

}  // namespace
}  // namespace dsv4
