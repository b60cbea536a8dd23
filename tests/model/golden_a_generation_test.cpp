// golden-a: greedy continuations (repeated full prefill until the engine has a KV cache),
// causality across the window / compression boundaries, and the official numerics' sanity band.
#include <cmath>
#include <cstdlib>

#include "golden_support.h"

namespace dsv4::test {
namespace {

// 24 greedy tokens by re-running the whole prefill after each one.
std::vector<int64_t> greedy_by_prefill(const Transformer& model, std::vector<int64_t> ids, int steps) {
  const int64_t V = model.config().vocab_size;
  std::vector<int64_t> out;
  for (int s = 0; s < steps; ++s) {
    const PrefillResult r = model.prefill(ids);
    const int64_t next = argmax(r.logits.data() + (r.tokens - 1) * V, V);
    out.push_back(next);
    ids.push_back(next);
  }
  return out;
}

std::vector<int64_t> expected_greedy(GoldenA& g, const std::string& p) {
  const Expected e = g.tensor("greedy/" + p);
  return std::vector<int64_t>(e.values.begin(), e.values.end());
}

TEST(GoldenAGreedy, P0TwentyFourTokens) {
  GoldenA& g = GoldenA::get();
  EXPECT_EQ(greedy_by_prefill(g.model(), g.prompt("p0"), 24), expected_greedy(g, "p0"));
}

// The long prompts cost one full prefill per step without a cache: by default only the first
// greedy token (from the cached prefill) is checked; DSV4_SLOW_TESTS=1 runs all 24 steps.
TEST(GoldenAGreedy, LongPromptsFirstTokenOrAllWhenSlow) {
  GoldenA& g = GoldenA::get();
  const bool slow = std::getenv("DSV4_SLOW_TESTS") != nullptr;
  const int64_t V = g.model().config().vocab_size;
  for (const std::string p : {"p1", "p2"}) {
    const std::vector<int64_t> want = expected_greedy(g, p);
    if (slow) {
      EXPECT_EQ(greedy_by_prefill(g.model(), g.prompt(p), 24), want) << p;
    } else {
      const PrefillResult& r = g.prefill(p);
      EXPECT_EQ(argmax(r.logits.data() + (r.tokens - 1) * V, V), want.front()) << p;
    }
  }
}

// Prefill of a prefix gives the same last row as the full prefill at that position, at the
// boundaries of the CSA windows (4), the sliding window (128) and the HCA windows (128): shorter
// than one window, exactly at it, one past it.
TEST(GoldenACausality, PrefixPrefillMatchesFullPrefillAtBoundaries) {
  GoldenA& g = GoldenA::get();
  const std::vector<int64_t>& ids = g.prompt("p1");
  const PrefillResult& full = g.prefill("p1");
  const int64_t V = g.model().config().vocab_size;
  for (int64_t len : {1, 2, 3, 4, 5, 7, 8, 9, 127, 128, 129, 132, 256, 257}) {
    const std::vector<int64_t> prefix(ids.begin(), ids.begin() + len);
    const PrefillResult r = g.model().prefill(prefix);
    const Comparison c = compare(row_of(r.logits, V, len - 1), row_of(full.logits, V, len - 1));
    EXPECT_LE(c.max_abs, 2e-5) << "prefix length " << len;
  }
}

// Official numerics: FP8/FP4 rounding flips make tight comparisons meaningless (golden README
// §4); the quant-sim logits only bound the result loosely, and they must differ from exact.
TEST(GoldenAOfficial, QuantSimLogitsWithinSanityBand) {
  GoldenA& g = GoldenA::get();
  for (const std::string p : {"p0", "p1"}) {
    ForwardOptions opts;
    opts.numerics = Numerics::Official;
    const PrefillResult r = g.model().prefill(g.prompt(p), opts);
    const int64_t V = g.model().config().vocab_size;
    const Expected positions = g.tensor("positions/" + p);
    const Expected want = g.tensor("logits_fp32_qsim_prefill/" + p);
    std::vector<float> got, exact;
    for (float t : positions.values) {
      const auto row = row_of(r.logits, V, int64_t(t));
      got.insert(got.end(), row.begin(), row.end());
      const auto erow = row_of(g.prefill(p).logits, V, int64_t(t));
      exact.insert(exact.end(), erow.begin(), erow.end());
    }
    const Comparison c = compare(got, want.values);
    const Comparison ce = compare(exact, got);
    std::printf("[golden] official %s vs logits_fp32_qsim_prefill: rel_l2 %.3g max|d| %.3g; vs exact rel_l2 %.3g\n",
                p.c_str(), c.rel_l2, c.max_abs, ce.rel_l2);
    EXPECT_LE(c.rel_l2, 0.3) << p;
    EXPECT_GT(ce.rel_l2, 1e-3) << p << ": official numerics changed nothing";
  }
}

}  // namespace
}  // namespace dsv4::test
