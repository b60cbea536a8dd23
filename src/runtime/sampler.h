// Turning logits into tokens: penalties, min-tokens masking, greedy, temperature, min-p, top-k,
// top-p, a per-request random stream, and logprobs.
//
// Order of operations (as vLLM v1): a structured-output constraint (params.constraint) first sets
// the logits of the tokens it forbids to -inf; then repetition/presence/frequency penalties and the min_tokens
// mask change the logits; greedy takes their argmax; otherwise temperature, then min-p, top-k and
// top-p filter the distribution, which is renormalized and sampled by inverse CDF with one
// uniform draw from the request's stream. Reported logprobs are those of the model's raw
// distribution (log-softmax of the unprocessed logits), vLLM's default.
//
// The math is the backend's sampling op (backends/sample_ops.h; its CPU reference is
// backends/cpu/cpu_sample.h). This layer keeps the per-request state (the constraint, the random
// stream) and turns a request and its tokens into the op's per-row parameters (SampleRows):
// penalty lists, mask ids, the constraint's bitmask, and the uniform draw u computed here, so a
// seeded request draws the same u whichever backend samples it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "backends/sample_ops.h"
#include "runtime/sampling_params.h"

namespace dsv4 {

// A counter-based random stream: draw n of a stream seeded with s is fixed, so a request with
// a seed produces the same tokens whatever else is batched with it.
class RandomStream {
 public:
  explicit RandomStream(uint64_t seed) : seed_(seed) {}
  double uniform();  // [0, 1)
  uint64_t draws() const { return counter_; }

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
};

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
};

struct SampledToken {
  int32_t id = 0;
  float logprob = 0.0f;             // of the chosen token under the raw distribution
  std::vector<TokenLogprob> top;    // top-N alternatives (N = params.logprobs), most likely first
};

// The tokens a sequence has seen, for the penalties.
struct TokenContext {
  std::span<const int32_t> prompt;
  std::span<const int32_t> output;
};

// The processed distribution over the vocabulary for a non-greedy request: probs[v] sums to 1,
// zero outside the kept set. Exposed for speculative decoding, which needs p(x) of the target.
void sampling_distribution(std::span<const float> logits, const SamplingParams& params, const TokenContext& ctx,
                           std::span<const int32_t> eos_ids, std::vector<float>& probs);

// Logits after penalties and the min_tokens mask (the input of greedy and of temperature).
void apply_penalties(std::span<const float> logits, const SamplingParams& params, const TokenContext& ctx,
                     std::span<const int32_t> eos_ids, std::vector<float>& out);

// Draws from a distribution by inverse CDF (vocabulary order) with uniform u in [0, 1).
int32_t sample_from(std::span<const float> probs, double u);

// The logits with -inf for every token `allowed` forbids (token_constraint.h), in scratch.
std::span<const float> mask_logits(std::span<const float> logits, const std::vector<uint64_t>& allowed,
                                   std::vector<float>& scratch);

// log-softmax of raw logits at `id`, plus the top-n alternatives.
void raw_logprobs(std::span<const float> logits, int32_t id, int n, SampledToken& out);

// The rows of one sampling call gathered on the host: the op's per-row parameters, penalty lists
// (CSR), mask ids and constraint bitmasks (backends/sample_ops.h), for a vocabulary of V.
class SampleRows {
 public:
  explicit SampleRows(int64_t vocab);
  void clear();
  // A row for logits row `logit_row`: the request's parameters, the tokens it has seen (for the
  // penalties and min_tokens), the constraint's bitmask (null = none), the uniform draw u of a
  // sampled request (ignored for greedy) and the logprobs wanted (-1 = none). Returns its index.
  size_t add(int64_t logit_row, const SamplingParams& p, const TokenContext& ctx, std::span<const int32_t> eos_ids,
             const std::vector<uint64_t>* allowed, double u, int logprobs);
  size_t size() const { return rows_.size(); }
  int64_t vocab() const { return V_; }
  // The rows as SampleArgs over these host arrays (logits and out on the host too).
  SampleArgs host_args(const float* logits, int64_t logit_rows, SampledRow* out) const;
  const std::vector<SampleRowParams>& rows() const { return rows_; }
  const std::vector<PenaltyToken>& penalties() const { return penalties_; }
  const std::vector<int32_t>& mask_ids() const { return mask_ids_; }
  const std::vector<uint64_t>& allowed() const { return allowed_; }

 private:
  int64_t V_;
  std::vector<SampleRowParams> rows_;
  std::vector<PenaltyToken> penalties_;
  std::vector<int32_t> mask_ids_;
  std::vector<uint64_t> allowed_;
  std::vector<int32_t> slot_;  // [V] id -> its index in the row being built, -1 (reset after each row)
};

// Throws the sampler's dsv4::Error for a row that could not be sampled (status != Ok). With a
// constraint (its name), a greedy row whose chosen logit is not finite is an error too.
void check_sampled(const SampledRow& row, const char* constraint_name = nullptr);
// The token of a sampled row; logprobs (>= 0) copies the chosen logprob and the top alternatives.
SampledToken to_token(const SampledRow& row, int logprobs);

class Sampler {
 public:
  // params must be valid (params.validate()); a request without a seed gets one from the OS.
  // With params.constraint, the sequence's constraint state starts here (EOS and the stop ids
  // end it).
  Sampler(SamplingParams params, std::vector<int32_t> eos_ids);

  // Samples on the host from one row of logits (the reference op on a one-row batch).
  SampledToken sample(std::span<const float> logits, const TokenContext& ctx);
  // Adds this sequence's next-token row to `rows` (the constraint's mask, one uniform draw when
  // the request samples, its logprobs); its result goes through token().
  size_t add_row(SampleRows& rows, int64_t logit_row, const TokenContext& ctx);
  // The token of a row added by add_row; throws what sample() throws for the same logits.
  SampledToken token(const SampledRow& row) const;
  // Advances the constraint past a token the sequence accepted (no-op without one); throws
  // dsv4::Error when the constraint does not allow it.
  void accept(int32_t id);
  TokenConstraint* constraint() { return constraint_.get(); }
  const SamplingParams& params() const { return params_; }
  RandomStream& stream() { return stream_; }
  const std::vector<int32_t>& eos_ids() const { return eos_ids_; }

 private:
  SamplingParams params_;
  std::vector<int32_t> eos_ids_;
  RandomStream stream_;
  std::unique_ptr<TokenConstraint> constraint_;
  std::unique_ptr<SampleRows> one_;  // sample()'s one-row batch
  std::vector<float> scratch_;
};

}  // namespace dsv4
