// The generation engine on golden-a (exact numerics): greedy continuations through the real
// decode path match the reference; continuous batching and chunked prefill do not change
// outputs; MTP speculative decoding is token-identical to plain decoding under greedy sampling
// (k = 1..4, acceptance reported) and preserves the target distribution under random sampling
// (chi-square on the exact joint distribution of two tokens); stop conditions, logprobs,
// per-request seeds, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "runtime/engine.h"
#include "support/generation_params.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

struct Golden {
  std::unique_ptr<Transformer> model;
  std::map<std::string, std::vector<int32_t>> prompts, greedy;
  static Golden& get() {
    static Golden g;
    return g;
  }

 private:
  Golden() {
    const std::string dir = test::golden_dir("golden-a");
    model = std::make_unique<Transformer>(dir);
    std::ifstream in(dir + "/expected.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& p : j.at("prompts")) {
      prompts[p.at("name")] = p.at("token_ids").get<std::vector<int32_t>>();
      greedy[p.at("name")] = p.at("greedy_tokens").get<std::vector<int32_t>>();
    }
  }
};

EngineOptions options(int draft = 0, int64_t step_tokens = 256, int32_t seqs = 8) {
  EngineOptions o;
  o.draft_tokens = draft;
  o.max_tokens_per_step = step_tokens;
  o.max_sequences = seqs;
  o.cache_bytes = 256ull << 20;
  return o;
}

using test::greedy;

std::vector<int32_t> random_prompt(std::mt19937_64& rng, int64_t len) {
  std::vector<int32_t> ids(static_cast<size_t>(len));
  for (auto& t : ids) t = int32_t(rng() % 2048);
  return ids;
}

TEST(Engine, GreedyMatchesTheReferenceWithBatchingAndChunkedPrefill) {
  Golden& g = Golden::get();
  Engine engine(*g.model, options(0, 200));  // p1, p2 prefill in several chunks beside decoding
  std::vector<GenerationRequest> reqs;
  for (const char* p : {"p0", "p1", "p2"}) reqs.push_back({g.prompts[p], greedy(24)});
  const auto results = engine.generate(reqs);
  ASSERT_EQ(results.size(), 3u);
  int i = 0;
  for (const char* p : {"p0", "p1", "p2"}) {
    EXPECT_EQ(results[size_t(i)].ids, g.greedy[p]) << p;
    EXPECT_EQ(results[size_t(i)].finish, FinishReason::Length);
    std::printf("[engine] %s: prompt %.1f tok/s, decode %.1f tok/s\n", p, results[size_t(i)].prompt_tokens_per_s,
                results[size_t(i)].decode_tokens_per_s);
    ++i;
  }
  EXPECT_EQ(engine.live_sequences(), 0);
  EXPECT_EQ(engine.cache().manager.sequence_count(), 0u);
}

// Drafts from the known plain-greedy continuation, corrupted at random: every acceptance count
// 0..k occurs, so the rollback of every cache part is exercised.
TEST(Engine, SpeculativeGreedyWithOracleDraftsRollsBackExactly) {
  const uint64_t seed = test::fresh_seed("Engine.OracleDrafts");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Golden& g = Golden::get();
  std::vector<GenerationRequest> reqs = {{g.prompts["p1"], greedy(24)}};
  for (int r = 0; r < 2; ++r) reqs.push_back({random_prompt(rng, 1 + int64_t(rng() % 300)), greedy(40)});
  Engine plain(*g.model, options(0));
  const auto want = plain.generate(reqs);
  EXPECT_EQ(want[0].ids, g.greedy["p1"]);
  for (int k = 1; k <= 4; ++k) {
    EngineOptions o = options(k);
    std::mt19937_64 drng(rng());
    o.drafter = [&](uint64_t req, std::span<const int64_t> tokens, int kk) {
      const GenerationRequest& q = reqs[size_t(req - 1)];
      const std::vector<int32_t>& truth = want[size_t(req - 1)].ids;
      std::vector<int32_t> d;
      for (size_t i = tokens.size() - q.prompt.size(); int(d.size()) < kk && i < truth.size(); ++i)
        d.push_back(drng() % 4 == 0 ? int32_t(drng() % 2048) : truth[i]);
      return d;
    };
    Engine spec(*g.model, o);
    const auto got = spec.generate(reqs);
    int64_t drafted = 0, accepted = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(got[i].ids, want[i].ids) << "k=" << k << " request " << i;
      drafted += got[i].drafted;
      accepted += got[i].accepted;
    }
    std::printf("[engine] oracle k=%d: drafted %lld accepted %lld\n", k, static_cast<long long>(drafted),
                static_cast<long long>(accepted));
    EXPECT_GT(accepted, 0);
    EXPECT_LT(accepted, drafted);
  }
}

