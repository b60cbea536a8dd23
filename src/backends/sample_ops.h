// Sampling on the backend: rows of logits in backend memory -> one token per row (and its raw
// logprob and the top-N alternatives), with every row's parameters uploaded once per step.
//
// Per row (the vLLM v1 order, runtime/sampler.h):
//   y = x with -inf where the row's allowed bitmask forbids a token (structured output);
//   y[id] of every penalty token: repetition (ids in the prompt or the output: y > 0 ? y / r : y · r),
//     then presence / frequency (ids in the output: y -= presence + frequency · count);
//   y[id] = -inf for the mask ids (EOS / stop ids under min_tokens, EOS under ignore_eos);
//   greedy (temperature 0): id = argmax y (the first maximum, as std::max_element);
//   sampled: p = softmax(y / T) (normalizer in double), min-p, then top-k and top-p over p in
//     descending order (ties: lower id first), renormalized (double), and id = inverse CDF in
//     vocabulary order at u · total with the host's uniform u in [0, 1);
//   logprobs >= 0: logprob = log_softmax(x)[id] of the raw logits, plus the top-N raw tokens
//     (N = logprobs, most likely first, ties: lower id first).
// A row that cannot be sampled reports a status instead of a token (the host turns it into the
// same dsv4::Error the CPU sampler always threw).
//
// Every pointer of SampleArgs is in backend memory. The CPU backend implements it with the
// reference loops of backends/cpu/cpu_sample.h; CUDA with one launch, a block per row
// (backends/cuda/sm90/sample/).
#pragma once

#include <cstdint>

namespace dsv4 {

constexpr int kMaxTopLogprobs = 20;  // SamplingParams::logprobs <= 20

// One token of a row's penalty list (CSR: a row owns penalties[penalty_begin, penalty_end)). Ids
// are distinct within a row and < V.
struct PenaltyToken {
  int32_t id = 0;
  int32_t output_count = 0;  // occurrences in the output (presence / frequency; repetition if > 0)
  int32_t in_prompt = 0;     // 1: the prompt has it (repetition)
};

struct SampleRowParams {
  int32_t logit_row = 0;     // row of SampleArgs::logits, < logit_rows
  float temperature = 0.0f;  // 0 = greedy
  int32_t top_k = 0;         // 0 = off
  float top_p = 1.0f;        // 1 = off
  float min_p = 0.0f;        // 0 = off
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int32_t penalty_begin = 0, penalty_end = 0;  // [begin, end) of SampleArgs::penalties
  int32_t mask_begin = 0, mask_end = 0;        // [begin, end) of SampleArgs::mask_ids
  int32_t allowed_row = -1;  // row of SampleArgs::allowed; -1 = unconstrained
  int32_t logprobs = -1;     // -1 = none; N in [0, 20]: the chosen token's logprob + top-N
  double u = 0.0;            // sampled rows: the request's uniform draw in [0, 1)
};

enum class SampleStatus : int32_t {
  Ok = 0,
  NotFinite = 1,          // sampled row: the max processed logit is not finite (SampledRow::value)
  EmptyFiltered = 2,      // sampled row: the filtered distribution has no mass (a NaN logit included)
  EmptyDistribution = 3,  // sampled row: nothing left to draw from after renormalization
  BadRow = 4,             // the row's parameters point outside the arrays (CUDA; the CPU throws)
};

struct SampledRow {
  int32_t id = 0;
  int32_t status = 0;   // SampleStatus
  float value = 0.0f;   // greedy: the processed logit y[id]; NotFinite: the max processed logit
  float logprob = 0.0f;  // raw log_softmax at id (logprobs >= 0)
  int32_t top_count = 0;
  int32_t top_ids[kMaxTopLogprobs] = {};
  float top_logprobs[kMaxTopLogprobs] = {};
};

inline constexpr int64_t allowed_words(int64_t V) { return (V + 63) / 64; }

struct SampleArgs {
  const float* logits = nullptr;  // [logit_rows, V] fp32
  int64_t logit_rows = 0;
  int64_t V = 0;                  // > 0
  const SampleRowParams* rows = nullptr;  // [R]
  int64_t R = 0;
  const PenaltyToken* penalties = nullptr;  // [penalty_count]
  int64_t penalty_count = 0;
  const int32_t* mask_ids = nullptr;  // [mask_count], each < V
  int64_t mask_count = 0;
  // [allowed_rows, allowed_words(V)]: bit v % 64 of word v / 64 set = token v allowed.
  const uint64_t* allowed = nullptr;
  int64_t allowed_rows = 0;
  SampledRow* out = nullptr;  // [R]
};

}  // namespace dsv4
