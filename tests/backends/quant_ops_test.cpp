// The official numerics' quantization points, bit-exact against independent formulas: scales by
// frexp (not the bit trick), e4m3 / e2m1 rounding by searching the representable values.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "op_test_util.h"

namespace dsv4::test {
namespace {

// All finite non-negative e4m3 values, ascending (code = index).
std::vector<double> e4m3_grid() {
  std::vector<double> g;
  for (int code = 0; code < 0x7F; ++code) {
    const int exp = code >> 3, mant = code & 7;
    g.push_back(exp == 0 ? std::ldexp(mant / 8.0, -6) : std::ldexp(1.0 + mant / 8.0, exp - 7));
  }
  return g;
}
const std::vector<double> kFp4Grid = {0, .5, 1, 1.5, 2, 3, 4, 6};

// Nearest grid value, ties to the even code; saturating.
double round_to_grid(double v, const std::vector<double>& grid) {
  const double a = std::fabs(v);
  size_t best = 0;
  for (size_t i = 1; i < grid.size(); ++i) {
    const double di = std::fabs(grid[i] - a), db = std::fabs(grid[best] - a);
    if (di < db || (di == db && i % 2 == 0)) best = i;
  }
  return std::copysign(grid[best], v);
}

// 2^ceil(log2(v)) for v > 0.
double pow2_ceil(double v) {
  int e;
  const double m = std::frexp(v, &e);  // v = m·2^e, m in [0.5, 1)
  return m == 0.5 ? std::ldexp(1.0, e - 1) : std::ldexp(1.0, e);
}

double bf16_round(double v) {
  const float f = float(v);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000u;
  float r;
  std::memcpy(&r, &bits, 4);
  return r;
}

std::vector<double> naive_fp8(const std::vector<float>& x, int64_t c0, int64_t n, int64_t block, bool bf16) {
  static const std::vector<double> grid = e4m3_grid();
  std::vector<double> out(x.begin(), x.end());
  for (int64_t b0 = c0; b0 < c0 + n; b0 += block) {
    const int64_t len = std::min(block, c0 + n - b0);
    double amax = 0;
    for (int64_t i = 0; i < len; ++i) amax = std::max(amax, std::fabs(double(x[size_t(b0 + i)])));
    const double s = pow2_ceil(double(std::max(float(amax), 1e-4f) * (1.0f / 448.0f)));
    for (int64_t i = 0; i < len; ++i) {
      const double q = round_to_grid(std::clamp(double(x[size_t(b0 + i)]) / s, -448.0, 448.0), grid) * s;
      out[size_t(b0 + i)] = bf16 ? bf16_round(q) : q;
    }
  }
  return out;
}

TEST(CpuQuant, Fp8ActivationAndKvFakeQuantBitExact) {
  const uint64_t seed = fresh_seed("fp8 fake quant");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (int rep = 0; rep < 20; ++rep) {
    const int64_t block = rep % 2 ? 64 : 128;
    const int64_t ld = rng.integer(1, 600), c0 = rng.integer(0, ld - 1), n = rng.integer(1, ld - c0);
    const int64_t rows = rng.integer(1, 5);
    std::vector<float> x = rng.normals(size_t(rows * ld), std::exp(rng.uniform(-12.0f, 8.0f)));
    if (rep == 3) std::fill(x.begin(), x.end(), 0.0f);  // amax floor
    if (rep == 4) x[0] = 1e30f;                         // huge block
    const bool bf16 = rep % 3 == 0;
    std::vector<float> y = x;
    ops().fake_quant_fp8(y.data(), rows, ld, c0, n, block, bf16);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> row(x.begin() + r * ld, x.begin() + (r + 1) * ld);
      const std::vector<double> want = naive_fp8(row, c0, n, block, bf16);
      for (int64_t i = 0; i < ld; ++i)
        ASSERT_EQ(double(y[size_t(r * ld + i)]), want[size_t(i)]) << "rep " << rep << " row " << r << " col " << i;
    }
  }
}

TEST(CpuQuant, HadamardThenFp4BitExact) {
  const uint64_t seed = fresh_seed("hadamard fp4");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (int64_t n : {32, 64, 128}) {
    const int64_t rows = 3;
    std::vector<float> x = rng.normals(size_t(rows * n), std::exp(rng.uniform(-5.0f, 5.0f)));
    std::vector<float> y = x;
    ops().hadamard_fp4(y.data(), rows, n);
    for (int64_t r = 0; r < rows; ++r) {
      // Sylvester Hadamard: H[i][j] = (-1)^popcount(i & j), scaled n^-1/2 (computed in float as
      // the transform does: butterflies in fp32, then one scale) — compare through a tolerance
      // on the rotation, then exactly on the quantization of the rotated vector.
      std::vector<float> rot(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j)
          acc += (__builtin_popcountll(uint64_t(i & j)) % 2 ? -1.0 : 1.0) * double(x[size_t(r * n + j)]);
        rot[size_t(i)] = float(acc / std::sqrt(double(n)));
      }
      for (int64_t b0 = 0; b0 < n; b0 += 32) {
        double amax = 0;
        for (int64_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(double(rot[size_t(b0 + i)])));
        const double s = pow2_ceil(double(std::max(float(amax), 6.0f * std::ldexp(1.0f, -126)) * (1.0f / 6.0f)));
        for (int64_t i = 0; i < 32; ++i) {
          const double v = double(rot[size_t(b0 + i)]) / s;
          const double q = bf16_round(round_to_grid(std::clamp(v, -6.0, 6.0), kFp4Grid) * s);
          const double got = y[size_t(r * n + b0 + i)];
          // A value within fp32 noise of a rounding midpoint may legitimately round either way.
          const double lo = bf16_round(round_to_grid(std::clamp(v * (1 - 1e-6), -6.0, 6.0), kFp4Grid) * s);
          const double hi = bf16_round(round_to_grid(std::clamp(v * (1 + 1e-6), -6.0, 6.0), kFp4Grid) * s);
          ASSERT_TRUE(got == q || got == lo || got == hi) << "n=" << n << " row " << r << " i " << b0 + i << ": got "
                                                          << got << " want " << q;
        }
      }
    }
  }
}

TEST(CpuQuant, Fp4ExactOnRepresentableInputs) {
  // A Hadamard column (±1 entries) rotates to sqrt(32)·e_5 exactly; the block scale is then 1 and
  // 5.657 rounds to 6, the zeros stay 0.
  const int64_t n = 32;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) x[size_t(j)] = (__builtin_popcountll(uint64_t(5 & j)) % 2 ? -1.0f : 1.0f);
  ops().hadamard_fp4(x.data(), 1, n);
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(x[size_t(i)], i == 5 ? 6.0f : 0.0f);
}

}  // namespace
}  // namespace dsv4::test
