// mHC pre / post / head against naive double formulas (spec §6), Sinkhorn in the spec's order.
#include <cmath>

#include "op_test_util.h"

namespace dsv4::test {
namespace {

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

struct NaivePre {
  std::vector<double> a_in, post, comb;
};

NaivePre naive_pre(const std::vector<float>& X, int64_t S, const HcShape& hc, const std::vector<float>& fn,
                   const std::vector<float>& scale, const std::vector<float>& base) {
  const int n = hc.n;
  const int64_t d = hc.d, width = n * d;
  const int mix = (2 + n) * n;
  const double eps = double(hc.hc_eps);
  NaivePre r;
  for (int64_t s = 0; s < S; ++s) {
    const float* x = X.data() + s * width;
    double ss = 0;
    for (int64_t i = 0; i < width; ++i) ss += double(x[i]) * double(x[i]);
    const double rinv = 1.0 / std::sqrt(ss / double(width) + double(hc.norm_eps));
    std::vector<double> m(static_cast<size_t>(mix));
    for (int i = 0; i < mix; ++i) {
      double acc = 0;
      for (int64_t c = 0; c < width; ++c) acc += double(fn[size_t(i * width + c)]) * double(x[c]);
      m[size_t(i)] = acc * rinv;
    }
    std::vector<double> pre(static_cast<size_t>(n));
    for (int j = 0; j < n; ++j) pre[size_t(j)] = sigmoid(m[size_t(j)] * double(scale[0]) + double(base[size_t(j)])) + eps;
    for (int j = 0; j < n; ++j) r.post.push_back(2.0 * sigmoid(m[size_t(n + j)] * double(scale[1]) + double(base[size_t(n + j)])));
    std::vector<double> C(static_cast<size_t>(n * n));
    for (int j = 0; j < n; ++j) {
      double mx = -1e300, sum = 0;
      for (int k = 0; k < n; ++k) mx = std::max(mx, m[size_t(2 * n + j * n + k)] * double(scale[2]) + double(base[size_t(2 * n + j * n + k)]));
      for (int k = 0; k < n; ++k) sum += std::exp(m[size_t(2 * n + j * n + k)] * double(scale[2]) + double(base[size_t(2 * n + j * n + k)]) - mx);
      for (int k = 0; k < n; ++k)
        C[size_t(j * n + k)] = std::exp(m[size_t(2 * n + j * n + k)] * double(scale[2]) + double(base[size_t(2 * n + j * n + k)]) - mx) / sum + eps;
    }
    auto cols = [&] {
      for (int k = 0; k < n; ++k) {
        double sum = 0;
        for (int j = 0; j < n; ++j) sum += C[size_t(j * n + k)];
        for (int j = 0; j < n; ++j) C[size_t(j * n + k)] /= sum + eps;
      }
    };
    auto rows = [&] {
      for (int j = 0; j < n; ++j) {
        double sum = 0;
        for (int k = 0; k < n; ++k) sum += C[size_t(j * n + k)];
        for (int k = 0; k < n; ++k) C[size_t(j * n + k)] /= sum + eps;
      }
    };
    cols();
    for (int it = 1; it < hc.sinkhorn_iters; ++it) {
      rows();
      cols();
    }
    r.comb.insert(r.comb.end(), C.begin(), C.end());
    for (int64_t c = 0; c < d; ++c) {
      double acc = 0;
      for (int j = 0; j < n; ++j) acc += pre[size_t(j)] * double(x[j * d + c]);
      r.a_in.push_back(acc);
    }
  }
  return r;
}

TEST(CpuHyperConnection, PreMatchesNaiveAndCombIsNearlyDoublyStochastic) {
  const uint64_t seed = fresh_seed("hc_pre");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  HcShape hc;
  hc.n = 4;
  hc.d = 48;
  const int64_t S = 7, width = hc.n * hc.d, mix = (2 + hc.n) * hc.n;
  std::vector<float> X = rng.normals(size_t(S * width), 2.0f);
  std::vector<float> fn = rng.normals(size_t(mix * width), 1.0f / std::sqrt(float(width)));
  std::vector<float> scale = {1.0f + rng.normal(0.2f), 1.0f + rng.normal(0.2f), 1.0f + rng.normal(0.2f)};
  std::vector<float> base = rng.normals(size_t(mix), 0.5f);
  std::vector<float> a_in(static_cast<size_t>(S * hc.d)), post(size_t(S * hc.n)), comb(size_t(S * hc.n * hc.n));
  ops().hc_pre(X.data(), S, hc, fn.data(), scale.data(), base.data(), a_in.data(), post.data(), comb.data());
  const NaivePre want = naive_pre(X, S, hc, fn, scale, base);
  EXPECT_TRUE(close(a_in, want.a_in, 1e-5, 1e-5));
  EXPECT_TRUE(close(post, want.post, 1e-6));
  EXPECT_TRUE(close(comb, want.comb, 1e-6));
  for (int64_t s = 0; s < S; ++s)
    for (int k = 0; k < hc.n; ++k) {
      double col = 0;
      for (int j = 0; j < hc.n; ++j) col += double(comb[size_t(s * 16 + j * 4 + k)]);
      EXPECT_NEAR(col, 1.0, 1e-4);
    }
}

TEST(CpuHyperConnection, PostAppliesCombTransposed) {
  const uint64_t seed = fresh_seed("hc_post");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  HcShape hc;
  hc.n = 4;
  hc.d = 33;
  const int64_t S = 5, n = hc.n, d = hc.d;
  std::vector<float> f = rng.normals(size_t(S * d)), X = rng.normals(size_t(S * n * d));
  std::vector<float> post = rng.normals(size_t(S * n)), comb = rng.normals(size_t(S * n * n));
  std::vector<float> out(static_cast<size_t>(S * n * d));
  ops().hc_post(f.data(), X.data(), post.data(), comb.data(), S, hc, out.data());
  std::vector<double> want;
  for (int64_t s = 0; s < S; ++s)
    for (int64_t k = 0; k < n; ++k)
      for (int64_t c = 0; c < d; ++c) {
        double acc = double(post[size_t(s * n + k)]) * double(f[size_t(s * d + c)]);
        for (int64_t j = 0; j < n; ++j) acc += double(comb[size_t(s * n * n + j * n + k)]) * double(X[size_t((s * n + j) * d + c)]);
        want.push_back(acc);
      }
  EXPECT_TRUE(close(out, want, 1e-5));
}

TEST(CpuHyperConnection, HeadCollapse) {
  const uint64_t seed = fresh_seed("hc_head");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  HcShape hc;
  hc.n = 4;
  hc.d = 40;
  const int64_t S = 3, n = hc.n, d = hc.d, width = n * d;
  std::vector<float> X = rng.normals(size_t(S * width), 3.0f), fn = rng.normals(size_t(n * width), 0.1f);
  std::vector<float> scale = {1.1f}, base = rng.normals(size_t(n), 0.5f);
  std::vector<float> y(static_cast<size_t>(S * d));
  ops().hc_head(X.data(), S, hc, fn.data(), scale.data(), base.data(), y.data());
  std::vector<double> want;
  for (int64_t s = 0; s < S; ++s) {
    double ss = 0;
    for (int64_t i = 0; i < width; ++i) ss += double(X[size_t(s * width + i)]) * double(X[size_t(s * width + i)]);
    const double r = 1.0 / std::sqrt(ss / double(width) + 1e-6);
    std::vector<double> w(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t i = 0; i < width; ++i) acc += double(fn[size_t(j * width + i)]) * double(X[size_t(s * width + i)]);
      w[size_t(j)] = sigmoid(acc * r * double(scale[0]) + double(base[size_t(j)])) + 1e-6;
    }
    for (int64_t c = 0; c < d; ++c) {
      double acc = 0;
      for (int64_t j = 0; j < n; ++j) acc += w[size_t(j)] * double(X[size_t(s * width + j * d + c)]);
      want.push_back(acc);
    }
  }
  EXPECT_TRUE(close(y, want, 1e-5, 1e-6));
}

}  // namespace
}  // namespace dsv4::test
