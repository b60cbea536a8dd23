#include "runtime/speculative.h"

#include <algorithm>

#include "core/error.h"

namespace dsv4 {

namespace {

void check_shapes(size_t targets, size_t drafts, size_t draft_dists) {
  if (targets != drafts + 1)
    fail("speculative verify: {} target distributions for {} drafts (need drafts + 1)", targets, drafts);
  if (draft_dists != drafts && draft_dists != size_t(-1))
    fail("speculative verify: {} draft distributions for {} drafts", draft_dists, drafts);
}

}  // namespace

VerifyResult verify_greedy(std::span<const std::vector<float>> target_logits, std::span<const int32_t> drafts) {
  check_shapes(target_logits.size(), drafts.size(), size_t(-1));
  std::vector<int32_t> best;
  for (const auto& l : target_logits) best.push_back(int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
  return verify_greedy_ids(best, drafts);
}

VerifyResult verify_greedy_ids(std::span<const int32_t> best, std::span<const int32_t> drafts) {
  check_shapes(best.size(), drafts.size(), size_t(-1));
  VerifyResult r;
  for (size_t i = 0; i <= drafts.size(); ++i) {
    r.tokens.push_back(best[i]);
    if (i == drafts.size() || drafts[i] != best[i]) break;
    ++r.accepted;
  }
  return r;
}

VerifyResult verify_sampled(std::span<const std::vector<float>> target_probs,
                            std::span<const std::vector<float>> draft_probs, std::span<const int32_t> drafts,
                            RandomStream& stream) {
  check_shapes(target_probs.size(), drafts.size(), draft_probs.size());
  VerifyResult r;
  for (size_t i = 0; i < drafts.size(); ++i) {
    const auto& p = target_probs[i];
    const auto& q = draft_probs[i];
    if (p.size() != q.size()) fail("speculative verify: vocabulary sizes differ ({} vs {})", p.size(), q.size());
    const int32_t x = drafts[i];
    if (x < 0 || size_t(x) >= p.size()) fail("speculative verify: draft token {} outside the vocabulary", x);
    const double px = double(p[size_t(x)]), qx = double(q[size_t(x)]);
    const double u = stream.uniform();
    if (qx > 0.0 && u * qx < px) {  // accept with probability min(1, p/q)
      r.tokens.push_back(x);
      ++r.accepted;
      continue;
    }
    std::vector<float> residual(p.size());
    double mass = 0.0;
    for (size_t v = 0; v < p.size(); ++v) {
      residual[v] = std::max(0.0f, p[v] - q[v]);
      mass += double(residual[v]);
    }
    // p == q exactly leaves no residual mass; the rejection then had probability 0 except by
    // rounding, and p itself is the right distribution.
    r.tokens.push_back(sample_from(mass > 0.0 ? std::span<const float>(residual) : std::span<const float>(p),
                                   stream.uniform()));
    return r;
  }
  r.tokens.push_back(sample_from(target_probs.back(), stream.uniform()));
  return r;
}

}  // namespace dsv4
