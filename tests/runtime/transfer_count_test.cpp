// Host <-> backend traffic of the engine's steps (issue 8: within a step, one upload of its
// metadata and one download of the sampled tokens). The model runs on the CPU backend wrapped in
// ProfilingOps, which counts every Ops::upload and Ops::download call (the CPU's memory is the
// host, but the engine still moves its data through those entries, so the count is the one a
// device sees): a plain decode step is one forward call, a greedy MTP speculative step with k
// drafts is k + 1 calls (each draft's input token is the previous draft), and every call has
// exactly one upload (its plan with the sampling rows) and one download (the sampled tokens).
// The MTP's streams never cross: no download of streams, no upload of them.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "backends/ops.h"
#include "runtime/engine.h"
#include "runtime/profiling_ops.h"
#include "support/generation_params.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

struct CountedModel {
  ProfilingOps ops{cpu_ops()};
  std::unique_ptr<Transformer> model;
  static CountedModel& get() {
    static CountedModel m;
    return m;
  }
  int64_t calls(const char* op) const {
    const auto it = ops.stats().find(op);
    return it == ops.stats().end() ? 0 : it->second.calls;
  }
  void start_counting() {
    ops.reset();
    ops.enable(true);
  }

 private:
  CountedModel() { model = std::make_unique<Transformer>(test::golden_dir("golden-a"), &ops); }
};

EngineOptions options(int draft) {
  EngineOptions o;
  o.draft_tokens = draft;
  o.max_tokens_per_step = 256;
  o.max_sequences = 4;
  o.cache_bytes = 256ull << 20;
  return o;
}

using test::greedy;

SamplingParams sampled(int max_tokens, uint64_t seed) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_k = 40;
  p.top_p = 0.9f;
  p.repetition_penalty = 1.1f;
  p.presence_penalty = 0.2f;
  p.logprobs = 2;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  p.seed = seed;
  return p;
}

std::vector<int32_t> random_prompt(std::mt19937_64& rng, int64_t len) {
  std::vector<int32_t> ids(static_cast<size_t>(len));
  for (auto& t : ids) t = int32_t(rng() % 2048);
  return ids;
}

TEST(Transfers, PlainDecodeStepIsOneUploadAndOneDownload) {
  const uint64_t seed = test::fresh_seed("Transfers.PlainDecode");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  CountedModel& m = CountedModel::get();
  Engine engine(*m.model, options(0));
  engine.submit({random_prompt(rng, 1 + int64_t(rng() % 60)), greedy(8)});
  engine.submit({random_prompt(rng, 1 + int64_t(rng() % 60)), sampled(8, rng())});
  engine.submit({random_prompt(rng, 1 + int64_t(rng() % 60)), greedy(8)});
  // Step 1 prefills every prompt (they fit the step's budget) and samples each one's first token.
  m.start_counting();
  ASSERT_TRUE(engine.step());
  EXPECT_EQ(m.calls("upload"), 1);
  EXPECT_EQ(m.calls("download"), 1);
  for (int step = 0; step < 6; ++step) {
    ASSERT_EQ(engine.live_sequences(), 3);
    m.start_counting();
    ASSERT_TRUE(engine.step());
    EXPECT_EQ(m.calls("upload"), 1) << "decode step " << step;
    EXPECT_EQ(m.calls("download"), 1) << "decode step " << step;
  }
  m.ops.enable(false);
  const auto results = engine.run();
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) EXPECT_EQ(r.ids.size(), 8u);
}

TEST(Transfers, MtpSpeculativeStepIsOneUploadAndOneDownloadPerCall) {
  const uint64_t seed = test::fresh_seed("Transfers.MtpDecode");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  CountedModel& m = CountedModel::get();
  std::vector<GenerationRequest> reqs;
  for (int r = 0; r < 3; ++r) reqs.push_back({random_prompt(rng, 1 + int64_t(rng() % 60)), greedy(40)});
  Engine plain(*m.model, options(0));
  const auto want = plain.generate(reqs);
  for (int k : {1, 2, 4}) {
    SCOPED_TRACE(::testing::Message() << "k=" << k);
    Engine engine(*m.model, options(k));
    for (const auto& r : reqs) engine.submit(r);
    // Step 1: the prefill (one upload, the first tokens' download), then the MTP catching up on
    // the prompts (its plan only: its streams are the main model's, still in backend memory).
    m.start_counting();
    ASSERT_TRUE(engine.step());
    EXPECT_EQ(m.calls("upload"), 2);
    EXPECT_EQ(m.calls("download"), 1);
    // Speculative steps: k MTP calls (each: plan + its greedy draft rows up, the drafts down),
    // then the verification (plan + k+1 rows per sequence up, the verified tokens down).
    for (int step = 0; step < 4; ++step) {
      ASSERT_EQ(engine.live_sequences(), 3);
      m.start_counting();
      ASSERT_TRUE(engine.step());
      EXPECT_EQ(m.calls("upload"), k + 1) << "speculative step " << step;
      EXPECT_EQ(m.calls("download"), k + 1) << "speculative step " << step;
      EXPECT_EQ(m.calls("sample"), k + 1) << "speculative step " << step;
    }
    m.ops.enable(false);
    const auto got = engine.run();
    ASSERT_EQ(got.size(), reqs.size());
    for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(got[i].ids, want[i].ids) << "request " << i;
  }
}

}  // namespace
}  // namespace dsv4
