// Sampler: deterministic paths exactly, random paths statistically (chi-square).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"
#include "runtime/sampler.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

const std::vector<int32_t> kEos = {1};

std::vector<float> random_logits(std::mt19937_64& rng, size_t n, float scale = 3.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> x(n);
  for (float& v : x) v = d(rng);
  return x;
}

// Chi-square critical value for `df` degrees of freedom at upper tail 1e-6 (Wilson–Hilferty).
double chi2_critical(int df) {
  const double z = 4.753;  // standard normal upper 1e-6 quantile
  const double k = df;
  return k * std::pow(1.0 - 2.0 / (9.0 * k) + z * std::sqrt(2.0 / (9.0 * k)), 3.0);
}

// Draws `n` samples and checks them against `expected` (probabilities, independent of the code).
void expect_distribution(Sampler& s, const std::vector<float>& logits, const std::vector<double>& expected, int n) {
  std::vector<int> counts(expected.size(), 0);
  for (int i = 0; i < n; ++i) {
    const int32_t id = s.sample(logits, {}).id;
    ASSERT_GE(id, 0);
    ASSERT_LT(size_t(id), expected.size());
    ASSERT_GT(expected[size_t(id)], 0.0) << "sampled a token that must have been filtered: " << id;
    ++counts[size_t(id)];
  }
  double chi2 = 0.0;
  int df = -1;
  for (size_t v = 0; v < expected.size(); ++v) {
    if (expected[v] == 0.0) continue;
    const double e = expected[v] * n;
    chi2 += (counts[v] - e) * (counts[v] - e) / e;
    ++df;
  }
  if (df > 0) {
    EXPECT_LT(chi2, chi2_critical(df)) << "df=" << df;
  }
}

// Independent reference: softmax(logits / T) -> min-p -> top-k -> top-p -> renormalize.
std::vector<double> reference_distribution(const std::vector<float>& logits, double T, int top_k, double top_p,
                                           double min_p) {
  const size_t n = logits.size();
  std::vector<double> p(n);
  const double m = *std::max_element(logits.begin(), logits.end());
  double z = 0;
  for (size_t i = 0; i < n; ++i) z += p[i] = std::exp((double(logits[i]) - m) / T);
  for (double& v : p) v /= z;
  const double pmax = *std::max_element(p.begin(), p.end());
  for (double& v : p)
    if (v < min_p * pmax) v = 0;
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  size_t keep = top_k > 0 ? std::min(n, size_t(top_k)) : n;
  double mass = 0;
  for (size_t i = 0; i < keep; ++i) mass += p[idx[i]];
  double cum = 0;
  size_t k2 = 0;
  while (k2 < keep) {
    cum += p[idx[k2++]];
    if (cum >= top_p * mass - 1e-12) break;
  }
  for (size_t i = k2; i < n; ++i) p[idx[i]] = 0;
  double total = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& v : p) v /= total;
  return p;
}

TEST(SamplingParams, ValidationNamesTheField) {
  auto msg = [](SamplingParams p) {
    try {
      p.validate();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  SamplingParams p;
  EXPECT_EQ(msg(p), "");
  p.temperature = -1;
  EXPECT_NE(msg(p).find("temperature"), std::string::npos);
  p = {};
  p.top_p = 0;
  EXPECT_NE(msg(p).find("top_p"), std::string::npos);
  p = {};
  p.min_tokens = 5;
  p.max_tokens = 2;
  EXPECT_NE(msg(p).find("min_tokens"), std::string::npos);
  p = {};
  p.temperature = NAN;
  EXPECT_NE(msg(p).find("temperature"), std::string::npos);
  p = {};
  p.stop_strings = {""};
  EXPECT_NE(msg(p).find("stop strings"), std::string::npos);
}

TEST(Sampler, GreedyIsArgmaxOfPenalizedLogits) {
  const uint64_t seed = test::fresh_seed("greedy");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, kEos);
  for (int i = 0; i < 100; ++i) {
    const auto x = random_logits(rng, 1000);
    EXPECT_EQ(s.sample(x, {}).id, int32_t(std::max_element(x.begin(), x.end()) - x.begin()));
  }
}

TEST(Sampler, PenaltiesFollowTheirFormulas) {
  const std::vector<float> logits = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 1.0f};
  const std::vector<int32_t> prompt = {0, 1}, output = {3, 3, 5};
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  std::vector<float> out;
  apply_penalties(logits, p, {prompt, output}, kEos, out);
  // repetition: seen tokens 0,1,3,5: positive / 2, negative * 2; then presence + frequency·count.
  EXPECT_FLOAT_EQ(out[0], 1.0f);
  EXPECT_FLOAT_EQ(out[1], -2.0f);
  EXPECT_FLOAT_EQ(out[2], 0.5f);
  EXPECT_FLOAT_EQ(out[3], 1.5f - 0.5f - 0.5f);
  EXPECT_FLOAT_EQ(out[4], -2.0f);
  EXPECT_FLOAT_EQ(out[5], 0.5f - 0.5f - 0.25f);
}

