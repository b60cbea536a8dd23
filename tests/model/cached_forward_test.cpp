// The cached, chunked, batched forward against the one-shot prefill (golden-a model, exact
// numerics): random prompts up to ~700 tokens, random chunkings (lengths on and around 4, 128
// and the window), pure decode; batch independence; the reference's decode-path logits and
// greedy continuations through the real decode path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "cache/paged_kv_cache.h"
#include "golden_support.h"
#include "support/test_support.h"

namespace dsv4::test {
namespace {

constexpr uint64_t kBudget = 512ull << 20;

// Chunk lengths of any size at any position: boundary sizes, up to a block, and long chunks after
// position 0 (their window of the start comes from blocks CacheManager keeps through the extension).
std::vector<int64_t> random_chunks(std::mt19937_64& rng, int64_t L) {
  static const int64_t interesting[] = {1, 1, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 63, 64, 65, 127, 128};
  std::vector<int64_t> chunks;
  int64_t done = 0;
  while (done < L) {
    int64_t c;
    if (done == 0 && rng() % 2 == 0) {
      c = 1 + int64_t(rng() % uint64_t(std::min<int64_t>(L, 300)));
    } else if (rng() % 5 == 0) {
      c = 129 + int64_t(rng() % 400);
    } else if (rng() % 3 == 0) {
      c = 1 + int64_t(rng() % 128);
    } else {
      c = interesting[rng() % std::size(interesting)];
    }
    c = std::min(c, L - done);
    chunks.push_back(c);
    done += c;
  }
  return chunks;
}

// Runs `ids` through the cache in the given chunks; returns logits of every position.
Floats run_chunked(const Transformer& model, Cache& cache, SequenceId seq, const std::vector<int64_t>& ids,
                   const std::vector<int64_t>& chunks, const ForwardOptions& opts = {}) {
  const int64_t V = model.config().vocab_size;
  Floats out;
  int64_t p0 = 0;
  for (int64_t c : chunks) {
    if (p0 == 0) cache.manager.admit(seq, c); else cache.manager.extend(seq, p0 + c);
    Segment s{seq, p0, std::vector<int64_t>(ids.begin() + p0, ids.begin() + p0 + c), true};
    const BatchResult r = model.forward({s}, cache.storage, opts);
    EXPECT_EQ(int64_t(r.logits.size()), c * V);
    out.insert(out.end(), r.logits.begin(), r.logits.end());
    p0 += c;
  }
  cache.manager.release(seq);
  return out;
}

std::string chunk_str(const std::vector<int64_t>& chunks) {
  std::string s;
  for (size_t i = 0; i < chunks.size() && i < 40; ++i) s += std::to_string(chunks[i]) + " ";
  if (chunks.size() > 40) s += "... (" + std::to_string(chunks.size()) + " chunks)";
  return s;
}

// max |a - b| / max |b|
double rel_diff(const Floats& a, const Floats& b) {
  double md = 0, mr = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    md = std::max(md, std::fabs(double(a[i]) - double(b[i])));
    mr = std::max(mr, std::fabs(double(b[i])));
  }
  return md / std::max(mr, 1e-30);
}

TEST(CachedForward, RandomChunkingsEqualOneShotPrefill) {
  const uint64_t seed = fresh_seed("CachedForward.RandomChunkings");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Transformer& model = GoldenA::get().model();
  const int64_t V = model.config().vocab_size;
  Cache cache(model.config(), kBudget, 4);
  // Lengths on and around the 4-token, 128-token / window boundaries, plus random ones.
  std::vector<int64_t> lengths = {1, 3, 4, 5, 127, 128, 129, 257, int64_t(200 + rng() % 500)};
  for (int64_t L : lengths) {
    std::vector<int64_t> ids(static_cast<size_t>(L));
    for (auto& t : ids) t = int64_t(rng() % uint64_t(V));
    const PrefillResult ref = model.prefill(ids);
    const std::vector<int64_t> chunks = random_chunks(rng, L);
    const Floats got = run_chunked(model, cache, 1, ids, chunks);
    const double rel = rel_diff(got, ref.logits);
    std::printf("[cached] L=%lld chunks %zu: rel %.3g\n", static_cast<long long>(L), chunks.size(), rel);
    EXPECT_LE(rel, 1e-5) << "L=" << L << " chunks: " << chunk_str(chunks);
  }
}

// Official numerics quantize per token / per vector, so chunking must not change them either.
TEST(CachedForward, OfficialNumericsChunkedEqualsOneShot) {
  const uint64_t seed = fresh_seed("CachedForward.Official");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Transformer& model = GoldenA::get().model();
  const int64_t V = model.config().vocab_size;
  Cache cache(model.config(), kBudget, 4);
  ForwardOptions opts;
  opts.numerics = Numerics::Official;
  const int64_t L = 130 + int64_t(rng() % 140);
  std::vector<int64_t> ids(static_cast<size_t>(L));
  for (auto& t : ids) t = int64_t(rng() % uint64_t(V));
  const PrefillResult ref = model.prefill(ids, opts);
  const std::vector<int64_t> chunks = random_chunks(rng, L);
  const double rel = rel_diff(run_chunked(model, cache, 3, ids, chunks, opts), ref.logits);
  std::printf("[cached] official L=%lld chunks %zu: rel %.3g\n", static_cast<long long>(L), chunks.size(), rel);
  EXPECT_LE(rel, 1e-5) << chunk_str(chunks);
}

TEST(CachedForward, PureDecodeAcrossBoundariesEqualsPrefill) {
  const uint64_t seed = fresh_seed("CachedForward.PureDecode");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Transformer& model = GoldenA::get().model();
  const int64_t V = model.config().vocab_size;
  Cache cache(model.config(), kBudget, 4);
  const int64_t L = 260 + int64_t(rng() % 20);  // crosses 128, 256 and many 4-boundaries
  std::vector<int64_t> ids(static_cast<size_t>(L));
  for (auto& t : ids) t = int64_t(rng() % uint64_t(V));
  const PrefillResult ref = model.prefill(ids);
  const Floats got = run_chunked(model, cache, 7, ids, std::vector<int64_t>(size_t(L), 1));
  const double rel = rel_diff(got, ref.logits);
  std::printf("[cached] pure decode L=%lld: rel %.3g\n", static_cast<long long>(L), rel);
  EXPECT_LE(rel, 1e-5);
}

TEST(CachedForward, SequenceLogitsDoNotDependOnTheBatch) {
  const uint64_t seed = fresh_seed("CachedForward.BatchIndependence");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Transformer& model = GoldenA::get().model();
  const int64_t V = model.config().vocab_size;
  Cache cache(model.config(), kBudget, 4);
  const int nseq = 3;
  std::vector<std::vector<int64_t>> ids(nseq), chunks(nseq);
  std::vector<Floats> alone(nseq), batched(nseq);
  for (int s = 0; s < nseq; ++s) {
    const int64_t L = 20 + int64_t(rng() % 250);
    for (int64_t t = 0; t < L; ++t) ids[size_t(s)].push_back(int64_t(rng() % uint64_t(V)));
    chunks[size_t(s)] = random_chunks(rng, L);
    alone[size_t(s)] = run_chunked(model, cache, 10 + s, ids[size_t(s)], chunks[size_t(s)]);
  }
  // All three together: step i runs chunk i of every sequence that still has one.
  std::vector<int64_t> pos(nseq, 0);
  for (size_t step = 0;; ++step) {
    std::vector<Segment> segs;
    std::vector<int> who;
    for (int s = 0; s < nseq; ++s) {
      if (step >= chunks[size_t(s)].size()) continue;
      const int64_t c = chunks[size_t(s)][step], p0 = pos[size_t(s)];
      if (p0 == 0) cache.manager.admit(20 + s, c); else cache.manager.extend(20 + s, p0 + c);
      segs.push_back({20 + s, p0, std::vector<int64_t>(ids[size_t(s)].begin() + p0, ids[size_t(s)].begin() + p0 + c), true});
      who.push_back(s);
      pos[size_t(s)] += c;
    }
    if (segs.empty()) break;
    std::shuffle(segs.begin(), segs.end(), rng);
    const BatchResult r = model.forward(segs, cache.storage);
    for (size_t i = 0; i < segs.size(); ++i) {
      const int s = int(segs[i].seq - 20);
      batched[size_t(s)].insert(batched[size_t(s)].end(), r.logits_of(i, 0, V), r.logits_of(i, 0, V) + r.logit_rows[i] * V);
    }
  }
  for (int s = 0; s < nseq; ++s) {
    ASSERT_EQ(batched[size_t(s)].size(), alone[size_t(s)].size());
    const double rel = rel_diff(batched[size_t(s)], alone[size_t(s)]);
    std::printf("[cached] batched vs alone, sequence %d: rel %.3g\n", s, rel);
    EXPECT_LE(rel, 1e-6) << "sequence " << s;
  }
}

TEST(CachedForward, OnlyLastLogitsAreTheLastRow) {
  const Transformer& model = GoldenA::get().model();
  const int64_t V = model.config().vocab_size;
  Cache cache(model.config(), kBudget, 2);
  const std::vector<int64_t> ids = GoldenA::get().prompt("p0");
  cache.manager.admit(1, int64_t(ids.size()));
  const BatchResult r = model.forward({{1, 0, ids, false}}, cache.storage);
  ASSERT_EQ(int64_t(r.logits.size()), V);
  const PrefillResult& ref = GoldenA::get().prefill("p0");
  const Floats last(ref.logits.end() - V, ref.logits.end());
  EXPECT_LE(rel_diff(r.logits, last), 1e-5);
}

// Reference decode path: prefill of decode_prefill_length tokens, then one token per call.
class CachedGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(CachedGolden, DecodeLogitsMatchTheReference) {
  GoldenA& g = GoldenA::get();
  const std::string p = GetParam();
  const Transformer& model = g.model();
  const int64_t V = model.config().vocab_size;
  const std::vector<int64_t>& ids = g.prompt(p);
  const Expected pos = g.tensor("positions_decode/" + p);
  const Expected want = g.tensor("logits_fp32_decode/" + p);
  const int64_t first = int64_t(pos.values.front());  // = decode_prefill_length
  Cache cache(model.config(), kBudget, 2);
  cache.manager.admit(1, first);
  model.forward({{1, 0, std::vector<int64_t>(ids.begin(), ids.begin() + first), false}}, cache.storage);
  size_t row = 0;
  double max_abs = 0;
  int argmax_ok = 0;
  for (int64_t t = first; t < int64_t(ids.size()); ++t) {
    cache.manager.extend(1, t + 1);
    const BatchResult r = model.forward({{1, t, {ids[size_t(t)]}, true}}, cache.storage);
    if (row < pos.values.size() && int64_t(pos.values[row]) == t) {
      const float* w = want.values.data() + row * size_t(V);
      for (int64_t v = 0; v < V; ++v) max_abs = std::max(max_abs, std::fabs(double(r.logits[size_t(v)]) - double(w[v])));
      argmax_ok += argmax(r.logits.data(), V) == argmax(w, V) ? 1 : 0;
      ++row;
    }
  }
  ASSERT_EQ(row, pos.values.size());
  std::printf("[golden] decode path %s: max|d| %.3g argmax %d/%zu\n", p.c_str(), max_abs, argmax_ok, row);
  EXPECT_LE(max_abs, 1e-4);
  EXPECT_EQ(size_t(argmax_ok), row);
}

TEST_P(CachedGolden, GreedyContinuationThroughTheDecodePath) {
  GoldenA& g = GoldenA::get();
  const std::string p = GetParam();
  const Transformer& model = g.model();
  const int64_t V = model.config().vocab_size;
  std::vector<int64_t> ids = g.prompt(p);
  const Expected e = g.tensor("greedy/" + p);
  Cache cache(model.config(), kBudget, 2);
  cache.manager.admit(1, int64_t(ids.size()));
  BatchResult r = model.forward({{1, 0, ids, false}}, cache.storage);
  std::vector<int64_t> got;
  for (size_t s = 0; s < e.values.size(); ++s) {
    const int64_t next = argmax(r.logits.data(), V);
    got.push_back(next);
    const int64_t t = int64_t(ids.size());
    ids.push_back(next);
    cache.manager.extend(1, t + 1);
    r = model.forward({{1, t, {next}, false}}, cache.storage);
  }
  EXPECT_EQ(got, std::vector<int64_t>(e.values.begin(), e.values.end()));
}

INSTANTIATE_TEST_SUITE_P(Prompts, CachedGolden, ::testing::Values("p0", "p1", "p2"));

}  // namespace
}  // namespace dsv4::test

