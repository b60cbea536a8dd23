#include "runtime/sampling_params.h"

#include <cmath>

#include "core/error.h"

namespace dsv4 {

void SamplingParams::validate() const {
  auto finite = [](float v) { return std::isfinite(v); };
  if (!finite(temperature) || temperature < 0.0f) fail("temperature must be >= 0, got {}", temperature);
  if (top_k < 0) fail("top_k must be >= 0 (0 disables it), got {}", top_k);
  if (!finite(top_p) || top_p <= 0.0f || top_p > 1.0f) fail("top_p must be in (0, 1], got {}", top_p);
  if (!finite(min_p) || min_p < 0.0f || min_p > 1.0f) fail("min_p must be in [0, 1], got {}", min_p);
  if (!finite(repetition_penalty) || repetition_penalty <= 0.0f)
    fail("repetition_penalty must be > 0, got {}", repetition_penalty);
  if (!finite(presence_penalty) || std::fabs(presence_penalty) > 2.0f)
    fail("presence_penalty must be in [-2, 2], got {}", presence_penalty);
  if (!finite(frequency_penalty) || std::fabs(frequency_penalty) > 2.0f)
    fail("frequency_penalty must be in [-2, 2], got {}", frequency_penalty);
  if (max_tokens < 0) fail("max_tokens must be >= 0, got {}", max_tokens);
  if (min_tokens < 0 || min_tokens > max_tokens)
    fail("min_tokens must be in [0, max_tokens = {}], got {}", max_tokens, min_tokens);
  for (int32_t id : stop_token_ids)
    if (id < 0) fail("stop_token_ids must be non-negative, got {}", id);
  for (const std::string& s : stop_strings)
    if (s.empty()) fail("stop strings must not be empty");
  // A constrained output must end where the value is complete: masking EOS there would leave
  // no token to sample.
  if (constraint && ignore_eos) fail("ignore_eos cannot be combined with a {} response format", constraint->name());
  if (constraint && min_tokens > 0)
    fail("min_tokens (got {}) cannot be combined with a {} response format", min_tokens, constraint->name());
  if (logprobs < -1 || logprobs > 20) fail("logprobs must be in [0, 20] (or absent), got {}", logprobs);
}

}  // namespace dsv4
