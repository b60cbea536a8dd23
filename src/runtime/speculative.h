// Verifying drafted tokens against the target model (speculative decoding).
//
// Greedy requests accept a draft while it equals the target's argmax. Sampled requests use the
// standard rejection scheme (Leviathan et al. 2023; Chen et al. 2023), which leaves the output
// distributed exactly as the target: draft x_i ~ q_i is accepted with probability
// min(1, p_i(x_i) / q_i(x_i)); at the first rejection the replacement is drawn from
// normalize(max(0, p_i - q_i)); when all k drafts are accepted a bonus token is drawn from p_k.
// p_i and q_i are the processed distributions (sampling_distribution) of target and draft.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/sampler.h"

namespace dsv4 {

struct VerifyResult {
  int accepted = 0;              // drafts kept (a prefix of the k drafts)
  std::vector<int32_t> tokens;   // the accepted drafts followed by one more token (accepted + 1 tokens)
};

// Greedy: target_logits[i] are the target's (penalized) logits after the prefix + drafts[0..i),
// i = 0..k. A draft is accepted while it equals the argmax.
VerifyResult verify_greedy(std::span<const std::vector<float>> target_logits, std::span<const int32_t> drafts);
// The same from the argmax of each target row (best[i], i = 0..k: the sampling op's greedy ids).
VerifyResult verify_greedy_ids(std::span<const int32_t> best, std::span<const int32_t> drafts);

// Sampled: target_probs[i] (i = 0..k) and draft_probs[i] (i = 0..k-1) are full distributions.
VerifyResult verify_sampled(std::span<const std::vector<float>> target_probs,
                            std::span<const std::vector<float>> draft_probs, std::span<const int32_t> drafts,
                            RandomStream& stream);

}  // namespace dsv4
