// golden-a: causality across the window / compression boundaries, and the official numerics'
// sanity band. (Greedy continuations run through the real decode path: cached_forward_test.cpp.)
#include <cmath>
#include <cstdlib>

#include "golden_support.h"

namespace dsv4::test {
namespace {

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
