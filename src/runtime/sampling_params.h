// Per-request sampling parameters (OpenAI / vLLM semantics) with validation.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/token_constraint.h"

namespace dsv4 {

struct SamplingParams {
  float temperature = 1.0f;         // 0 => greedy (argmax)
  int top_k = 0;                    // 0 => disabled
  float top_p = 1.0f;               // 1 => disabled
  float min_p = 0.0f;               // 0 => disabled
  float repetition_penalty = 1.0f;  // 1 => disabled; >1 discourages tokens seen in prompt or output
  float presence_penalty = 0.0f;    // subtracted once from tokens seen in the output
  float frequency_penalty = 0.0f;   // subtracted per occurrence in the output
  std::optional<uint64_t> seed;     // same seed => same tokens, independent of batching
  int max_tokens = 256;
  int min_tokens = 0;               // stop tokens and EOS are masked until this many were generated
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop_strings;
  int logprobs = -1;                // -1 => none; N >= 0 => chosen token's logprob + top-N alternatives
  // Structured output (response_format json_object / json_schema; runtime/structured/): the
  // tokens that break the format are masked before everything else. Shared and immutable; each
  // sequence starts its own state from it. Null => unconstrained.
  std::shared_ptr<const TokenConstraintFactory> constraint;

  // Throws dsv4::Error naming the offending field and value.
  void validate() const;
  bool greedy() const { return temperature == 0.0f; }
};

}  // namespace dsv4
