// Router (sqrt-softplus, bias only for selection, renormalised × route scale; hash ids) and the
// clamped SwiGLU against naive formulas.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "core/error.h"
#include "op_test_util.h"

namespace dsv4::test {
namespace {

double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

TEST(CpuRouter, BiasSelectsButDoesNotWeight) {
  const uint64_t seed = fresh_seed("route");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  const int64_t S = 11, E = 16, k = 6;
  std::vector<float> logits = rng.normals(size_t(S * E), 3.0f), bias = rng.normals(size_t(E), 0.5f);
  logits[3] = 30.0f;  // softplus threshold branch
  std::vector<float> scores(size_t(S * E)), weights(size_t(S * k));
  std::vector<int32_t> ids(size_t(S * k));
  ops().route(logits.data(), S, E, k, bias.data(), nullptr, nullptr, 0, 1.5f, scores.data(), ids.data(), weights.data());
  for (int64_t t = 0; t < S; ++t) {
    std::vector<double> s(static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e) s[size_t(e)] = std::sqrt(softplus(double(logits[size_t(t * E + e)])));
    for (int64_t e = 0; e < E; ++e) EXPECT_NEAR(scores[size_t(t * E + e)], s[size_t(e)], 1e-5);
    std::vector<int> order(static_cast<size_t>(E));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) { return s[size_t(a)] + double(bias[size_t(a)]) > s[size_t(b)] + double(bias[size_t(b)]); });
    std::set<int> want(order.begin(), order.begin() + k), got(ids.begin() + t * k, ids.begin() + (t + 1) * k);
    ASSERT_EQ(got, want) << "token " << t;
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += s[size_t(ids[size_t(t * k + j)])];
    for (int64_t j = 0; j < k; ++j)
      EXPECT_NEAR(weights[size_t(t * k + j)], s[size_t(ids[size_t(t * k + j)])] / sum * 1.5, 1e-5);
  }
}

TEST(CpuRouter, HashRoutingKeepsTableOrder) {
  const int64_t S = 2, E = 8, k = 3;
  std::vector<float> logits(size_t(S * E));
  for (int64_t i = 0; i < S * E; ++i) logits[size_t(i)] = float(i % 5) - 2.0f;
  // tid2eid [vocab 3, k]; tokens 2 and 0 pick rows 2 and 0.
  const std::vector<int64_t> table = {7, 0, 3, 4, 4, 4, 2, 5, 1}, tokens = {2, 0};
  const std::vector<int64_t> fixed = {2, 5, 1, 7, 0, 3};
  std::vector<float> scores(size_t(S * E)), weights(size_t(S * k));
  std::vector<int32_t> ids(size_t(S * k));
  ops().route(logits.data(), S, E, k, nullptr, table.data(), tokens.data(), 3, 2.5f, scores.data(), ids.data(),
              weights.data());
  for (size_t i = 0; i < fixed.size(); ++i) EXPECT_EQ(ids[i], fixed[i]);
  for (int64_t t = 0; t < S; ++t) {
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += double(scores[size_t(t * E + fixed[size_t(t * k + j)])]);
    for (int64_t j = 0; j < k; ++j)
      EXPECT_NEAR(weights[size_t(t * k + j)], double(scores[size_t(t * E + fixed[size_t(t * k + j)])]) / sum * 2.5, 1e-6);
  }
  const std::vector<int64_t> bad = {7, 0, 8, 2, 5, 1};
  const std::vector<int64_t> rows = {0, 1};
  EXPECT_THROW(ops().route(logits.data(), S, E, k, nullptr, bad.data(), rows.data(), 2, 1.0f, scores.data(), ids.data(),
                           weights.data()),
               Error);
}

TEST(CpuSwiGLU, ClampGateAboveAndUpBothSides) {
  const uint64_t seed = fresh_seed("swiglu");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  const int64_t M = 5, I = 64;
  std::vector<float> g = rng.normals(size_t(M * I), 12.0f), u = rng.normals(size_t(M * I), 12.0f);
  std::vector<float> rw = rng.normals(size_t(M));
  for (bool weighted : {false, true}) {
    std::vector<float> h(size_t(M * I));
    ops().swiglu(g.data(), u.data(), M, I, 10.0f, weighted ? rw.data() : nullptr, h.data());
    std::vector<double> want;
    int clamped = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t i = 0; i < I; ++i) {
        const double gv = std::min(double(g[size_t(m * I + i)]), 10.0);
        const double uv = std::clamp(double(u[size_t(m * I + i)]), -10.0, 10.0);
        clamped += (g[size_t(m * I + i)] > 10.0f) + (std::fabs(u[size_t(m * I + i)]) > 10.0f);
        want.push_back(gv / (1.0 + std::exp(-gv)) * uv * (weighted ? double(rw[size_t(m)]) : 1.0));
      }
    EXPECT_GT(clamped, 0);
    EXPECT_TRUE(close(h, want, 1e-5, 1e-6));
  }
}

}  // namespace
}  // namespace dsv4::test