namespace dsv4::test {
namespace {

// The MTP block over its window cache, fed in random chunks, equals the one-shot MTP pass and
// the reference's mtp_logits.
TEST(CachedForward, MtpOverTheCacheMatchesOneShotAndReference) {
  const uint64_t seed = fresh_seed("CachedForward.Mtp");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  GoldenA& g = GoldenA::get();
  const Transformer& model = g.model();
  const int64_t V = model.config().vocab_size, nd = model.config().hc_mult * model.config().hidden_size;
  for (const std::string p : {"p0", "p1"}) {
    const std::vector<int64_t>& ids = g.prompt(p);
    const PrefillResult& main = g.prefill(p);
    const Floats once = model.mtp_logits(main.streams, ids);
    const int64_t T = int64_t(ids.size()) - 1;
    Cache cache(model.config(), kBudget, 2);
    cache.manager.admit(1, T);
    Floats got;
    for (int64_t p0 = 0; p0 < T;) {
      const int64_t c = std::min<int64_t>(T - p0, p0 == 0 ? 1 + int64_t(rng() % 140) : 1 + int64_t(rng() % 9));
      MtpSegment m{1, p0, Floats(main.streams.begin() + p0 * nd, main.streams.begin() + (p0 + c) * nd),
                   std::vector<int64_t>(ids.begin() + p0 + 1, ids.begin() + p0 + c + 1)};
      const BatchResult r = model.mtp_forward({m}, cache.storage);
      got.insert(got.end(), r.logits.begin(), r.logits.end());
      p0 += c;
    }
    EXPECT_LE(rel_diff(got, once), 1e-5) << p;
    const Expected pos = g.tensor("positions_mtp/" + p), want = g.tensor("mtp_logits_fp32/" + p);
    double max_abs = 0;
    for (size_t r = 0; r < pos.values.size(); ++r)
      for (int64_t v = 0; v < V; ++v)
        max_abs = std::max(max_abs, std::fabs(double(got[size_t(int64_t(pos.values[r]) * V + v)]) -
                                              double(want.values[r * size_t(V) + size_t(v)])));
    std::printf("[golden] mtp over the cache %s: max|d| %.3g\n", p.c_str(), max_abs);
    EXPECT_LE(max_abs, 1e-4) << p;
  }
}

}  // namespace
}  // namespace dsv4::test