// The MTP's first draft of every step pairs the main model's final streams at T-1 with the
// pending token x_T (spec §8.6): it is the argmax of the one-shot MTP pass over the whole
// generated text at row T-1.
TEST(Engine, MtpFirstDraftIsTheOneShotMtpPrediction) {
  Golden& g = Golden::get();
  const Transformer& m = *g.model;
  const int64_t V = m.config().vocab_size;
  const std::vector<int32_t>& prompt = g.prompts["p0"];
  for (int k : {1, 3}) {
    EngineOptions o = options(k);
    o.record_drafts = true;
    Engine spec(m, o);
    const auto r = spec.generate({{prompt, greedy(12)}});
    std::vector<int64_t> text(prompt.begin(), prompt.end());
    text.insert(text.end(), r[0].ids.begin(), r[0].ids.end());
    const PrefillResult main = m.prefill(text);
    const Floats mtp = m.mtp_logits(main.streams, text);  // row t predicts token t+2
    ASSERT_FALSE(r[0].draft_log.empty());
    for (const auto& [T, drafts] : r[0].draft_log) {
      if (drafts.empty()) continue;
      const float* row = mtp.data() + (T - 1) * V;
      const int32_t want = int32_t(std::max_element(row, row + V) - row);
      EXPECT_EQ(drafts[0], want) << "k=" << k << " T=" << T;
    }
  }
}

TEST(Engine, SpeculativeGreedyIsTokenIdenticalToPlainDecoding) {
  const uint64_t seed = test::fresh_seed("Engine.SpeculativeGreedy");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Golden& g = Golden::get();
  std::vector<GenerationRequest> reqs = {{g.prompts["p0"], greedy(24)}};
  for (int r = 0; r < 2; ++r) reqs.push_back({random_prompt(rng, 1 + int64_t(rng() % 150)), greedy(20)});
  Engine plain(*g.model, options(0));
  const auto want = plain.generate(reqs);
  EXPECT_EQ(want[0].ids, g.greedy["p0"]);
  for (int k = 1; k <= 4; ++k) {
    Engine spec(*g.model, options(k));
    const auto got = spec.generate(reqs);
    int64_t drafted = 0, accepted = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(got[i].ids, want[i].ids) << "k=" << k << " request " << i;
      drafted += got[i].drafted;
      accepted += got[i].accepted;
    }
    EXPECT_GT(drafted, 0);
    std::printf("[engine] k=%d: drafted %lld accepted %lld (acceptance %.3f)\n", k, static_cast<long long>(drafted),
                static_cast<long long>(accepted), drafted ? double(accepted) / double(drafted) : 0.0);
  }
}

