// The whole model on the GPU, end to end on golden-a, against the official reference and the CPU
// backend: exact numerics reproduce the reference's logits (prefill, chunked prefill, decode),
// official numerics stay as close to the CPU's official numerics as quantization noise allows,
// greedy continuations through the decode path equal the reference's, MTP speculation is
// lossless, and a sequence's tokens do not depend on its batch. Skips without a GPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "backends/cuda/cuda_ops.h"
#include "cache/paged_kv_cache.h"
#include "cuda_test_support.h"
#include "model/golden_support.h"
#include "runtime/engine.h"
#include "support/test_support.h"

namespace dsv4::test {
namespace {

constexpr uint64_t kBudget = 256ull << 20;

struct Gpu {
  std::unique_ptr<Ops> ops;
  std::unique_ptr<Transformer> model;
  static Gpu& get() {
    static Gpu g;
    return g;
  }

 private:
  Gpu() {
    ops = cuda::make_cuda_ops(0);
    model = std::make_unique<Transformer>(golden_dir("golden-a"), ops.get());
  }
};

CacheFormat format_for(Numerics n) { return n == Numerics::Exact ? CacheFormat::Reference : CacheFormat::Fp8; }

// Logits of every position of `ids` through the cache in `chunks`.
std::vector<float> run_chunked(const Transformer& model, Ops& ops, const std::vector<int64_t>& ids,
                               const std::vector<int64_t>& chunks, Numerics numerics) {
  Cache cache(model.config(), ops, kBudget, 2, ops.host_memory() ? CacheFormat::Reference : format_for(numerics));
  ForwardOptions opts;
  opts.numerics = numerics;
  opts.streams = false;
  std::vector<float> out;
  int64_t p0 = 0;
  for (int64_t c : chunks) {
    if (p0 == 0)
      cache.manager.admit(1, c);
    else
      cache.manager.extend(1, p0 + c);
    const BatchResult r =
        model.forward({{1, p0, std::vector<int64_t>(ids.begin() + p0, ids.begin() + p0 + c), true}}, cache.storage, opts);
    out.insert(out.end(), r.logits.begin(), r.logits.end());
    p0 += c;
  }
  return out;
}

struct RowStats {
  double max_abs = 0, rel_l2 = 0;
  int64_t argmax_ok = 0, rows = 0;
};
RowStats row_stats(const std::vector<float>& got, const std::vector<float>& want, int64_t V) {
  RowStats s;
  const Comparison c = compare(got, want);
  s.max_abs = c.max_abs;
  s.rel_l2 = c.rel_l2;
  s.rows = int64_t(got.size()) / V;
  for (int64_t r = 0; r < s.rows; ++r)
    s.argmax_ok += argmax(got.data() + r * V, V) == argmax(want.data() + r * V, V) ? 1 : 0;
  return s;
}

std::vector<float> pick_rows(const std::vector<float>& all, int64_t V, const Expected& positions) {
  std::vector<float> out;
  for (float p : positions.values) {
    const auto row = row_of(all, V, int64_t(p));
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

class GpuGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(GpuGolden, ExactPrefillAndChunkedPrefillReproduceTheReference) {
  DSV4_REQUIRE_CUDA_DEVICE();
  GoldenA& g = GoldenA::get();
  Gpu& gpu = Gpu::get();
  const std::string p = GetParam();
  const std::vector<int64_t>& ids = g.prompt(p);
  const int64_t V = g.model().config().vocab_size, S = int64_t(ids.size());
  const Expected pos = g.tensor("positions/" + p), want = g.tensor("logits_fp32_prefill/" + p);
  const uint64_t seed = fresh_seed("GpuGolden.chunks");
  std::mt19937_64 rng(seed);
  std::vector<int64_t> chunks;
  for (int64_t done = 0; done < S;) {
    const int64_t c = std::min<int64_t>(S - done, done == 0 ? 1 + int64_t(rng() % 200) : 1 + int64_t(rng() % 128));
    chunks.push_back(c);
    done += c;
  }
  for (const auto& [name, ch] : {std::pair<std::string, std::vector<int64_t>>{"one-shot", {S}}, {"chunked", chunks}}) {
    const std::vector<float> all = run_chunked(*gpu.model, *gpu.ops, ids, ch, Numerics::Exact);
    const RowStats s = row_stats(pick_rows(all, V, pos), want.values, V);
    std::printf("[gpu golden] exact %s %s: max|d| %.3g rel_l2 %.3g argmax %lld/%lld\n", name.c_str(), p.c_str(), s.max_abs,
                s.rel_l2, static_cast<long long>(s.argmax_ok), static_cast<long long>(s.rows));
    EXPECT_LE(s.max_abs, 1e-3) << name;
    EXPECT_EQ(s.argmax_ok, s.rows) << name;
  }
}

TEST_P(GpuGolden, ExactDecodeReproducesTheReference) {
  DSV4_REQUIRE_CUDA_DEVICE();
  GoldenA& g = GoldenA::get();
  Gpu& gpu = Gpu::get();
  const std::string p = GetParam();
  const std::vector<int64_t>& ids = g.prompt(p);
  const int64_t V = g.model().config().vocab_size;
  const Expected pos = g.tensor("positions_decode/" + p), want = g.tensor("logits_fp32_decode/" + p);
  const int64_t first = int64_t(pos.values.front());
  std::vector<int64_t> chunks = {first};
  for (int64_t t = first; t < int64_t(ids.size()); ++t) chunks.push_back(1);
  const std::vector<float> all = run_chunked(*gpu.model, *gpu.ops, ids, chunks, Numerics::Exact);
  const RowStats s = row_stats(pick_rows(all, V, pos), want.values, V);
  std::printf("[gpu golden] exact decode %s: max|d| %.3g argmax %lld/%lld\n", p.c_str(), s.max_abs,
              static_cast<long long>(s.argmax_ok), static_cast<long long>(s.rows));
  EXPECT_LE(s.max_abs, 1e-3);
  EXPECT_EQ(s.argmax_ok, s.rows);
}

// Official numerics: the GPU (FP8 tensor cores, FP8 ds_mla cache) may not be farther from the
// CPU's official numerics than those are from exact numerics on the same prompt.
TEST_P(GpuGolden, OfficialWithinQuantizationNoiseOfTheCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  GoldenA& g = GoldenA::get();
  Gpu& gpu = Gpu::get();
  const std::string p = GetParam();
  const std::vector<int64_t>& ids = g.prompt(p);
  const int64_t V = g.model().config().vocab_size, S = int64_t(ids.size());
  const std::vector<float> gpu_off = run_chunked(*gpu.model, *gpu.ops, ids, {S}, Numerics::Official);
  const std::vector<float> cpu_off = run_chunked(g.model(), cpu_ops(), ids, {S}, Numerics::Official);
  const std::vector<float> cpu_exact = run_chunked(g.model(), cpu_ops(), ids, {S}, Numerics::Exact);
  const RowStats a = row_stats(gpu_off, cpu_off, V), b = row_stats(cpu_off, cpu_exact, V);
  std::printf("[gpu golden] official %s: |gpu-cpu| rel_l2 %.4f argmax %lld/%lld; |cpu official-exact| rel_l2 %.4f argmax %lld/%lld\n",
              p.c_str(), a.rel_l2, static_cast<long long>(a.argmax_ok), static_cast<long long>(a.rows), b.rel_l2,
              static_cast<long long>(b.argmax_ok), static_cast<long long>(b.rows));
  EXPECT_LE(a.rel_l2, b.rel_l2);
  EXPECT_GE(a.argmax_ok, b.argmax_ok);
}

INSTANTIATE_TEST_SUITE_P(Prompts, GpuGolden, ::testing::Values("p0", "p1", "p2"));

// Decode steps replayed from CUDA graphs give bitwise the logits of eager launches, across batch
// sizes that share a bucket (3 sequences padded to 4), across compression boundaries, and after a
// long eager prefill in between (which grows the backend's scratch: the graph must not lose its).
TEST(GpuGraphs, ReplayEqualsEagerBitwise) {
  DSV4_REQUIRE_CUDA_DEVICE();
  GoldenA& g = GoldenA::get();
  Gpu& gpu = Gpu::get();
  const Transformer& model = *gpu.model;
  for (const Numerics numerics : {Numerics::Exact, Numerics::Official}) {
    std::vector<std::vector<float>> logits[2];
    int64_t replays = 0;
    for (int graphs_on = 0; graphs_on < 2; ++graphs_on) {
      Cache cache(model.config(), *gpu.ops, kBudget, 4, format_for(numerics));
      Workspace ws(*gpu.ops);
      StepGraphs graphs(1024);
      ForwardOptions opts;
      opts.numerics = numerics;
      opts.workspace = &ws;
      opts.streams = false;
      std::vector<int64_t> pos;
      for (int s = 0; s < 3; ++s) {
        const std::vector<int64_t>& p = g.prompt("p2");  // 700 tokens
        const int64_t n = 120 + 7 * s;
        cache.manager.admit(s, n);
        model.forward({{s, 0, std::vector<int64_t>(p.begin() + 50 * s, p.begin() + 50 * s + n), false}}, cache.storage,
                      opts);
        pos.push_back(n);
      }
      if (graphs_on) opts.graphs = &graphs;
      for (int step = 0; step < 12; ++step) {
        if (step == 6) {  // a long eager prefill in between grows the backend's scratch buffers
          const std::vector<int64_t>& p = g.prompt("p2");
          cache.manager.admit(3, 600);
          model.forward({{3, 0, std::vector<int64_t>(p.begin(), p.begin() + 600), false}}, cache.storage, opts);
        }
        std::vector<Segment> segs;
        for (int s = 0; s < 3; ++s) {
          cache.manager.extend(s, pos[size_t(s)] + 1);
          segs.push_back({s, pos[size_t(s)], {int64_t((step * 31 + s * 7) % 2000 + 2)}, false});
          ++pos[size_t(s)];
        }
        logits[graphs_on].push_back(model.forward(segs, cache.storage, opts).logits);
      }
      replays = graphs.replays;
    }
    EXPECT_EQ(replays, 11) << "one capture, then replays";
    for (size_t i = 0; i < logits[0].size(); ++i)
      EXPECT_EQ(logits[0][i], logits[1][i]) << numerics_name(numerics) << " step " << i;
  }
}

std::vector<std::vector<int32_t>> generate(const Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                           int draft_tokens, int max_tokens, bool graphs = true,
                                           int64_t* replays = nullptr) {
  EngineOptions o;
  o.cuda_graphs = graphs;
  o.numerics = Numerics::Exact;
  o.max_sequences = 4;
  o.cache_bytes = kBudget;
  o.max_tokens_per_step = 512;
  o.draft_tokens = draft_tokens;
  Engine engine(model, o);
  std::vector<GenerationRequest> reqs;
  for (const auto& p : prompts) {
    GenerationRequest r;
    r.prompt.assign(p.begin(), p.end());
    r.params.temperature = 0.0f;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    reqs.push_back(std::move(r));
  }
  std::vector<std::vector<int32_t>> out;
  for (const GenerationResult& r : engine.generate(reqs)) out.push_back(r.ids);
  if (replays != nullptr) *replays = engine.graph_replays();
  return out;
}

// Greedy through the engine on the GPU (decode steps replayed as CUDA graphs): the reference's
// continuations; the same with MTP speculation (lossless), with eager launches, and alone or in
// a batch.
TEST(GpuEngine, GreedyMatchesTheReferenceWithAndWithoutSpeculationAndBatching) {
  DSV4_REQUIRE_CUDA_DEVICE();
  GoldenA& g = GoldenA::get();
  Gpu& gpu = Gpu::get();
  std::vector<std::vector<int64_t>> prompts;
  std::vector<std::vector<int32_t>> want;
  for (const char* p : {"p0", "p1", "p2"}) {
    prompts.push_back(g.prompt(p));
    const Expected e = g.tensor(std::string("greedy/") + p);
    want.emplace_back(e.values.begin(), e.values.end());
  }
  const int n = int(want[0].size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(generate(*gpu.model, {prompts[i]}, 0, n).at(0), want[i]) << "alone, prompt " << i;
  }
  int64_t replays = 0, spec_replays = 0;
  const auto batched = generate(*gpu.model, prompts, 0, n, true, &replays);
  const auto eager = generate(*gpu.model, prompts, 0, n, false);
  const auto speculative = generate(*gpu.model, prompts, 2, n, true, &spec_replays);
  const auto speculative_eager = generate(*gpu.model, prompts, 2, n, false);
  std::printf("[gpu golden] engine: %lld graph replays batched, %lld with MTP speculation\n",
              static_cast<long long>(replays), static_cast<long long>(spec_replays));
  EXPECT_GT(replays, 0);
  EXPECT_GT(spec_replays, 0);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(batched.at(i), want[i]) << "batched, graphs, prompt " << i;
    EXPECT_EQ(eager.at(i), want[i]) << "batched, eager, prompt " << i;
    EXPECT_EQ(speculative.at(i), want[i]) << "MTP speculation, graphs, prompt " << i;
    EXPECT_EQ(speculative_eager.at(i), want[i]) << "MTP speculation, eager, prompt " << i;
  }
}

// --gpu-memory-utilization: the engine profiles a step, reserves the arena, and gives the cache
// what the fraction leaves of the device's memory; generation through it equals a fixed budget's.
TEST(GpuEngine, MemoryUtilizationSizesTheCacheFromWhatIsLeft) {
  DSV4_REQUIRE_CUDA_DEVICE();
  Gpu& gpu = Gpu::get();
  EngineOptions o;
  o.numerics = Numerics::Official;
  o.max_sequences = 8;
  o.max_tokens_per_step = 512;
  const Ops::MemoryInfo before = gpu.ops->memory_info();
  const double in_use = double(before.total - before.free);
  const double want = 0.2 * double(before.total) - in_use;  // roughly what the cache may take
  ASSERT_GT(want, double(1ull << 30)) << "the test needs a few GiB free";
  o.memory_utilization = 0.2;
  std::vector<std::vector<int32_t>> got;
  {
    Engine e(*gpu.model, o);
    const double cache = double(e.cache().storage.bytes());
    std::printf("[gpu memory] total %.1f GiB, in use %.2f GiB before; cache %.2f GiB, arena %.0f MiB\n",
                double(before.total) / (1 << 30), in_use / (1 << 30), cache / (1 << 30),
                double(e.workspace_bytes()) / (1 << 20));
    EXPECT_LE(cache, want);
    EXPECT_GT(cache, 0.8 * (want - double(e.workspace_bytes()) - double(1 << 30)));
    const Ops::MemoryInfo after = gpu.ops->memory_info();
    EXPECT_LE(double(after.total - after.free), 0.2 * double(after.total) + double(64 << 20));
    GenerationRequest r;
    r.prompt = {1, 2, 3, 4, 5, 6, 7};
    r.params.temperature = 0;
    r.params.max_tokens = 8;
    r.params.ignore_eos = true;
    got.push_back(e.generate({r}).at(0).ids);
    EXPECT_EQ(e.workspace_growths(), 0);
    o.memory_utilization = 0;
    o.cache_bytes = kBudget;
    Engine fixed(*gpu.model, o);
    EXPECT_EQ(fixed.generate({r}).at(0).ids, got[0]);
  }
  o.memory_utilization = 0.0001;  // less than the weights take: a clear error
  EXPECT_THROW(Engine(*gpu.model, o), Error);
}

// Prefix caching on the GPU (FP8 cache in official numerics, fp32 in exact; decode steps as
// graphs): requests sharing prefixes, run one after another so that later ones resume from cached
// blocks, give the tokens of an engine without a prefix cache; a cache too small for the requests
// together preempts and recomputes without changing a token.
TEST(GpuEngine, PrefixCacheHitsAndPreemptionChangeNoToken) {
  DSV4_REQUIRE_CUDA_DEVICE();
  Gpu& gpu = Gpu::get();
  const uint64_t seed = fresh_seed("GpuEngine.PrefixCache");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::vector<int32_t> shared(420);
  for (auto& t : shared) t = int32_t(rng() % 2048);
  std::vector<GenerationRequest> reqs;
  for (int64_t keep : {420, 300, 256, 129, 420}) {
    GenerationRequest r;
    r.prompt.assign(shared.begin(), shared.begin() + keep);
    for (int64_t i = 0, n = int64_t(rng() % 60); i < n; ++i) r.prompt.push_back(int32_t(rng() % 2048));
    r.params.temperature = 0.0f;
    r.params.max_tokens = 8;
    r.params.ignore_eos = true;
    reqs.push_back(std::move(r));
  }
  for (Numerics numerics : {Numerics::Official, Numerics::Exact}) {
    for (int draft : {0, 2}) {
      EngineOptions o;
      o.numerics = numerics;
      o.max_sequences = 4;
      o.cache_bytes = kBudget;
      o.max_tokens_per_step = 160;
      o.draft_tokens = draft;
      Engine plain(*gpu.model, o);
      o.enable_prefix_caching = true;
      Engine cached(*gpu.model, o);
      int64_t hit = 0;
      for (const GenerationRequest& r : reqs) {
        const auto a = cached.generate({r});
        const auto b = plain.generate({r});
        EXPECT_EQ(a.at(0).ids, b.at(0).ids) << numerics_name(numerics) << " draft " << draft << ", prompt of "
                                            << r.prompt.size() << ", " << a[0].cached_tokens << " cached";
        hit += a[0].cached_tokens;
      }
      EXPECT_GE(hit, 3 * 128) << numerics_name(numerics);
      const auto together = cached.generate(reqs);
      for (size_t i = 0; i < reqs.size(); ++i)
        EXPECT_EQ(together.at(i).ids, plain.generate({reqs[i]}).at(0).ids) << numerics_name(numerics) << " batched " << i;
      std::printf("[gpu prefix cache] %s, draft %d: %lld tokens hit, %lld graph replays, arena %.1f MiB (%lld growths)\n",
                  numerics_name(numerics), draft, static_cast<long long>(cached.stats().prefix_hits),
                  static_cast<long long>(cached.graph_replays()), double(cached.workspace_bytes()) / (1 << 20),
                  static_cast<long long>(cached.workspace_growths()));
      EXPECT_EQ(cached.workspace_growths(), 0) << "the start-up arena was too small";
      EXPECT_EQ(plain.workspace_growths(), 0) << "the start-up arena was too small";
    }
  }
  // Preemption: three requests that together outgrow a cache of 6 compressed blocks per pool.
  const CacheLayout layout = CacheLayout::from_config(gpu.model->config(), CacheFormat::Fp8, true);
  uint64_t lo = cache_bytes_for(layout, 128, 3), hi = lo * 64;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (plan_cache(layout, mid, 3).pool_blocks[1] >= 6) hi = mid; else lo = mid + 1;
  }
  EngineOptions o;
  o.numerics = Numerics::Official;
  o.max_sequences = 3;
  o.cache_bytes = lo;
  o.max_tokens_per_step = 64;
  o.enable_prefix_caching = true;
  std::vector<GenerationRequest> grow;
  for (int i = 0; i < 4; ++i) {
    GenerationRequest r;
    for (int64_t j = 0, n = 100 + int64_t(rng() % 100); j < n; ++j) r.prompt.push_back(int32_t(rng() % 2048));
    r.params.temperature = 0.0f;
    r.params.max_tokens = 300 - int(r.prompt.size());
    r.params.ignore_eos = true;
    grow.push_back(std::move(r));
  }
  Engine small(*gpu.model, o);
  const auto got = small.generate(grow);
  o.cache_bytes = kBudget;
  o.enable_prefix_caching = false;
  Engine roomy(*gpu.model, o);
  int64_t preemptions = 0;
  for (size_t i = 0; i < grow.size(); ++i) {
    EXPECT_EQ(got.at(i).ids, roomy.generate({grow[i]}).at(0).ids) << "preemption, request " << i;
    preemptions += got[i].preemptions;
  }
  EXPECT_GT(preemptions, 0);
  std::printf("[gpu preemption] %lld preemptions\n", static_cast<long long>(preemptions));
}

// The tokens of each prompt through the engine (exact numerics), every request with `params`
// and, when sampled, seed 1000 + its index.
std::vector<std::vector<int32_t>> run_engine(const Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                             const SamplingParams& params, int draft_tokens, bool device_sampling) {
  EngineOptions o;
  o.numerics = Numerics::Exact;
  o.max_sequences = 4;
  o.cache_bytes = kBudget;
  o.max_tokens_per_step = 512;
  o.draft_tokens = draft_tokens;
  o.device_sampling = device_sampling;
  Engine engine(model, o);
  std::vector<GenerationRequest> reqs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationRequest r;
    r.prompt.assign(prompts[i].begin(), prompts[i].end());
    r.params = params;
    if (!params.greedy()) r.params.seed = 1000 + i;
    reqs.push_back(std::move(r));
  }
  std::vector<std::vector<int32_t>> out;
  for (const GenerationResult& r : engine.generate(reqs)) out.push_back(r.ids);
  return out;
}

// Sampling on the device (one upload of the rows' parameters, one download of the tokens per
// sampling call): greedy and seeded sampled generation give the same tokens as the host sampler
// on the same GPU logits, and as the CPU engine in exact numerics; with MTP speculation (greedy:
// the device's argmax rows verify; sampled: the host's rejection sampling) as without. A sampled
// mismatch against the CPU alone (not against the host sampler) would be a CDF-boundary tie of
// the two backends' logits (|Δ| ~1e-5), not a sampler difference: the message says which.
TEST(GpuEngine, DeviceSamplingMatchesHostSamplingAndTheCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  GoldenA& g = GoldenA::get();
  Gpu& gpu = Gpu::get();
  const std::vector<std::vector<int64_t>> prompts = {g.prompt("p0"), g.prompt("p1")};
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  greedy.max_tokens = 24;
  greedy.ignore_eos = true;
  greedy.logprobs = 2;
  SamplingParams sampled = greedy;
  sampled.temperature = 0.8f;
  sampled.top_k = 40;
  sampled.top_p = 0.9f;
  sampled.min_p = 0.01f;
  sampled.repetition_penalty = 1.1f;
  sampled.presence_penalty = 0.2f;
  sampled.frequency_penalty = 0.1f;
  for (const SamplingParams& p : {greedy, sampled})
    for (const int draft : {0, 2}) {
      const std::string what = std::string(p.greedy() ? "greedy" : "sampled") + ", draft tokens " + std::to_string(draft);
      const auto device = run_engine(*gpu.model, prompts, p, draft, true);
      const auto host = run_engine(*gpu.model, prompts, p, draft, false);
      const auto cpu = run_engine(g.model(), prompts, p, draft, true);
      for (size_t i = 0; i < prompts.size(); ++i) {
        EXPECT_EQ(device.at(i).size(), size_t(p.max_tokens)) << what;
        EXPECT_EQ(device.at(i), host.at(i)) << what << ", prompt " << i << ": device vs host sampling on the GPU";
        EXPECT_EQ(device.at(i), cpu.at(i)) << what << ", prompt " << i << ": GPU vs CPU engine"
                                           << (host.at(i) == cpu.at(i) ? " (the host sampler differs too: logits)" : "");
      }
    }
}

}  // namespace
}  // namespace dsv4::test
