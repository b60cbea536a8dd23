#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <unordered_map>

#include "backends/cpu/cpu_sample.h"
#include "core/error.h"
#include "core/mix64.h"

namespace dsv4 {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

}  // namespace

double RandomStream::uniform() {
  const uint64_t bits = mix64(seed_ ^ mix64(++counter_ * 0x9E3779B97F4A7C15ull));
  return double(bits >> 11) * 0x1.0p-53;
}

namespace {

// One row of `rows` for the request (no constraint, no draw) and its processed logits.
const SampleRowParams& processed_row(std::span<const float> logits, const SamplingParams& p, const TokenContext& ctx,
                                     std::span<const int32_t> eos_ids, SampleRows& rows, std::vector<float>& y) {
  rows.add(0, p, ctx, eos_ids, nullptr, 0.0, -1);
  const SampleRowParams& P = rows.rows()[0];
  sample_ref::process_logits(logits, P,
                             std::span<const PenaltyToken>(rows.penalties().data() + P.penalty_begin,
                                                           size_t(P.penalty_end - P.penalty_begin)),
                             std::span<const int32_t>(rows.mask_ids().data() + P.mask_begin, size_t(P.mask_end - P.mask_begin)),
                             nullptr, y);
  return P;
}

}  // namespace

void apply_penalties(std::span<const float> logits, const SamplingParams& p, const TokenContext& ctx,
                     std::span<const int32_t> eos_ids, std::vector<float>& out) {
  SampleRows rows(int64_t(logits.size()));
  processed_row(logits, p, ctx, eos_ids, rows, out);
}

void sampling_distribution(std::span<const float> logits, const SamplingParams& p, const TokenContext& ctx,
                           std::span<const int32_t> eos_ids, std::vector<float>& probs) {
  if (logits.empty()) fail("sampling over an empty vocabulary");
  SampleRows rows(int64_t(logits.size()));
  SampleRowParams P = processed_row(logits, p, ctx, eos_ids, rows, probs);
  if (p.greedy()) {
    const int32_t best = sample_ref::argmax(probs);
    std::fill(probs.begin(), probs.end(), 0.0f);
    probs[size_t(best)] = 1.0f;
    return;
  }
  SampledRow r;
  r.status = int32_t(sample_ref::distribution(probs, P, &r.value));
  check_sampled(r);
}

int32_t sample_from(std::span<const float> probs, double u) {
  const int32_t id = sample_ref::sample_from(probs, u);
  if (id < 0) fail("sample_from: empty distribution");
  return id;
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
  const size_t k = n > 0 ? std::min(size_t(n), logits.size()) : 0;
  std::vector<int32_t> ids(k);
  std::vector<float> lps(k);
  out.logprob = sample_ref::raw_logprobs(logits, id, int(k), ids.data(), lps.data());
  out.top.clear();
  for (size_t i = 0; i < k; ++i) out.top.push_back({ids[i], lps[i]});
}

SampleRows::SampleRows(int64_t vocab) : V_(vocab) {}

void SampleRows::clear() {
  rows_.clear();
  penalties_.clear();
  mask_ids_.clear();
  allowed_.clear();
}

