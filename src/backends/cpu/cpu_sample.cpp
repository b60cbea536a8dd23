// The reference sampler (backends/cpu/cpu_sample.h) and CpuOps::sample. The arithmetic is the
// CPU sampler's as it always was (runtime/sampler.cpp before the op existed), step for step, so
// that CPU results stay bit-identical; only the inputs arrive as a row of plain parameters.
#include "backends/cpu/cpu_sample.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "backends/cpu/cpu_ops.h"
#include "core/error.h"

namespace dsv4 {
namespace sample_ref {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace

void process_logits(std::span<const float> x, const SampleRowParams& P, std::span<const PenaltyToken> pen,
                    std::span<const int32_t> mask, const uint64_t* allowed, std::vector<float>& y) {
  const int64_t V = int64_t(x.size());
  if (allowed != nullptr) {
    y.assign(x.size(), kNegInf);
    for (int64_t w = 0; w * 64 < V; ++w) {
      uint64_t bits = allowed[w];
      while (bits) {
        const int64_t v = w * 64 + __builtin_ctzll(bits);
        bits &= bits - 1;
        if (v < V) y[size_t(v)] = x[size_t(v)];
      }
    }
  } else {
    y.assign(x.begin(), x.end());
  }
  if (P.repetition_penalty != 1.0f)
    for (const PenaltyToken& t : pen)
      if (t.in_prompt != 0 || t.output_count > 0) {
        float& v = y[size_t(t.id)];
        v = v > 0 ? v / P.repetition_penalty : v * P.repetition_penalty;
      }
  if (P.presence_penalty != 0.0f || P.frequency_penalty != 0.0f)
    for (const PenaltyToken& t : pen)
      if (t.output_count > 0) y[size_t(t.id)] -= P.presence_penalty + P.frequency_penalty * float(t.output_count);
  for (int32_t id : mask) y[size_t(id)] = kNegInf;
}

int32_t argmax(std::span<const float> x) { return int32_t(std::max_element(x.begin(), x.end()) - x.begin()); }

SampleStatus distribution(std::vector<float>& probs, const SampleRowParams& P, float* max_logit) {
  const size_t vocab = probs.size();
  // Softmax with temperature (in double for the normalizer).
  const float m = *std::max_element(probs.begin(), probs.end());
  *max_logit = m;
  if (!std::isfinite(m)) return SampleStatus::NotFinite;
  double sum = 0.0;
  for (float& x : probs) {
    x = std::exp((x - m) / P.temperature);
    sum += double(x);
  }
  // A NaN logit leaves no distribution (its mass is NaN); checked here so that the sort below
  // never sees NaN.
  if (std::isnan(sum)) return SampleStatus::EmptyFiltered;
  for (float& x : probs) x = float(double(x) / sum);

  // min-p: drop tokens below min_p times the most likely token's probability.
  if (P.min_p > 0.0f) {
    const float pmax = *std::max_element(probs.begin(), probs.end());
    for (float& x : probs)
      if (x < P.min_p * pmax) x = 0.0f;
  }
  // top-k and top-p over the tokens in descending probability (ties: lower id first).
  if (P.top_k > 0 || P.top_p < 1.0f) {
    std::vector<int32_t> order(vocab);
    std::iota(order.begin(), order.end(), 0);
    auto by_prob = [&probs](int32_t a, int32_t b) {
      return probs[size_t(a)] > probs[size_t(b)] || (probs[size_t(a)] == probs[size_t(b)] && a < b);
    };
    std::sort(order.begin(), order.end(), by_prob);
    size_t keep = vocab;
    if (P.top_k > 0) keep = std::min(keep, size_t(P.top_k));
    if (P.top_p < 1.0f) {
      double kept_mass = 0.0;
      for (size_t i = 0; i < keep; ++i) kept_mass += double(probs[size_t(order[i])]);
      double cum = 0.0;
      size_t n = 0;
      while (n < keep) {
        cum += double(probs[size_t(order[n])]);
        ++n;
        if (cum >= double(P.top_p) * kept_mass) break;  // smallest prefix reaching top_p of the kept mass
      }
      keep = n;
    }
    for (size_t i = keep; i < vocab; ++i) probs[size_t(order[i])] = 0.0f;
  }
  double total = 0.0;
  for (float x : probs) total += double(x);
  if (!(total > 0.0)) return SampleStatus::EmptyFiltered;
  for (float& x : probs) x = float(double(x) / total);
  return SampleStatus::Ok;
}

int32_t sample_from(std::span<const float> probs, double u) {
  double total = 0.0;
  int32_t last = -1;
  for (size_t v = 0; v < probs.size(); ++v)
    if (probs[v] > 0.0f) {
      total += double(probs[v]);
      last = int32_t(v);
    }
  if (last < 0) return -1;
  const double target = u * total;
  double cum = 0.0;
  for (size_t v = 0; v < probs.size(); ++v) {
    if (probs[v] <= 0.0f) continue;
    cum += double(probs[v]);
    if (target < cum) return int32_t(v);
  }
  return last;
}

float raw_logprobs(std::span<const float> logits, int32_t id, int n, int32_t* top_ids, float* top_logprobs) {
  const float m = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float x : logits) sum += std::exp(double(x - m));
  const float log_z = m + float(std::log(sum));
  if (n > 0) {
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    const size_t k = std::min(size_t(n), order.size());
    std::partial_sort(order.begin(), order.begin() + long(k), order.end(), [&logits](int32_t a, int32_t b) {
      return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
    });
    for (size_t i = 0; i < k; ++i) {
      top_ids[i] = order[i];
      top_logprobs[i] = logits[size_t(order[i])] - log_z;
    }
  }
  return logits[size_t(id)] - log_z;
}

SampledRow sample_row(const SampleArgs& a, int64_t r, std::vector<float>& scratch) {
  const SampleRowParams& P = a.rows[r];
  const int64_t V = a.V;
  if (P.logit_row < 0 || P.logit_row >= a.logit_rows)
    fail("sample: row {}: logit_row {} outside [0, {})", r, P.logit_row, a.logit_rows);
  if (P.penalty_begin < 0 || P.penalty_begin > P.penalty_end || P.penalty_end > a.penalty_count)
    fail("sample: row {}: penalties [{}, {}) outside [0, {})", r, P.penalty_begin, P.penalty_end, a.penalty_count);
  if (P.mask_begin < 0 || P.mask_begin > P.mask_end || P.mask_end > a.mask_count)
    fail("sample: row {}: mask ids [{}, {}) outside [0, {})", r, P.mask_begin, P.mask_end, a.mask_count);
  if (P.allowed_row < -1 || P.allowed_row >= a.allowed_rows)
    fail("sample: row {}: allowed_row {} outside [-1, {})", r, P.allowed_row, a.allowed_rows);
  if (P.logprobs < -1 || P.logprobs > kMaxTopLogprobs) fail("sample: row {}: logprobs {} outside [-1, 20]", r, P.logprobs);
  const std::span<const PenaltyToken> pen(a.penalties + P.penalty_begin, size_t(P.penalty_end - P.penalty_begin));
  const std::span<const int32_t> mask(a.mask_ids + P.mask_begin, size_t(P.mask_end - P.mask_begin));
  for (const PenaltyToken& t : pen)
    if (t.id < 0 || t.id >= V) fail("sample: row {}: penalty token {} outside the vocabulary [0, {})", r, t.id, V);
  for (int32_t id : mask)
    if (id < 0 || id >= V) fail("sample: row {}: mask id {} outside the vocabulary [0, {})", r, id, V);

  const std::span<const float> x(a.logits + int64_t(P.logit_row) * V, size_t(V));
  const uint64_t* allowed = P.allowed_row >= 0 ? a.allowed + int64_t(P.allowed_row) * allowed_words(V) : nullptr;
  process_logits(x, P, pen, mask, allowed, scratch);
  SampledRow out;
  if (P.temperature == 0.0f) {
    out.id = argmax(scratch);
    out.value = scratch[size_t(out.id)];
  } else {
    const SampleStatus st = distribution(scratch, P, &out.value);
    if (st != SampleStatus::Ok) {
      out.status = int32_t(st);
      return out;
    }
    out.id = sample_from(scratch, P.u);
    if (out.id < 0) {
      out.id = 0;
      out.status = int32_t(SampleStatus::EmptyDistribution);
      return out;
    }
  }
  if (P.logprobs >= 0) {
    out.top_count = int32_t(std::min<int64_t>(P.logprobs, V));
    out.logprob = raw_logprobs(x, out.id, out.top_count, out.top_ids, out.top_logprobs);
  }
  return out;
}

}  // namespace sample_ref

void CpuOps::sample(const SampleArgs& a) {
  if (a.R < 0 || a.V <= 0 || a.logit_rows < 0) fail("sample: R = {}, V = {}, logit_rows = {} invalid", a.R, a.V, a.logit_rows);
  if (a.R == 0) return;
  if (a.rows == nullptr || a.out == nullptr || a.logits == nullptr) fail("sample: null rows, out or logits");
  parallel_rows(a.R, 1, [&](int64_t b, int64_t e) {
    std::vector<float> scratch;
    for (int64_t r = b; r < e; ++r) a.out[r] = sample_ref::sample_row(a, r, scratch);
  });
}

}  // namespace dsv4
