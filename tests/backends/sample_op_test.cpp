// The CPU backend's sampling op (CpuOps::sample, backends/cpu/cpu_sample.cpp) against the sampler
// as it was before the op existed (kept here verbatim as `legacy`): every parameter combination on
// random logits, through the rows the runtime builds (SampleRows), bit for bit — ids, logprobs,
// top-N and the errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>

#include "backends/ops.h"
#include "core/error.h"
#include "runtime/sampler.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

namespace legacy {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int32_t argmax(std::span<const float> x) { return int32_t(std::max_element(x.begin(), x.end()) - x.begin()); }

void apply_penalties(std::span<const float> logits, const SamplingParams& p, const TokenContext& ctx,
                     std::span<const int32_t> eos_ids, std::vector<float>& out) {
  out.assign(logits.begin(), logits.end());
  const int64_t vocab = int64_t(out.size());
  auto in_vocab = [vocab](int32_t id) { return id >= 0 && id < vocab; };
  if (p.repetition_penalty != 1.0f) {
    std::vector<bool> seen(size_t(vocab), false);
    for (int32_t id : ctx.prompt)
      if (in_vocab(id)) seen[size_t(id)] = true;
    for (int32_t id : ctx.output)
      if (in_vocab(id)) seen[size_t(id)] = true;
    for (int64_t v = 0; v < vocab; ++v)
      if (seen[size_t(v)]) out[size_t(v)] = out[size_t(v)] > 0 ? out[size_t(v)] / p.repetition_penalty
                                                                : out[size_t(v)] * p.repetition_penalty;
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t id : ctx.output)
      if (in_vocab(id)) ++counts[id];
    for (const auto& [id, n] : counts) out[size_t(id)] -= p.presence_penalty + p.frequency_penalty * float(n);
  }
  if (int(ctx.output.size()) < p.min_tokens) {
    for (int32_t id : eos_ids)
      if (in_vocab(id)) out[size_t(id)] = kNegInf;
    for (int32_t id : p.stop_token_ids)
      if (in_vocab(id)) out[size_t(id)] = kNegInf;
  } else if (p.ignore_eos) {
    for (int32_t id : eos_ids)
      if (in_vocab(id)) out[size_t(id)] = kNegInf;
  }
}

void sampling_distribution(std::span<const float> logits, const SamplingParams& p, const TokenContext& ctx,
                           std::span<const int32_t> eos_ids, std::vector<float>& probs) {
  legacy::apply_penalties(logits, p, ctx, eos_ids, probs);
  const size_t vocab = probs.size();
  const float m = *std::max_element(probs.begin(), probs.end());
  if (!std::isfinite(m)) fail("not finite");
  double sum = 0.0;
  for (float& x : probs) {
    x = std::exp((x - m) / p.temperature);
    sum += double(x);
  }
  for (float& x : probs) x = float(double(x) / sum);
  if (p.min_p > 0.0f) {
    const float pmax = *std::max_element(probs.begin(), probs.end());
    for (float& x : probs)
      if (x < p.min_p * pmax) x = 0.0f;
  }
  if (p.top_k > 0 || p.top_p < 1.0f) {
    std::vector<int32_t> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    auto by_prob = [&probs](int32_t a, int32_t b) {
      return probs[size_t(a)] > probs[size_t(b)] || (probs[size_t(a)] == probs[size_t(b)] && a < b);
    };
    std::sort(order.begin(), order.end(), by_prob);
    size_t keep = vocab;
    if (p.top_k > 0) keep = std::min(keep, size_t(p.top_k));
    if (p.top_p < 1.0f) {
      double kept_mass = 0.0;
      for (size_t i = 0; i < keep; ++i) kept_mass += double(probs[size_t(order[i])]);
      double cum = 0.0;
      size_t n = 0;
      while (n < keep) {
        cum += double(probs[size_t(order[n])]);
        ++n;
        if (cum >= double(p.top_p) * kept_mass) break;
      }
      keep = n;
    }
    for (size_t i = keep; i < vocab; ++i) probs[size_t(order[i])] = 0.0f;
  }
  double total = 0.0;
  for (float x : probs) total += double(x);
  if (!(total > 0.0)) fail("empty");
  for (float& x : probs) x = float(double(x) / total);
}