// Exact joint distribution of the first two sampled tokens (top-k 3, temperature 1) from the
// model's processed distributions, against samples from the speculative engine (k = 2).
TEST(Engine, SpeculativeSamplingPreservesTheTargetDistribution) {
  const uint64_t seed = test::fresh_seed("Engine.SpeculativeSampling");
  DSV4_SEED_TRACE(seed);
  Golden& g = Golden::get();
  const Transformer& m = *g.model;
  const int64_t V = m.config().vocab_size;
  const std::vector<int32_t> prompt(g.prompts["p0"].begin(), g.prompts["p0"].begin() + 12);
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 3;
  p.max_tokens = 3;  // token 2 comes out of the verification of one draft
  p.ignore_eos = true;
  const std::vector<int32_t> eos = {int32_t(m.config().eos_token_id)};

  // Exact: p(t1) from the prompt, p(t2 | t1) from the prompt + t1.
  std::map<std::pair<int32_t, int32_t>, double> exact;
  {
    const std::vector<int64_t> ids(prompt.begin(), prompt.end());
    const PrefillResult r = m.prefill(ids);
    std::vector<float> p1;
    sampling_distribution(std::span<const float>(r.logits.data() + (r.tokens - 1) * V, size_t(V)), p, {prompt, {}}, eos, p1);
    for (int32_t t1 = 0; t1 < V; ++t1) {
      if (p1[size_t(t1)] == 0) continue;
      std::vector<int64_t> ext = ids;
      ext.push_back(t1);
      const PrefillResult r2 = m.prefill(ext);
      std::vector<float> p2;
      const std::vector<int32_t> out = {t1};
      sampling_distribution(std::span<const float>(r2.logits.data() + (r2.tokens - 1) * V, size_t(V)), p, {prompt, out},
                            eos, p2);
      for (int32_t t2 = 0; t2 < V; ++t2)
        if (p2[size_t(t2)] > 0) exact[{t1, t2}] = double(p1[size_t(t1)]) * double(p2[size_t(t2)]);
    }
  }
  // Drafts: the MTP's, or a drafter proposing the smallest token of p(t2 | t1)'s support (often
  // accepted, sometimes rejected).
  for (const bool use_mtp : {true, false}) {
  const int N = 240;
  EngineOptions o = options(2, 4096, 50);
  o.cache_bytes = 1200ull << 20;  // fp32 slots, 50 sequences (pages untouched until written)
  if (!use_mtp)
    o.drafter = [&](uint64_t, std::span<const int64_t> tokens, int k) {
      std::vector<int32_t> d;
      if (k > 0 && tokens.size() == prompt.size() + 1)
        for (const auto& [cell, pr] : exact)
          if (cell.first == tokens.back()) {
            d.push_back(cell.second);
            break;
          }
      return d;
    };
  Engine engine(*g.model, o);
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < N; ++i) {
    GenerationRequest r{prompt, p};
    r.params.seed = seed + uint64_t(i);
    reqs.push_back(r);
  }
  const auto results = engine.generate(reqs);
  std::map<std::pair<int32_t, int32_t>, int> counts;
  int64_t drafted = 0, accepted = 0;
  for (const auto& r : results) {
    ASSERT_EQ(r.ids.size(), 3u);
    ++counts[{r.ids[0], r.ids[1]}];
    drafted += r.drafted;
    accepted += r.accepted;
  }
  for (const auto& [cell, c] : counts) EXPECT_TRUE(exact.count(cell)) << "impossible pair " << cell.first << "," << cell.second;
  double chi2 = 0;
  int df = -1;
  for (const auto& [cell, pr] : exact) {
    const double e = pr * N;
    const double seen = counts.count(cell) ? counts[cell] : 0;
    chi2 += (seen - e) * (seen - e) / e;
    ++df;
  }
  const double crit = df * std::pow(1.0 - 2.0 / (9.0 * df) + 4.753 * std::sqrt(2.0 / (9.0 * df)), 3.0);
  std::printf("[engine] sampled speculation (%s drafts): %zu pairs, chi2 %.1f (df %d, 1e-6 critical %.1f), "
              "acceptance %.3f\n", use_mtp ? "MTP" : "support", exact.size(), chi2, df, crit,
              drafted ? double(accepted) / double(drafted) : 0.0);
  EXPECT_GT(drafted, 0);
  if (!use_mtp) {
    EXPECT_GT(accepted, 0);
  }
  EXPECT_LT(chi2, crit);
  }
}

TEST(Engine, SeededSamplingDoesNotDependOnTheBatch) {
  const uint64_t seed = test::fresh_seed("Engine.SeededSampling");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Golden& g = Golden::get();
  SamplingParams p;
  p.temperature = 0.8f;
  p.top_p = 0.9f;
  p.max_tokens = 8;
  p.seed = seed;
  const GenerationRequest mine{g.prompts["p0"], p};
  Engine alone(*g.model, options(0));
  const auto a = alone.generate({mine});
  std::vector<GenerationRequest> crowd = {{random_prompt(rng, 50), greedy(5)}, mine, {random_prompt(rng, 9), p}};
  crowd[2].params.seed = seed + 1;
  Engine batched(*g.model, options(0, 64));
  const auto b = batched.generate(crowd);
  EXPECT_EQ(b[1].ids, a[0].ids);
  // With speculation the random stream also draws the drafts: other tokens than above, but
  // again the same alone and batched.
  Engine spec_alone(*g.model, options(2));
  const auto c = spec_alone.generate({mine});
  Engine spec_batched(*g.model, options(2, 64));
  const auto d = spec_batched.generate(crowd);
  EXPECT_EQ(d[1].ids, c[0].ids);
}

