// The reference sampling math (the CPU backend's Ops::sample, backends/sample_ops.h), also used by
// the runtime's host-side sampler (runtime/sampler.h) for single rows and for the full
// distributions that speculative rejection sampling needs. Plain loops; one row at a time.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backends/sample_ops.h"

namespace dsv4::sample_ref {

// y [V] = the processed logits of row P: x with -inf where `allowed` ([allowed_words(V)] or null)
// forbids, the penalties of pen [P.penalty_end - P.penalty_begin] (distinct ids), -inf at the
// mask ids.
void process_logits(std::span<const float> x, const SampleRowParams& P, std::span<const PenaltyToken> pen,
                    std::span<const int32_t> mask, const uint64_t* allowed, std::vector<float>& y);

// The first maximum (std::max_element).
int32_t argmax(std::span<const float> x);

// probs: the processed logits of a sampled row in, its processed distribution out (temperature,
// min-p, top-k, top-p, renormalized; zero outside the kept set). max_logit: the max processed
// logit (reported with NotFinite).
SampleStatus distribution(std::vector<float>& probs, const SampleRowParams& P, float* max_logit);

// Inverse CDF in vocabulary order at u · Σ probs; -1 when no probability is positive.
int32_t sample_from(std::span<const float> probs, double u);

// log_softmax(logits)[id]; the top n (<= kMaxTopLogprobs) into top_ids / top_logprobs.
float raw_logprobs(std::span<const float> logits, int32_t id, int n, int32_t* top_ids, float* top_logprobs);

// Row r of a SampleArgs whose pointers are host pointers; throws dsv4::Error when the row's
// parameters point outside the arrays. scratch: reused between calls.
SampledRow sample_row(const SampleArgs& a, int64_t r, std::vector<float>& scratch);

}  // namespace dsv4::sample_ref