size_t SampleRows::add(int64_t logit_row, const SamplingParams& p, const TokenContext& ctx,
                       std::span<const int32_t> eos_ids, const std::vector<uint64_t>* allowed, double u, int logprobs) {
  SampleRowParams r;
  r.logit_row = int32_t(logit_row);
  r.temperature = p.temperature;
  r.top_k = p.top_k;
  r.top_p = p.top_p;
  r.min_p = p.min_p;
  r.repetition_penalty = p.repetition_penalty;
  r.presence_penalty = p.presence_penalty;
  r.frequency_penalty = p.frequency_penalty;
  r.u = p.greedy() ? 0.0 : u;
  r.logprobs = logprobs;
  auto in_vocab = [this](int32_t id) { return id >= 0 && id < V_; };
  // Penalties: each distinct token once, with its count in the output and whether the prompt
  // has it (the prompt matters only to the repetition penalty).
  r.penalty_begin = int32_t(penalties_.size());
  const bool repetition = p.repetition_penalty != 1.0f;
  if (repetition || p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    if (slot_.empty()) slot_.assign(size_t(V_), -1);
    auto entry = [this](int32_t id) -> PenaltyToken& {
      int32_t& s = slot_[size_t(id)];
      if (s < 0) {
        s = int32_t(penalties_.size());
        penalties_.push_back({id, 0, 0});
      }
      return penalties_[size_t(s)];
    };
    if (repetition)
      for (int32_t id : ctx.prompt)
        if (in_vocab(id)) entry(id).in_prompt = 1;
    for (int32_t id : ctx.output)
      if (in_vocab(id)) ++entry(id).output_count;
    for (size_t i = size_t(r.penalty_begin); i < penalties_.size(); ++i) slot_[size_t(penalties_[i].id)] = -1;
  }
  r.penalty_end = int32_t(penalties_.size());
  // min_tokens masks EOS and the stop ids; ignore_eos masks EOS.
  r.mask_begin = int32_t(mask_ids_.size());
  if (int(ctx.output.size()) < p.min_tokens) {
    for (int32_t id : eos_ids)
      if (in_vocab(id)) mask_ids_.push_back(id);
    for (int32_t id : p.stop_token_ids)
      if (in_vocab(id)) mask_ids_.push_back(id);
  } else if (p.ignore_eos) {
    for (int32_t id : eos_ids)
      if (in_vocab(id)) mask_ids_.push_back(id);
  }
  r.mask_end = int32_t(mask_ids_.size());
  if (allowed != nullptr) {
    const size_t words = size_t(allowed_words(V_));
    r.allowed_row = int32_t(allowed_.size() / words);
    const size_t n = std::min(words, allowed->size());
    allowed_.insert(allowed_.end(), allowed->begin(), allowed->begin() + long(n));
    allowed_.resize(allowed_.size() + (words - n), 0);  // ids past the constraint's vector: forbidden
    if (V_ % 64 != 0) allowed_.back() &= (uint64_t(1) << (V_ % 64)) - 1;
  }
  rows_.push_back(r);
  return rows_.size() - 1;
}

SampleArgs SampleRows::host_args(const float* logits, int64_t logit_rows, SampledRow* out) const {
  SampleArgs a;
  a.logits = logits;
  a.logit_rows = logit_rows;
  a.V = V_;
  a.rows = rows_.data();
  a.R = int64_t(rows_.size());
  a.penalties = penalties_.data();
  a.penalty_count = int64_t(penalties_.size());
  a.mask_ids = mask_ids_.data();
  a.mask_count = int64_t(mask_ids_.size());
  a.allowed = allowed_.data();
  a.allowed_rows = allowed_.empty() ? 0 : int64_t(allowed_.size()) / allowed_words(V_);
  a.out = out;
  return a;
}

void check_sampled(const SampledRow& row, const char* constraint_name) {
  switch (SampleStatus(row.status)) {
    case SampleStatus::Ok: break;
    case SampleStatus::NotFinite:
      fail("sampling: every token is masked or logits are not finite (max logit {})", row.value);
    case SampleStatus::EmptyFiltered: fail("sampling: the filtered distribution is empty");
    case SampleStatus::EmptyDistribution: fail("sample_from: empty distribution");
    case SampleStatus::BadRow: fail("sampling: the row's parameters point outside the step's arrays");
    default: fail("sampling: unknown status {}", row.status);
  }
  // A sampled row's value is its (finite) max logit: only a greedy choice can be masked here.
  if (constraint_name != nullptr && !std::isfinite(row.value))
    fail("sampling: the {} response format leaves no token to choose", constraint_name);
}

SampledToken to_token(const SampledRow& row, int logprobs) {
  SampledToken t;
  t.id = row.id;
  if (logprobs >= 0) {
    t.logprob = row.logprob;
    for (int32_t i = 0; i < row.top_count; ++i) t.top.push_back({row.top_ids[i], row.top_logprobs[i]});
  }
  return t;
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

size_t Sampler::add_row(SampleRows& rows, int64_t logit_row, const TokenContext& ctx) {
  const std::vector<uint64_t>* allowed = constraint_ ? &constraint_->allowed() : nullptr;
  const double u = params_.greedy() ? 0.0 : stream_.uniform();
  return rows.add(logit_row, params_, ctx, eos_ids_, allowed, u, params_.logprobs);
}

SampledToken Sampler::token(const SampledRow& row) const {
  check_sampled(row, constraint_ ? params_.constraint->name() : nullptr);
  return to_token(row, params_.logprobs);
}

SampledToken Sampler::sample(std::span<const float> logits, const TokenContext& ctx) {
  if (logits.empty()) fail("sampling over an empty vocabulary");
  const int64_t V = int64_t(logits.size());
  if (!one_ || one_->vocab() != V) one_ = std::make_unique<SampleRows>(V);
  one_->clear();
  add_row(*one_, 0, ctx);
  SampledRow out;
  const SampleArgs a = one_->host_args(logits.data(), 1, &out);
  out = sample_ref::sample_row(a, 0, scratch_);
  return token(out);
}

}  // namespace dsv4