std::string tag(int32_t id) {
  std::string s(1, '<');
  s.append(std::to_string(id));
  s.push_back('>');
  return s;
}

TEST(Engine, StopTokensStopStringsMinTokensAndLogprobs) {
  Golden& g = Golden::get();
  const std::vector<int32_t>& want = g.greedy["p0"];
  Engine engine(*g.model, [] {
    EngineOptions o = options(0);
    o.detokenize = [](std::span<const int32_t> ids) {
      std::string s;
      for (int32_t id : ids) s += tag(id);
      return s;
    };
    return o;
  }());
  SamplingParams stop_id = greedy(24);
  stop_id.stop_token_ids = {want[5]};
  SamplingParams stop_str = greedy(24);
  stop_str.stop_strings = {tag(want[3]) + tag(want[4])};
  SamplingParams min_tok = greedy(24);
  min_tok.stop_token_ids = {want[0]};
  min_tok.min_tokens = 3;  // the first greedy token is masked until 3 tokens were generated
  SamplingParams lp = greedy(4);
  lp.logprobs = 3;
  std::vector<SampledToken> streamed;
  const auto r = engine.generate({{g.prompts["p0"], stop_id}, {g.prompts["p0"], stop_str}, {g.prompts["p0"], min_tok},
                                  {g.prompts["p0"], lp}},
                                 [&](uint64_t req, const SampledToken& t) {
                                   if (req == 4) streamed.push_back(t);
                                 });
  EXPECT_EQ(r[0].ids, std::vector<int32_t>(want.begin(), want.begin() + 6));
  EXPECT_EQ(r[0].finish, FinishReason::Stop);
  EXPECT_EQ(r[1].ids, std::vector<int32_t>(want.begin(), want.begin() + 5));
  EXPECT_EQ(r[1].finish, FinishReason::Stop);
  EXPECT_EQ(r[1].stop, stop_str.stop_strings[0]);
  EXPECT_NE(r[2].ids.front(), want[0]);
  EXPECT_GE(r[2].ids.size(), 3u);
  EXPECT_EQ(r[3].ids, std::vector<int32_t>(want.begin(), want.begin() + 4));
  EXPECT_EQ(r[3].finish, FinishReason::Length);
  ASSERT_EQ(r[3].tokens.size(), 4u);
  ASSERT_EQ(streamed.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const SampledToken& t = r[3].tokens[i];
    EXPECT_EQ(streamed[i].id, t.id);
    ASSERT_EQ(t.top.size(), 3u);
    EXPECT_EQ(t.top[0].id, t.id);  // greedy: the chosen token is the most likely one
    EXPECT_FLOAT_EQ(t.top[0].logprob, t.logprob);
    EXPECT_LT(t.logprob, 0.0f);
    EXPECT_GE(t.top[0].logprob, t.top[1].logprob);
  }
  // The same logprobs through speculative decoding.
  Engine spec(*g.model, options(3));
  const auto s = spec.generate({{g.prompts["p0"], lp}});
  ASSERT_EQ(s[0].tokens.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(s[0].tokens[i].id, r[3].tokens[i].id);
    EXPECT_NEAR(s[0].tokens[i].logprob, r[3].tokens[i].logprob, 1e-5);
  }
}

TEST(Engine, QueuesRequestsBeyondCapacityAndReleasesOnFinish) {
  const uint64_t seed = test::fresh_seed("Engine.Capacity");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Golden& g = Golden::get();
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 5; ++i) reqs.push_back({random_prompt(rng, 1 + int64_t(rng() % 60)), greedy(3 + int(rng() % 6))});
  Engine one_at_a_time(*g.model, options(0, 64, 1));
  const auto a = one_at_a_time.generate(reqs);
  Engine two(*g.model, options(1, 32, 2));
  const auto b = two.generate(reqs);
  ASSERT_EQ(a.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(a[i].ids.size(), size_t(reqs[i].params.max_tokens));
    EXPECT_EQ(b[i].ids, a[i].ids) << i;
  }
  EXPECT_EQ(two.cache().manager.free_state_slots(), 2);
}