int32_t sample_from(std::span<const float> probs, double u) {
  double total = 0.0;
  int32_t last = -1;
  for (size_t v = 0; v < probs.size(); ++v)
    if (probs[v] > 0.0f) {
      total += double(probs[v]);
      last = int32_t(v);
    }
  if (last < 0) fail("empty distribution");
  const double target = u * total;
  double cum = 0.0;
  for (size_t v = 0; v < probs.size(); ++v) {
    if (probs[v] <= 0.0f) continue;
    cum += double(probs[v]);
    if (target < cum) return int32_t(v);
  }
  return last;
}

std::span<const float> mask_logits(std::span<const float> logits, const std::vector<uint64_t>& allowed,
                                   std::vector<float>& scratch) {
  scratch.assign(logits.size(), kNegInf);
  const size_t n = std::min(logits.size(), allowed.size() * 64);
  for (size_t v = 0; v < n; ++v)
    if (allowed[v / 64] >> (v % 64) & 1u) scratch[v] = logits[v];
  return scratch;
}

void raw_logprobs(std::span<const float> logits, int32_t id, int n, SampledToken& out) {
  const float m = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float x : logits) sum += std::exp(double(x - m));
  const float log_z = m + float(std::log(sum));
  out.logprob = logits[size_t(id)] - log_z;
  out.top.clear();
  if (n <= 0) return;
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t k = std::min(size_t(n), order.size());
  std::partial_sort(order.begin(), order.begin() + long(k), order.end(), [&logits](int32_t a, int32_t b) {
    return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
  });
  for (size_t i = 0; i < k; ++i) out.top.push_back({order[i], logits[size_t(order[i])] - log_z});
}

// Sampler::sample as it was, with the draw u given.
SampledToken sample(std::span<const float> raw, const SamplingParams& p, const TokenContext& ctx,
                    std::span<const int32_t> eos, const std::vector<uint64_t>* allowed, double u) {
  std::vector<float> masked, scratch;
  const std::span<const float> logits = allowed ? legacy::mask_logits(raw, *allowed, masked) : raw;
  SampledToken t;
  if (p.greedy()) {
    legacy::apply_penalties(logits, p, ctx, eos, scratch);
    t.id = legacy::argmax(scratch);
    if (allowed && !std::isfinite(scratch[size_t(t.id)])) fail("no token");
  } else {
    legacy::sampling_distribution(logits, p, ctx, eos, scratch);
    t.id = legacy::sample_from(scratch, u);
  }
  if (p.logprobs >= 0) legacy::raw_logprobs(raw, t.id, p.logprobs, t);
  return t;
}

}  // namespace legacy

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0 || (std::isnan(a) && std::isnan(b)); }