TEST(Sampler, MinTokensMasksEosAndStopIds) {
  std::vector<float> logits(10, 0.0f);
  logits[1] = 100.0f;  // EOS
  logits[7] = 50.0f;   // a stop id
  SamplingParams p;
  p.temperature = 0;
  p.min_tokens = 2;
  p.stop_token_ids = {7};
  Sampler s(p, kEos);
  const std::vector<int32_t> none, one = {4}, two = {4, 4};
  EXPECT_NE(s.sample(logits, {{}, none}).id, 1);
  EXPECT_NE(s.sample(logits, {{}, one}).id, 7);
  EXPECT_EQ(s.sample(logits, {{}, two}).id, 1);
  p.min_tokens = 0;
  p.ignore_eos = true;
  Sampler s2(p, kEos);
  EXPECT_EQ(s2.sample(logits, {{}, none}).id, 7);
}

TEST(Sampler, DistributionMatchesAnIndependentReference) {
  const uint64_t seed = test::fresh_seed("distribution");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 50; ++trial) {
    const auto logits = random_logits(rng, 64);
    SamplingParams p;
    p.temperature = 0.3f + float(trial % 5) * 0.4f;
    p.top_k = trial % 3 == 0 ? 0 : 1 + trial % 17;
    p.top_p = trial % 4 == 0 ? 1.0f : 0.5f + 0.1f * float(trial % 5);
    p.min_p = trial % 2 == 0 ? 0.0f : 0.02f * float(trial % 7);
    std::vector<float> probs;
    sampling_distribution(logits, p, {}, kEos, probs);
    const auto ref = reference_distribution(logits, p.temperature, p.top_k, p.top_p, p.min_p);
    for (size_t v = 0; v < logits.size(); ++v) ASSERT_NEAR(probs[v], ref[v], 1e-5) << "trial " << trial << " v " << v;
  }
}

TEST(Sampler, SamplesFollowTheDistributionChiSquare) {
  const uint64_t seed = test::fresh_seed("chi-square");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const std::vector<float> logits = random_logits(rng, 12, 1.0f);
  struct Case {
    float T;
    int k;
    float top_p, min_p;
  };
  for (const Case c : {Case{1.0f, 0, 1.0f, 0.0f}, Case{0.7f, 5, 1.0f, 0.0f}, Case{1.3f, 0, 0.8f, 0.0f},
                       Case{1.0f, 0, 1.0f, 0.1f}, Case{0.9f, 8, 0.9f, 0.05f}}) {
    SamplingParams p;
    p.temperature = c.T;
    p.top_k = c.k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.seed = rng();
    Sampler s(p, kEos);
    expect_distribution(s, logits, reference_distribution(logits, c.T, c.k, c.top_p, c.min_p), 40000);
  }
}

TEST(Sampler, SameSeedSameTokensIndependentOfInterleaving) {
  const uint64_t seed = test::fresh_seed("seeded");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto logits = random_logits(rng, 500, 1.0f);
  SamplingParams p;
  p.seed = seed;
  Sampler alone(p, kEos), batched(p, kEos), other(SamplingParams{}, kEos);
  std::vector<int32_t> a, b;
  for (int i = 0; i < 200; ++i) a.push_back(alone.sample(logits, {}).id);
  for (int i = 0; i < 200; ++i) {
    other.sample(logits, {});  // another request in the same batch
    b.push_back(batched.sample(logits, {}).id);
  }
  EXPECT_EQ(a, b);
  p.seed = seed + 1;
  Sampler different(p, kEos);
  std::vector<int32_t> c;
  for (int i = 0; i < 200; ++i) c.push_back(different.sample(logits, {}).id);
  EXPECT_NE(a, c);
}

TEST(Sampler, LogprobsOfTheRawDistribution) {
  const uint64_t seed = test::fresh_seed("logprobs");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto logits = random_logits(rng, 300);
  SamplingParams p;
  p.temperature = 0.5f;
  p.logprobs = 5;
  p.top_k = 3;
  Sampler s(p, kEos);
  const SampledToken t = s.sample(logits, {});
  double z = 0;
  for (float x : logits) z += std::exp(double(x));
  EXPECT_NEAR(t.logprob, double(logits[size_t(t.id)]) - std::log(z), 1e-4);
  ASSERT_EQ(t.top.size(), 5u);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(t.top[i].id, order[i]);
    EXPECT_NEAR(t.top[i].logprob, double(logits[size_t(order[i])]) - std::log(z), 1e-4);
  }
}

TEST(Sampler, AllMaskedIsAClearError) {
  std::vector<float> logits(4, -std::numeric_limits<float>::infinity());
  SamplingParams p;
  Sampler s(p, kEos);
  EXPECT_THROW(s.sample(logits, {}), Error);
}

}  // namespace
}  // namespace dsv4