// cancel() frees a live request's blocks and state slot at once, drops a queued one, and leaves
// the other requests' outputs as they would be alone.
TEST(Engine, CancelFreesTheCacheAtOnceAndLeavesOthersUnchanged) {
  Golden& g = Golden::get();
  Engine e(*g.model, options(0, 64, 2));
  std::vector<int> calls(4, 0);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(e.submit({g.prompts.at("p0"), greedy(8)}, [&](uint64_t id, const SampledToken&) { ++calls[id]; }));
  std::vector<int32_t> used0;
  for (size_t p = 0; p < e.cache().manager.pool_count(); ++p) used0.push_back(e.cache().manager.pool(p).used_blocks());
  EXPECT_TRUE(e.is_waiting(ids[2]));
  for (int i = 0; i < 3; ++i) e.step();  // prefill + a few tokens of the first two
  EXPECT_EQ(e.live_sequences(), 2);
  EXPECT_TRUE(e.cancel(ids[0]));
  EXPECT_TRUE(e.cancel(ids[2]));  // still queued
  EXPECT_FALSE(e.cancel(ids[2]));
  EXPECT_FALSE(e.cancel(999));
  EXPECT_EQ(e.live_sequences(), 1);
  EXPECT_EQ(e.waiting_sequences(), 0);
  EXPECT_EQ(e.cache().manager.free_state_slots(), 1);
  const int before = calls[ids[0]];
  const auto results = e.run();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].request, ids[1]);
  EXPECT_EQ(results[0].ids, std::vector<int32_t>(g.greedy.at("p0").begin(), g.greedy.at("p0").begin() + 8));
  EXPECT_EQ(calls[ids[0]], before);
  EXPECT_EQ(calls[ids[2]], 0);
  EXPECT_EQ(e.cache().manager.free_state_slots(), 2);
  for (size_t p = 0; p < e.cache().manager.pool_count(); ++p) EXPECT_EQ(e.cache().manager.pool(p).used_blocks(), used0[p]);
  EXPECT_TRUE(e.take_finished().empty());
}

// A cache whose compressed pools hold only a few blocks: long requests wait for capacity
// instead of failing, and produce what they produce alone.
TEST(Engine, WaitsForCompressedBlocksWhenTheCacheIsSmall) {
  const uint64_t seed = test::fresh_seed("Engine.SmallCache");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  Golden& g = Golden::get();
  const CacheLayout layout = CacheLayout::from_config(g.model->config(), CacheFormat::Reference);
  uint64_t fixed = 2 * layout.state_bytes_per_sequence, per_block = 0;
  for (const auto& pool : layout.pools)
    (pool.name == "window" ? fixed : per_block) += (pool.name == "window" ? kWindowBlocksPerSequence * 2 : 1) * pool.bytes_per_block;
  EngineOptions o = options(0, 96, 2);
  o.cache_bytes = fixed + 5 * per_block;  // 5 blocks of 128 tokens per compressed pool
  std::vector<GenerationRequest> reqs;
  for (int i = 0; i < 3; ++i) reqs.push_back({random_prompt(rng, 300 + int64_t(rng() % 150)), greedy(4)});
  Engine small(*g.model, o);
  EXPECT_EQ(small.cache().manager.pool(1).capacity(), 5);
  const auto got = small.generate(reqs);
  Engine roomy(*g.model, options(0));
  const auto want = roomy.generate(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(got[i].ids, want[i].ids) << i;
  reqs.push_back({random_prompt(rng, 700), greedy(4)});
  EXPECT_THROW(small.submit(reqs.back()), Error);  // can never fit: a clear error, not a hang
}

TEST(Engine, BadRequestsAreClearErrors) {
  Golden& g = Golden::get();
  Engine engine(*g.model, options(0));
  EXPECT_THROW(engine.submit({{}, greedy(4)}), Error);
  EXPECT_THROW(engine.submit({{5, 2048}, greedy(4)}), Error);
  SamplingParams bad = greedy(4);
  bad.top_p = 0;
  EXPECT_THROW(engine.submit({{5}, bad}), Error);
  SamplingParams strs = greedy(4);
  strs.stop_strings = {"x"};
  EXPECT_THROW(engine.submit({{5}, strs}), Error);  // no detokenizer
  EXPECT_THROW(Engine(*g.model, options(5)), Error);
}

}  // namespace
}  // namespace dsv4
