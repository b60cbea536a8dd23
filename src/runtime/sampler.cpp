#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>

#include "core/error.h"

namespace dsv4 {

namespace {

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int32_t argmax(std::span<const float> x) {
  return int32_t(std::max_element(x.begin(), x.end()) - x.begin());
}

}  // namespace

double RandomStream::uniform() {
  const uint64_t bits = mix64(seed_ ^ mix64(++counter_ * 0x9E3779B97F4A7C15ull));
  return double(bits >> 11) * 0x1.0p-53;
}

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
    for (const auto& [id, n] : counts)
      out[size_t(id)] -= p.presence_penalty + p.frequency_penalty * float(n);
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
  apply_penalties(logits, p, ctx, eos_ids, probs);
  const size_t vocab = probs.size();
  if (vocab == 0) fail("sampling over an empty vocabulary");
  if (p.greedy()) {
    const int32_t best = argmax(probs);
    std::fill(probs.begin(), probs.end(), 0.0f);
    probs[size_t(best)] = 1.0f;
    return;
  }
  // Softmax with temperature (in double for the normalizer).
  const float m = *std::max_element(probs.begin(), probs.end());
  if (!std::isfinite(m)) fail("sampling: every token is masked or logits are not finite (max logit {})", m);
  double sum = 0.0;
  for (float& x : probs) {
    x = std::exp((x - m) / p.temperature);
    sum += double(x);
  }
  for (float& x : probs) x = float(double(x) / sum);

  // min-p: drop tokens below min_p times the most likely token's probability.
  if (p.min_p > 0.0f) {
    const float pmax = *std::max_element(probs.begin(), probs.end());
    for (float& x : probs)
      if (x < p.min_p * pmax) x = 0.0f;
  }
  // top-k and top-p over the tokens in descending probability (ties: lower id first).
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
        if (cum >= double(p.top_p) * kept_mass) break;  // smallest prefix reaching top_p of the kept mass
      }
      keep = n;
    }
    for (size_t i = keep; i < vocab; ++i) probs[size_t(order[i])] = 0.0f;
  }
  double total = 0.0;
  for (float x : probs) total += double(x);
  if (!(total > 0.0)) fail("sampling: the filtered distribution is empty");
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
  if (last < 0) fail("sample_from: empty distribution");
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
  for (size_t w = 0; w * 64 < n; ++w) {
    uint64_t bits = allowed[w];
    while (bits) {
      const size_t v = w * 64 + size_t(__builtin_ctzll(bits));
      bits &= bits - 1;
      if (v < n) scratch[v] = logits[v];
    }
  }
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

Sampler::Sampler(SamplingParams params, std::vector<int32_t> eos_ids)
    : params_(std::move(params)),
      eos_ids_(std::move(eos_ids)),
      stream_(params_.seed ? *params_.seed : (uint64_t(std::random_device{}()) << 32 | std::random_device{}())) {
  params_.validate();
  if (params_.constraint) {
    std::vector<int32_t> end_ids = eos_ids_;
    end_ids.insert(end_ids.end(), params_.stop_token_ids.begin(), params_.stop_token_ids.end());
    constraint_ = params_.constraint->start(std::move(end_ids));
  }
}

void Sampler::accept(int32_t id) {
  if (constraint_ && !constraint_->accept(id))
    fail("sampling: token {} is not allowed here by the {} response format", id, params_.constraint->name());
}

SampledToken Sampler::sample(std::span<const float> raw, const TokenContext& ctx) {
  SampledToken t;
  const std::span<const float> logits = constraint_ ? mask_logits(raw, constraint_->allowed(), masked_) : raw;
  if (params_.greedy()) {
    apply_penalties(logits, params_, ctx, eos_ids_, scratch_);
    t.id = argmax(scratch_);
    if (constraint_ && !std::isfinite(scratch_[size_t(t.id)]))
      fail("sampling: the {} response format leaves no token to choose", params_.constraint->name());
  } else {
    sampling_distribution(logits, params_, ctx, eos_ids_, scratch_);
    t.id = sample_from(scratch_, stream_.uniform());
  }
  if (params_.logprobs >= 0) raw_logprobs(raw, t.id, params_.logprobs, t);
  return t;
}

}  // namespace dsv4
