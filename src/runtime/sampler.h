// Turning logits into tokens: penalties, min-tokens masking, greedy, temperature, min-p, top-k,
// top-p, a per-request random stream, and logprobs.
//
// Order of operations (as vLLM v1): a structured-output constraint (params.constraint) first sets
// the logits of the tokens it forbids to -inf; then repetition/presence/frequency penalties and the min_tokens
// mask change the logits; greedy takes their argmax; otherwise temperature, then min-p, top-k and
// top-p filter the distribution, which is renormalized and sampled by inverse CDF with one
// uniform draw from the request's stream. Reported logprobs are those of the model's raw
// distribution (log-softmax of the unprocessed logits), vLLM's default.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

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

class Sampler {
 public:
  // params must be valid (params.validate()); a request without a seed gets one from the OS.
  // With params.constraint, the sequence's constraint state starts here (EOS and the stop ids
  // end it).
  Sampler(SamplingParams params, std::vector<int32_t> eos_ids);

  SampledToken sample(std::span<const float> logits, const TokenContext& ctx);
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
  std::vector<float> scratch_, masked_;
};

}  // namespace dsv4