TEST(SampleOpCpu, EqualsTheSamplerAsItWas) {
  const uint64_t seed = test::fresh_seed("SampleOpCpu");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const std::vector<int32_t> eos = {1};
  int64_t compared = 0, errors = 0;
  for (int64_t V : {2, 5, 64, 100, 3000}) {
    for (int trial = 0; trial < 60; ++trial) {
      struct Row {
        SamplingParams p;
        std::vector<int32_t> prompt, output;
        std::vector<uint64_t> allowed;
        bool constrained;
        double u;
      };
      const int R = 8;
      std::vector<Row> rows(R);
      std::vector<float> logits;
      std::normal_distribution<float> nd(0.0f, 2.5f);
      std::uniform_int_distribution<int32_t> tok(0, int32_t(V - 1));
      std::uniform_real_distribution<double> ud(0.0, 1.0);
      SampleRows batch(V);
      for (int r = 0; r < R; ++r) {
        Row& w = rows[size_t(r)];
        for (int64_t v = 0; v < V; ++v) logits.push_back(trial % 5 == 0 ? std::round(nd(rng)) : nd(rng));
        if (trial % 7 == 3) logits[size_t(r * V + int64_t(rng() % uint64_t(V)))] = -std::numeric_limits<float>::infinity();
        w.p.temperature = trial % 4 == 0 ? 0.0f : 0.4f + 0.3f * float(rng() % 5);
        w.p.top_k = int(rng() % 3 == 0 ? 0 : rng() % uint64_t(V + 3));
        w.p.top_p = rng() % 2 ? 1.0f : 0.3f + 0.1f * float(rng() % 7);
        w.p.min_p = rng() % 3 ? 0.0f : 0.05f;
        w.p.repetition_penalty = rng() % 2 ? 1.0f : 1.25f;
        w.p.presence_penalty = rng() % 2 ? 0.0f : 0.4f;
        w.p.frequency_penalty = rng() % 2 ? 0.0f : -0.3f;
        w.p.min_tokens = int(rng() % 3);
        w.p.ignore_eos = rng() % 3 == 0;
        w.p.stop_token_ids = {tok(rng)};
        w.p.logprobs = int(rng() % 4 == 0 ? -1 : rng() % 21);
        w.prompt.resize(rng() % 9);
        w.output.resize(rng() % 5);
        for (int32_t& t : w.prompt) t = tok(rng);
        for (int32_t& t : w.output) t = rng() % 2 && !w.prompt.empty() ? w.prompt[0] : tok(rng);
        w.constrained = rng() % 4 == 0;
        if (w.constrained) {
          w.allowed.assign(size_t((V + 63) / 64), 0);
          for (int64_t v = 0; v < V; ++v)
            if (rng() % 3 == 0) w.allowed[size_t(v / 64)] |= uint64_t(1) << (v % 64);
        }
        w.u = ud(rng);
        batch.add(r, w.p, {w.prompt, w.output}, eos, w.constrained ? &w.allowed : nullptr, w.u, w.p.logprobs);
      }
      std::vector<SampledRow> out(R);
      cpu_ops().sample(batch.host_args(logits.data(), R, out.data()));
      for (int r = 0; r < R; ++r) {
        const Row& w = rows[size_t(r)];
        const std::span<const float> x(logits.data() + r * V, size_t(V));
        SampledToken want;
        bool threw = false;
        try {
          want = legacy::sample(x, w.p, {w.prompt, w.output}, eos, w.constrained ? &w.allowed : nullptr, w.u);
        } catch (const Error&) {
          threw = true;
        }
        const SampledRow& g = out[size_t(r)];
        bool got_threw = false;
        try {
          check_sampled(g, w.constrained ? "json" : nullptr);
        } catch (const Error&) {
          got_threw = true;
        }
        ++compared;
        ASSERT_EQ(got_threw, threw) << "V " << V << " trial " << trial << " row " << r;
        if (threw) {
          ++errors;
          continue;
        }
        const SampledToken t = to_token(g, w.p.logprobs);
        ASSERT_EQ(t.id, want.id) << "V " << V << " trial " << trial << " row " << r;
        EXPECT_TRUE(same_bits(t.logprob, want.logprob));
        ASSERT_EQ(t.top.size(), want.top.size());
        for (size_t i = 0; i < t.top.size(); ++i) {
          EXPECT_EQ(t.top[i].id, want.top[i].id);
          EXPECT_TRUE(same_bits(t.top[i].logprob, want.top[i].logprob));
        }
      }
    }
  }
  std::printf("[sample cpu] %lld rows compared (%lld errors)\n", static_cast<long long>(compared),
              static_cast<long long>(errors));
}

}  // namespace
}  // namespace dsv4
