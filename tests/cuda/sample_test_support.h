// Cases and checks shared by the sampling-op tests (sample_test.cpp on the GPU,
// sample_emulation_test.cpp on host threads): random rows over every parameter combination, and
// the comparison with the CPU reference (backends/cpu/cpu_sample.h).
//
// What must agree: the status; greedy ids and their processed logit bit for bit; sampled ids
// exactly, except a documented CDF-boundary tie (the other backend's token lies within 1e-6 of
// the draw u · total on the reference's own CDF: the double sums run in another order and exp
// may differ by an ulp); logprobs within 1e-5 relative (absolute below 1: a logprob near 0 is the
// difference of two large numbers); the top-N ids exactly.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cpu/cpu_sample.h"
#include "backends/sample_ops.h"
#include "runtime/sampler.h"

namespace dsv4::test {

struct SampleCase {
  int64_t V = 0;
  int64_t logit_rows = 0;
  std::vector<float> logits;  // [logit_rows, V]
  SampleRows rows;
  std::vector<int> kinds;     // per row: the logits' kind (for messages)
  explicit SampleCase(int64_t vocab) : V(vocab), rows(vocab) {}
  SampleArgs host_args(SampledRow* out) const { return rows.host_args(logits.data(), logit_rows, out); }
};

enum LogitKind { kNormal, kTies, kPeaked, kSomeNegInf, kAllNegInf, kNanSomewhere, kNanFirst, kConstant, kLogitKinds };

inline std::vector<float> make_logits(std::mt19937_64& rng, int64_t V, int kind) {
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::uniform_int_distribution<int64_t> pos(0, V - 1);
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x(static_cast<size_t>(V));
  for (float& v : x) v = nd(rng);
  switch (kind) {
    case kTies:
      for (float& v : x) v = std::round(v * 0.5f);
      break;
    case kPeaked:
      x[size_t(pos(rng))] = 25.0f;
      break;
    case kSomeNegInf:
      for (float& v : x)
        if (rng() % 10 == 0) v = -inf;
      break;
    case kAllNegInf: std::fill(x.begin(), x.end(), -inf); break;
    case kNanSomewhere: x[size_t(pos(rng))] = std::numeric_limits<float>::quiet_NaN(); break;
    case kNanFirst:
      if (float* first = x.data(); first != nullptr) *first = std::numeric_limits<float>::quiet_NaN();
      break;
    case kConstant: std::fill(x.begin(), x.end(), 1.5f); break;
    default: break;
  }
  return x;
}

// `rows` rows over fresh logits, each with random parameters (every combination appears across
// calls). eos = 1 (when V > 1).
inline SampleCase make_sample_case(std::mt19937_64& rng, int64_t V, int rows) {
  SampleCase c(V);
  c.logit_rows = rows + 1;  // one row nobody samples
  for (int64_t r = 0; r < c.logit_rows; ++r) {
    const int pick_kind = int(rng() % (kLogitKinds + 4));  // the finite kinds twice as often
    const int kind = pick_kind < kLogitKinds ? pick_kind : (pick_kind - kLogitKinds) % 3;
    c.kinds.push_back(kind);
    const std::vector<float> x = make_logits(rng, V, kind);
    c.logits.insert(c.logits.end(), x.begin(), x.end());
  }
  c.kinds.pop_back();
  auto pick = [&rng](std::initializer_list<double> v) { return *(v.begin() + long(rng() % v.size())); };
  std::uniform_int_distribution<int32_t> tok(0, int32_t(V - 1));
  const std::vector<int32_t> eos = {std::min<int32_t>(1, int32_t(V - 1))};
  for (int r = 0; r < rows; ++r) {
    SamplingParams p;
    p.temperature = float(pick({0.0, 0.3, 1.0, 1.7}));
    const int64_t k = int64_t(pick({0, 1, 3, 50, double(V - 1), double(V), double(V + 5)}));
    p.top_k = int(std::max<int64_t>(k, 0));
    p.top_p = float(pick({1.0, 1.0, 0.95, 0.7, 0.2}));
    p.min_p = float(pick({0.0, 0.0, 0.02, 0.3}));
    p.repetition_penalty = float(pick({1.0, 1.0, 1.3, 0.8}));
    p.presence_penalty = float(pick({0.0, 0.0, 0.5, -0.4}));
    p.frequency_penalty = float(pick({0.0, 0.0, 0.3}));
    p.min_tokens = int(pick({0, 0, 3}));
    p.ignore_eos = rng() % 4 == 0;
    if (rng() % 3 == 0) p.stop_token_ids = {tok(rng), tok(rng)};
    const int kind = c.kinds[size_t(r)];
    const bool nan_row = kind == kNanSomewhere || kind == kNanFirst;
    int logprobs = int(pick({-1, -1, 0, 3, 20}));
    if (nan_row) logprobs = std::min(logprobs, 0);  // the CPU's top-N order with NaN is unspecified
    std::vector<int32_t> prompt(size_t(rng() % 12)), output(size_t(rng() % 6));
    for (int32_t& t : prompt) t = tok(rng);
    for (int32_t& t : output) t = rng() % 3 == 0 && !output.empty() ? output[0] : tok(rng);  // repeats
    std::vector<uint64_t> bits;
    const bool constrained = rng() % 4 == 0;
    if (constrained) {
      const int density = int(pick({2, 50, 0}));  // percent allowed (0: nothing)
      bits.assign(size_t(allowed_words(V)) + size_t(rng() % 2), 0);  // sometimes one word too many
      for (int64_t v = 0; v < V; ++v)
        if (int(rng() % 100) < density) bits[size_t(v / 64)] |= uint64_t(1) << (v % 64);
      if (rng() % 2 == 0 && density > 0) bits[0] |= 1;  // the first token often allowed
    }
    std::uniform_real_distribution<double> ud(0.0, 1.0);
    const int64_t logit_row = int64_t(r);
    c.rows.add(logit_row, p, TokenContext{prompt, output}, eos, constrained ? &bits : nullptr, ud(rng), logprobs);
  }
  return c;
}

// The reference's result for every row of the case.
inline std::vector<SampledRow> reference_rows(const SampleCase& c) {
  std::vector<SampledRow> out(c.rows.size());
  const SampleArgs a = c.host_args(out.data());
  std::vector<float> scratch;
  for (size_t r = 0; r < out.size(); ++r) out[r] = sample_ref::sample_row(a, int64_t(r), scratch);
  return out;
}

inline bool same_float(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof(float)) == 0;
}
inline bool close_logprob(float got, float want) {
  if (std::isnan(want) || std::isnan(got)) return std::isnan(want) && std::isnan(got);
  if (std::isinf(want) || std::isinf(got)) return got == want;
  return std::fabs(double(got) - double(want)) <= 1e-5 * std::max(1.0, std::fabs(double(want)));
}

