// rms_norm and rope against naive double formulas (complex multiplication for RoPE).
#include <complex>

#include "op_test_util.h"

namespace dsv4::test {
namespace {

TEST(CpuRmsNorm, WeightedUnweightedStridedInPlace) {
  const uint64_t seed = fresh_seed("rms_norm");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (int64_t n : {1, 7, 128, 512}) {
    const int64_t rows = rng.integer(1, 40), ld = n + rng.integer(0, 3);
    const float eps = 1e-6f;
    std::vector<float> x = rng.normals(size_t(rows * ld), rng.uniform(0.01f, 10.0f));
    std::vector<float> w = rng.normals(size_t(n));
    for (bool weighted : {false, true}) {
      std::vector<float> y = x;
      ops().rms_norm(y.data(), rows, n, ld, weighted ? w.data() : nullptr, eps, y.data());  // in place
      std::vector<float> got;
      std::vector<double> want;
      for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += double(x[size_t(r * ld + i)]) * double(x[size_t(r * ld + i)]);
        const double inv = 1.0 / std::sqrt(ss / double(n) + double(eps));
        for (int64_t i = 0; i < n; ++i) {
          got.push_back(y[size_t(r * ld + i)]);
          want.push_back(double(x[size_t(r * ld + i)]) * inv * (weighted ? double(w[size_t(i)]) : 1.0));
        }
        for (int64_t i = n; i < ld; ++i) ASSERT_EQ(y[size_t(r * ld + i)], x[size_t(r * ld + i)]) << "padding changed";
      }
      EXPECT_TRUE(close(got, want, 1e-5, 1e-6)) << "n=" << n << " weighted=" << weighted;
    }
  }
}

TEST(CpuRmsNorm, ZeroRowGivesZero) {
  std::vector<float> x(16, 0.0f), y(16, 1.0f);
  ops().rms_norm(x.data(), 1, 16, 16, nullptr, 1e-6f, y.data());
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(CpuRope, InterleavedPairsOnTheLastDims) {
  const uint64_t seed = fresh_seed("rope");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  RopeFrequencies f;
  for (int i = 0; i < 32; ++i) f.inv_freq.push_back(std::pow(10000.0f, -float(2 * i) / 64.0f));
  const int64_t rows = 6, vecs = 3, D = 96, offset = D - 64, row_stride = vecs * D + 5;
  std::vector<int64_t> pos = {0, 1, 5, 127, 128, 4095};
  std::vector<float> x = rng.normals(size_t(rows * row_stride));
  for (bool inverse : {false, true}) {
    std::vector<float> y = x;
    ops().rope(y.data(), rows, vecs, row_stride, D, offset, pos.data(), host_table(f), inverse);
    std::vector<float> got;
    std::vector<double> want;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t v = 0; v < vecs; ++v)
        for (int64_t c = 0; c < D; ++c) {
          const size_t at = size_t(r * row_stride + v * D + c);
          got.push_back(y[at]);
          if (c < offset) {
            want.push_back(x[at]);
            continue;
          }
          const int64_t i = (c - offset) / 2;
          const size_t a = size_t(r * row_stride + v * D + offset + 2 * i);
          const double angle = double(float(pos[size_t(r)]) * f.inv_freq[size_t(i)]);
          const std::complex<double> z(x[a], x[a + 1]);
          const std::complex<double> rot = z * std::polar(1.0, inverse ? -angle : angle);
          want.push_back((c - offset) % 2 == 0 ? rot.real() : rot.imag());
        }
    EXPECT_TRUE(close(got, want, 2e-5)) << "inverse=" << inverse;
  }
  // The inverse undoes the rotation.
  std::vector<float> y = x;
  ops().rope(y.data(), rows, vecs, row_stride, D, offset, pos.data(), host_table(f), false);
  ops().rope(y.data(), rows, vecs, row_stride, D, offset, pos.data(), host_table(f), true);
  std::vector<double> orig(x.begin(), x.end());
  EXPECT_TRUE(close(y, orig, 1e-5));
}

}  // namespace
}  // namespace dsv4::test
