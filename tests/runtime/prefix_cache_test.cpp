// Prefix caching and preemption through the engine on golden-a (exact numerics, CPU): a request
// that resumes from cached blocks produces exactly the tokens of one that computes everything
// (greedy, seeded sampling, MTP speculation, chunk sizes that cut blocks anywhere); a cache too
// small for its requests preempts and recomputes without changing any output; no block leaks.
#include <gtest/gtest.h>

#include <memory>
#include <random>

#include "core/error.h"
#include "runtime/engine.h"
#include "support/generation_params.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

const Transformer& golden_model() {
  static const std::unique_ptr<Transformer> m = std::make_unique<Transformer>(test::golden_dir("golden-a"));
  return *m;
}

EngineOptions options(bool prefix, int draft = 0, int64_t step_tokens = 96, int32_t seqs = 4) {
  EngineOptions o;
  o.enable_prefix_caching = prefix;
  o.draft_tokens = draft;
  o.max_tokens_per_step = step_tokens;
  o.max_sequences = seqs;
  o.cache_bytes = 256ull << 20;
  return o;
}

using test::greedy;

SamplingParams seeded(int max_tokens, uint64_t seed) {
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  p.seed = seed;
  return p;
}

std::vector<int32_t> random_tokens(std::mt19937_64& rng, int64_t n) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& t : ids) t = int32_t(rng() % 2048);
  return ids;
}

void expect_no_leak(Engine& e) {
  const CacheManager& mgr = e.cache().manager;
  EXPECT_EQ(mgr.sequence_count(), 0u);
  e.reset_prefix_cache();
  for (size_t p = 0; p < mgr.pool_count(); ++p) EXPECT_EQ(mgr.pool(p).used_blocks(), 0) << mgr.pool(p).name();
}

// Requests sharing prefixes of several lengths (inside a block, on a boundary, several blocks),
// run one after another so that the later ones hit; outputs equal those of an engine without a
// prefix cache.
void check_hits_equal_misses(int draft, int64_t step_tokens, bool sample) {
  const uint64_t seed = test::fresh_seed("PrefixCache.HitEqualsMiss");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const std::vector<int32_t> shared = random_tokens(rng, 420);
  std::vector<GenerationRequest> reqs;
  for (int64_t keep : {420, 300, 256, 128, 129, 40, 420}) {
    std::vector<int32_t> p(shared.begin(), shared.begin() + keep);
    const std::vector<int32_t> tail = random_tokens(rng, int64_t(rng() % 70));
    p.insert(p.end(), tail.begin(), tail.end());
    reqs.push_back({p, sample ? seeded(6, rng()) : greedy(6)});
  }
  reqs.push_back({std::vector<int32_t>(shared.begin(), shared.begin() + 384), greedy(5)});  // a whole-block prompt
  Engine cached(golden_model(), options(true, draft, step_tokens));
  Engine plain(golden_model(), options(false, draft, step_tokens));
  int64_t hit = 0;
  for (const GenerationRequest& r : reqs) {  // one at a time: every request after the first can hit
    const auto a = cached.generate({r});
    const auto b = plain.generate({r});
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].ids, b[0].ids) << "prompt of " << r.prompt.size() << " tokens, " << a[0].cached_tokens << " cached";
    EXPECT_EQ(a[0].cached_tokens % 128, 0);
    EXPECT_LT(a[0].cached_tokens, int64_t(r.prompt.size()));
    EXPECT_EQ(b[0].cached_tokens, 0);
    hit += a[0].cached_tokens;
  }
  EXPECT_GE(hit, 3 * 128);
  EXPECT_EQ(cached.stats().prefix_hits, hit);
  EXPECT_GT(cached.stats().prefix_queries, hit);
  EXPECT_EQ(plain.stats().prefix_queries, 0);
  // The same requests all at once (hits on blocks other live requests still hold).
  const auto together = cached.generate(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(together[i].ids, plain.generate({reqs[i]})[0].ids) << i;
  expect_no_leak(cached);
}

TEST(PrefixCache, GreedyHitEqualsMiss) { check_hits_equal_misses(0, 96, false); }
TEST(PrefixCache, SeededSamplingHitEqualsMiss) { check_hits_equal_misses(0, 200, true); }
TEST(PrefixCache, MtpSpeculationHitEqualsMiss) { check_hits_equal_misses(2, 128, false); }

// The cache reports the hit on a repeated prompt, and the longest hit leaves one token to compute.
TEST(PrefixCache, RepeatedPromptHitsAllButTheLastBlock) {
  const uint64_t seed = test::fresh_seed("PrefixCache.Repeat");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Engine e(golden_model(), options(true, 0, 512));
  const GenerationRequest r{random_tokens(rng, 512), greedy(3)};
  const auto a = e.generate({r});
  const auto b = e.generate({r});
  EXPECT_EQ(a[0].cached_tokens, 0);
  EXPECT_EQ(b[0].cached_tokens, 384);  // 512 − 1 rounded down to a block
  EXPECT_EQ(a[0].ids, b[0].ids);
  expect_no_leak(e);
}

// A cache of a few compressed blocks for requests that grow past it together: the youngest is
// preempted and recomputed, every output equals the one computed alone, and nothing leaks.
void check_preemption(bool prefix, int draft) {
  const uint64_t seed = test::fresh_seed("PrefixCache.Preemption");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Transformer& model = golden_model();
  const CacheLayout layout = CacheLayout::from_config(model.config(), CacheFormat::Reference, prefix);
  EngineOptions o = options(prefix, draft, 64, 3);
  // The smallest budget with 6 compressed blocks per pool (each request alone needs up to 3).
  uint64_t lo = cache_bytes_for(layout, 128, 3), hi = lo * 64;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (plan_cache(layout, mid, 3).pool_blocks[1] >= 6) hi = mid; else lo = mid + 1;
  }
  o.cache_bytes = lo;
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 4; ++i) {
    const int64_t len = 100 + int64_t(rng() % 100);
    // Seeded sampling is preemption-invariant without speculation (the recompute draws the one
    // uniform the decode step would); speculative sampling draws per verify step, so with drafts
    // the requests are greedy.
    const bool sample = draft == 0 && i % 2 == 1;
    reqs.push_back({random_tokens(rng, len), sample ? seeded(300 - int(len), rng()) : greedy(300 - int(len))});
  }
  Engine small(model, o);
  ASSERT_EQ(small.cache().manager.pool(1).capacity(), 6);
  const auto got = small.generate(reqs);
  Engine roomy(model, options(false, draft, 64, 1));
  ASSERT_EQ(got.size(), reqs.size());
  int64_t preemptions = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(got[i].ids, roomy.generate({reqs[i]})[0].ids) << i;
    preemptions += got[i].preemptions;
  }
  EXPECT_GT(preemptions, 0);
  EXPECT_EQ(small.stats().preemptions, preemptions);
  expect_no_leak(small);
}

TEST(Preemption, RecomputeEqualsNoPreemption) { check_preemption(false, 0); }
TEST(Preemption, WithPrefixCachingAndMtp) { check_preemption(true, 2); }

}  // namespace
}  // namespace dsv4
