// Speculative verification: greedy exactness, and the rejection scheme preserving the target
// distribution (chi-square over the joint distribution of the first two emitted tokens).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "core/error.h"
#include "runtime/speculative.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

std::vector<float> random_dist(std::mt19937_64& rng, size_t n, double sharpness) {
  std::normal_distribution<double> d(0.0, sharpness);
  std::vector<double> x(n);
  double z = 0;
  for (double& v : x) z += v = std::exp(d(rng));
  std::vector<float> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = float(x[i] / z);
  return p;
}

int32_t draw(const std::vector<float>& p, std::mt19937_64& rng) {
  std::discrete_distribution<int32_t> d(p.begin(), p.end());
  return d(rng);
}

TEST(Speculative, GreedyAcceptsTheMatchingPrefix) {
  std::vector<std::vector<float>> logits = {{0, 5, 1}, {3, 0, 1}, {0, 0, 9}, {7, 0, 0}};
  const std::vector<int32_t> all_match = {1, 0, 2};
  VerifyResult r = verify_greedy(logits, all_match);
  EXPECT_EQ(r.accepted, 3);
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{1, 0, 2, 0}));
  const std::vector<int32_t> second_wrong = {1, 2, 2};
  r = verify_greedy(logits, second_wrong);
  EXPECT_EQ(r.accepted, 1);
  EXPECT_EQ(r.tokens, (std::vector<int32_t>{1, 0}));
  EXPECT_THROW(verify_greedy(std::span(logits).first(2), all_match), Error);
}

// With k = 2 drafts over a vocabulary of V, the first two emitted tokens (t0, t1) must follow
// p0(t0) · p1(t1 | t0). The target's second distribution depends on t0 (as a real model's would).
TEST(Speculative, RejectionSamplingPreservesTheTargetDistribution) {
  const uint64_t seed = test::fresh_seed("speculative");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const size_t V = 5;
  const auto p0 = random_dist(rng, V, 1.0);
  std::vector<std::vector<float>> p1(V), q1(V), p2(V);
  for (size_t t = 0; t < V; ++t) {
    p1[t] = random_dist(rng, V, 1.0);
    q1[t] = random_dist(rng, V, 1.0);
    p2[t] = random_dist(rng, V, 1.0);
  }
  auto q0 = random_dist(rng, V, 1.0);
  q0[2] = 0.0f;  // a token the draft never proposes must still come out at its target rate
  double z = 0;
  for (float v : q0) z += double(v);
  for (float& v : q0) v = float(double(v) / z);

  RandomStream stream(rng());
  const int N = 200000;
  std::map<std::pair<int, int>, int> counts;
  int accepted_total = 0;
  for (int n = 0; n < N; ++n) {
    const int32_t d0 = draw(q0, rng);
    const int32_t d1 = draw(q1[size_t(d0)], rng);
    const std::vector<std::vector<float>> targets = {p0, p1[size_t(d0)], p2[size_t(d1)]};
    const std::vector<std::vector<float>> drafts_q = {q0, q1[size_t(d0)]};
    const std::vector<int32_t> drafts = {d0, d1};
    VerifyResult r = verify_sampled(targets, drafts_q, drafts, stream);
    ASSERT_EQ(r.tokens.size(), size_t(r.accepted + 1));
    accepted_total += r.accepted;
    int32_t t0 = r.tokens[0], t1;
    if (r.tokens.size() >= 2) {
      t1 = r.tokens[1];
    } else {
      t1 = draw(p1[size_t(t0)], rng);  // rejected at the first draft: the next step samples from the target
    }
    ++counts[{t0, t1}];
  }
  double chi2 = 0;
  int df = -1;
  for (size_t a = 0; a < V; ++a)
    for (size_t b = 0; b < V; ++b) {
      const double e = double(p0[a]) * double(p1[a][b]) * N;
      const double o = counts[{int(a), int(b)}];
      chi2 += (o - e) * (o - e) / e;
      ++df;
    }
  const double crit = df * std::pow(1 - 2.0 / (9 * df) + 4.753 * std::sqrt(2.0 / (9 * df)), 3);
  EXPECT_LT(chi2, crit) << "df " << df;
  EXPECT_GT(accepted_total, 0);
  std::printf("acceptance: %.3f drafts per step\n", double(accepted_total) / N);
}

TEST(Speculative, IdenticalDraftIsAlwaysAccepted) {
  const uint64_t seed = test::fresh_seed("identical");
  std::mt19937_64 rng(seed);
  const auto p = random_dist(rng, 50, 2.0);
  RandomStream stream(seed);
  for (int n = 0; n < 1000; ++n) {
    const int32_t d = draw(p, rng);
    const std::vector<std::vector<float>> t = {p, p}, q = {p};
    const std::vector<int32_t> drafts = {d};
    EXPECT_EQ(verify_sampled(t, q, drafts, stream).accepted, 1);
  }
}

}  // namespace
}  // namespace dsv4