// A sampled row whose ids differ: is `got` the neighbour of the draw on the reference's CDF?
inline bool cdf_boundary_tie(const SampleCase& c, size_t r, int32_t got) {
  const SampleRowParams& P = c.rows.rows()[r];
  const SampleArgs a = c.host_args(nullptr);
  std::vector<float> probs;
  sample_ref::process_logits(
      std::span<const float>(c.logits.data() + int64_t(P.logit_row) * c.V, size_t(c.V)), P,
      std::span<const PenaltyToken>(a.penalties + P.penalty_begin, size_t(P.penalty_end - P.penalty_begin)),
      std::span<const int32_t>(a.mask_ids + P.mask_begin, size_t(P.mask_end - P.mask_begin)),
      P.allowed_row >= 0 ? a.allowed + int64_t(P.allowed_row) * allowed_words(c.V) : nullptr, probs);
  float m = 0;
  if (sample_ref::distribution(probs, P, &m) != SampleStatus::Ok) return false;
  if (got < 0 || got >= c.V || !(probs[size_t(got)] > 0.0f)) return false;
  double total = 0, lo = 0;
  for (int64_t v = 0; v < c.V; ++v) {
    if (probs[size_t(v)] <= 0.0f) continue;
    if (v < got) lo += double(probs[size_t(v)]);
    total += double(probs[size_t(v)]);
  }
  const double hi = lo + double(probs[size_t(got)]), target = P.u * total, tol = 1e-6 * total;
  return target >= lo - tol && target <= hi + tol;
}

struct SampleCompare {
  int64_t rows = 0, ties = 0, greedy = 0, sampled = 0, errors = 0;
};

inline void expect_rows_match(const SampleCase& c, const std::vector<SampledRow>& got,
                              const std::vector<SampledRow>& want, const std::string& what, SampleCompare& stats) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t r = 0; r < got.size(); ++r) {
    const SampleRowParams& P = c.rows.rows()[r];
    const SampledRow& g = got[r];
    const SampledRow& w = want[r];
    const std::string at = what + " row " + std::to_string(r) + " (V " + std::to_string(c.V) + ", logits kind " +
                           std::to_string(c.kinds[r]) + ", T " + std::to_string(P.temperature) + ", top_k " +
                           std::to_string(P.top_k) + ", top_p " + std::to_string(P.top_p) + ", min_p " +
                           std::to_string(P.min_p) + ", constrained " + std::to_string(P.allowed_row >= 0) + ")";
    ++stats.rows;
    EXPECT_EQ(g.status, w.status) << at;
    if (g.status != w.status) continue;
    if (w.status != int32_t(SampleStatus::Ok)) {
      ++stats.errors;
      if (w.status == int32_t(SampleStatus::NotFinite)) {
        EXPECT_TRUE(same_float(g.value, w.value)) << at << ": max logit";
      }
      continue;
    }
    bool same_id = g.id == w.id;
    if (P.temperature == 0.0f) {
      ++stats.greedy;
      EXPECT_EQ(g.id, w.id) << at << ": greedy";
      EXPECT_TRUE(same_float(g.value, w.value)) << at << ": greedy logit " << g.value << " vs " << w.value;
    } else {
      ++stats.sampled;
      if (!same_id) {
        const bool tie = cdf_boundary_tie(c, r, g.id);
        EXPECT_TRUE(tie) << at << ": sampled " << g.id << ", reference " << w.id << " (u " << P.u << ")";
        stats.ties += tie ? 1 : 0;
      }
    }
    if (P.logprobs < 0) continue;
    if (same_id) {
      EXPECT_TRUE(close_logprob(g.logprob, w.logprob)) << at << ": logprob " << g.logprob << " vs " << w.logprob;
    }
    EXPECT_EQ(g.top_count, w.top_count) << at;
    for (int32_t i = 0; i < std::min(g.top_count, w.top_count); ++i) {
      EXPECT_EQ(g.top_ids[i], w.top_ids[i]) << at << ": top " << i;
      EXPECT_TRUE(close_logprob(g.top_logprobs[i], w.top_logprobs[i]))
          << at << ": top logprob " << i << " " << g.top_logprobs[i] << " vs " << w.top_logprobs[i];
    }
  }
}

}  // namespace dsv4::test
