// dsv4 bench MODEL_DIR | --random-weights SHAPE [--layers N] [--experts E] [--device D]
//            [--numerics exact|official] [--batch B] [--context C] [--prompt-len P] [--steps N] [--json]
// What one GPU (or the CPU) does with the model: prefill tokens/s for one prompt of P tokens;
// decode TPOT and tokens/s for B sequences at context C (their caches filled with random
// vectors through the real stores, so the step reads what a real one reads); the per-op time of
// one decode step; and beside it the HBM floor of that step: the bytes it must read (weights —
// routed experts as many as B tokens touch on average — plus the K=V, compressed entries and
// indexer keys its attention reads) over the copy bandwidth measured in the same run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>

#include <nlohmann/json.hpp>

#include "cache/paged_kv_cache.h"
#include "core/error.h"
#include "model/step_plan.h"
#include "runtime/profiling_ops.h"
#include "tools/backend.h"
#include "tools/commands.h"
#include "tools/random_model_options.h"

namespace dsv4::tools {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct BenchArgs {
  ModelSource model;
  std::string device = "cpu", numerics = "official";
  int batch = 1;
  int64_t context = 8192, prompt_len = 512;
  int steps = 8;
  bool json = false, enforce_eager = false;
  uint64_t seed = 1;
};

// Device-to-device copy bandwidth (bytes read + written per second).
double copy_bandwidth(Ops& ops) {
  const size_t bytes = ops.host_memory() ? (size_t(256) << 20) : (size_t(2) << 30);
  void* a = ops.alloc(bytes);
  void* b = ops.alloc(bytes);
  ops.fill_zero(a, bytes);
  ops.copy(b, a, bytes);
  ops.synchronize();
  const int reps = ops.host_memory() ? 3 : 10;
  const auto t0 = Clock::now();
  for (int i = 0; i < reps; ++i) ops.copy(i % 2 ? a : b, i % 2 ? b : a, bytes);
  ops.synchronize();
  const double s = seconds_since(t0);
  ops.free(a);
  ops.free(b);
  return 2.0 * double(bytes) * reps / s;
}

// Fills sequence `seq`'s cache for positions [0, C) with random vectors through the stores.
void fill_cache(const ModelConfig& cfg, Ops& ops, Cache& cache, SequenceId seq, int64_t C, uint64_t seed) {
  const StepPlan plan = plan_step(cfg, cache.storage, {{seq, 0, 0, C}}, std::vector<int64_t>(size_t(C), 0), {});
  const KvPools& pools = cache.storage.pools();
  const int64_t D = cfg.head_dim, rd = cfg.rope_head_dim, Di = cfg.index_head_dim;
  float* vecs = static_cast<float*>(ops.alloc(size_t(C * D) * 4));
  int32_t* slots = static_cast<int32_t*>(ops.alloc(size_t(C) * 4));
  RandomFillParams p;
  p.kind = RandomFill::F32;
  p.data = vecs;
  p.rows = C;
  p.cols = D;
  p.stddev = 0.5f;
  p.seed = seed;
  ops.fill_random(p);
  auto store = [&](const std::vector<int32_t>& s, void* pool, int64_t pool_slots, int64_t dim, bool key) {
    if (s.empty()) return;
    ops.upload(slots, s.data(), s.size() * 4);
    if (key)
      ops.key_store(KeyStoreParams{vecs, slots, int64_t(s.size()), dim, pools.key_format, pool, pool_slots});
    else
      ops.kv_store(KvStoreParams{vecs, slots, int64_t(s.size()), dim, rd, pools.kv_format, pool, pool_slots});
  };
  for (size_t l = 0; l < cfg.layers.size(); ++l) {
    store(plan.win_store, pools.window[l], pools.window_slots, D, false);
    const int ratio = cfg.layers[l].compress_ratio;
    if (ratio == 0) continue;
    const EmissionPlan& e = ratio == 4 ? plan.e4 : plan.e128;
    store(e.slot, pools.entries[l], pools.entry_slots[l], D, false);
    if (ratio == 4) store(e.slot, pools.keys[l], pools.key_slots[l], Di, true);
    for (int r = 0; r < 2; ++r) {
      if (pools.ring_kv[r][l] == nullptr) continue;
      const int64_t width = (ratio == 4 ? 2 : 1) * (r == 0 ? D : Di);
      for (float* ring : {pools.ring_kv[r][l], pools.ring_gate[r][l]}) {
        RandomFillParams q = p;
        q.data = ring;
        q.rows = pools.ring_rows[l];
        q.cols = width;
        q.seed = seed + l * 7 + uint64_t(r);
        ops.fill_random(q);
      }
    }
  }
  ops.synchronize();
  ops.free(vecs);
  ops.free(slots);
}

// Bytes one decode step of B tokens at context C must read (see the file comment).
struct StepBytes {
  double weights = 0, experts = 0, kv = 0;
  double total() const { return weights + experts + kv; }
};
StepBytes step_bytes(const Transformer& model, const CacheLayout& layout, int B, int64_t C) {
  const ModelConfig& cfg = model.config();
  const Checkpoint& ck = model.checkpoint();
  StepBytes s;
  const double E = double(cfg.n_routed_experts), k = double(cfg.num_experts_per_tok);
  const double touched = E * (1.0 - std::pow(1.0 - k / E, double(B)));  // expected distinct experts
  for (const std::string& name : ck.names()) {
    const TensorEntry& e = ck.entry(name);
    const double bytes = double(e.end - e.begin);
    if (name.find(".ffn.experts.") != std::string::npos)
      s.experts += bytes * touched / E;  // each layer's experts: touched of E
    else if (name == "embed.weight")
      s.weights += bytes / double(cfg.vocab_size) * B;
    else if (name.rfind("mtp.", 0) == 0)
      continue;  // the MTP block runs only with speculation
    else
      s.weights += bytes;
  }
  const bool fp8 = layout.format == CacheFormat::Fp8;
  const double kv = double(kv_slot_bytes(fp8 ? KvFormat::Fp8Ds : KvFormat::F32, cfg.head_dim, cfg.rope_head_dim));
  const double key = double(key_slot_bytes(fp8 ? KeyFormat::Mxfp4 : KeyFormat::F32, cfg.index_head_dim));
  for (int l = 0; l < cfg.num_layers; ++l) {
    const int r = cfg.layers[size_t(l)].compress_ratio;
    double per_token = double(std::min<int64_t>(cfg.sliding_window, C)) * kv;
    if (r == 4) per_token += double(std::min<int64_t>(cfg.index_topk, C / 4)) * kv + double(C / 4) * key;
    if (r == 128) per_token += double(C / 128) * kv;
    s.kv += per_token * B;
  }
  return s;
}

void run_bench(const BenchArgs& a) {
  const auto numerics = parse_numerics(a.numerics);
  if (!numerics) fail("--numerics must be exact or official, not '{}'", a.numerics);
  if (a.batch < 1 || a.context < 1 || a.prompt_len < 1 || a.steps < 1)
    fail("--batch, --context, --prompt-len and --steps must be positive");
  Backend backend = make_backend(a.device);
  ProfilingOps prof(*backend.ops);
  const std::unique_ptr<Transformer> model = load_model(a.model, prof);
  const ModelConfig& cfg = model->config();
  const double bw = copy_bandwidth(*backend.ops);
  const CacheFormat format =
      backend.ops->host_memory() || *numerics == Numerics::Exact ? CacheFormat::Reference : CacheFormat::Fp8;
  const CacheLayout layout = CacheLayout::from_config(cfg, format);
  const int64_t reserve = std::max(a.prompt_len, a.context + a.steps + 4);
  Cache cache(cfg, prof, cache_bytes_for(layout, reserve, a.batch + 1), a.batch + 1, format);
  Workspace ws(prof);
  ForwardOptions opts;
  opts.numerics = *numerics;
  opts.workspace = &ws;
  opts.streams = false;
  std::mt19937_64 rng(a.seed);
  auto random_ids = [&](int64_t n) {
    std::vector<int64_t> ids(static_cast<size_t>(n));
    for (auto& id : ids) id = int64_t(rng() % uint64_t(cfg.vocab_size));
    return ids;
  };

  // Prefill: one prompt (a short warm-up first).
  const SequenceId pre = 1000000;
  cache.manager.admit(pre, 16);
  model->forward({{pre, 0, random_ids(16), false}}, cache.storage, opts);
  cache.manager.release(pre);
  cache.manager.admit(pre, a.prompt_len);
  auto t0 = Clock::now();
  model->forward({{pre, 0, random_ids(a.prompt_len), false}}, cache.storage, opts);
  const double prefill_s = seconds_since(t0);
  cache.manager.release(pre);

  // Decode: B sequences at context C.
  std::vector<int64_t> pos(size_t(a.batch), a.context);
  for (int b = 0; b < a.batch; ++b) {
    cache.manager.admit(b, a.context);
    fill_cache(cfg, *backend.ops, cache, b, a.context, a.seed + uint64_t(b));
  }
  auto step = [&] {
    std::vector<Segment> segs;
    for (int b = 0; b < a.batch; ++b) {
      cache.manager.extend(b, pos[size_t(b)] + 1);
      segs.push_back({b, pos[size_t(b)], random_ids(1), false});
      ++pos[size_t(b)];
    }
    model->forward(segs, cache.storage, opts);
  };
  step();
  step();  // warm-up (workspace and scratch sizes settle)
  t0 = Clock::now();
  for (int i = 0; i < a.steps; ++i) step();
  const double tpot_eager = seconds_since(t0) / a.steps;
  double tpot = tpot_eager;
  std::unique_ptr<StepGraphs> graphs;
  if (!a.enforce_eager && prof.graphs_supported()) {  // the same steps replayed as a CUDA graph
    graphs = std::make_unique<StepGraphs>(a.context + 3 * a.steps + 8);
    opts.graphs = graphs.get();
    step();  // capture
    t0 = Clock::now();
    for (int i = 0; i < a.steps; ++i) step();
    tpot = seconds_since(t0) / a.steps;
    opts.graphs = nullptr;
  }
  prof.enable(true);
  step();
  prof.enable(false);

  const StepBytes bytes = step_bytes(*model, layout, a.batch, a.context);
  const double floor_s = bytes.total() / bw;
  double profiled = 0;
  std::vector<std::pair<std::string, ProfilingOps::Stat>> ops(prof.stats().begin(), prof.stats().end());
  for (const auto& [n, s] : ops) profiled += s.seconds;
  std::sort(ops.begin(), ops.end(), [](const auto& x, const auto& y) { return x.second.seconds > y.second.seconds; });

  if (a.json) {
    nlohmann::json j;
    j["device"] = backend.ops->name();
    j["model"] = a.model.random_shape.empty() ? a.model.dir : "random-" + a.model.random_shape;
    j["layers"] = cfg.num_layers;
    j["experts"] = cfg.n_routed_experts;
    j["numerics"] = numerics_name(*numerics);
    j["batch"] = a.batch;
    j["context"] = a.context;
    j["prompt_len"] = a.prompt_len;
    j["prefill_tokens_per_s"] = double(a.prompt_len) / prefill_s;
    j["tpot_ms"] = tpot * 1e3;
    j["tpot_eager_ms"] = tpot_eager * 1e3;
    j["cuda_graphs"] = graphs != nullptr;
    j["decode_tokens_per_s"] = a.batch / tpot;
    j["copy_gb_per_s"] = bw / 1e9;
    j["step_bytes"] = {{"weights", bytes.weights}, {"experts", bytes.experts}, {"kv", bytes.kv}};
    j["hbm_floor_ms"] = floor_s * 1e3;
    j["tpot_over_floor"] = tpot / floor_s;
    for (const auto& [n, s] : ops) j["ops_ms"][n] = s.seconds * 1e3;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("dsv4 bench: %s, %s numerics, %s: %d layers, %lld routed experts per layer\n", backend.ops->name(),
              numerics_name(*numerics), a.model.random_shape.empty() ? a.model.dir.c_str() : ("random " + a.model.random_shape).c_str(),
              cfg.num_layers, static_cast<long long>(cfg.n_routed_experts));
  std::printf("copy bandwidth (measured): %.1f GB/s\n", bw / 1e9);
  std::printf("prefill: %lld tokens in %.3f s = %.1f tokens/s\n", static_cast<long long>(a.prompt_len), prefill_s,
              double(a.prompt_len) / prefill_s);
  std::printf("decode: batch %d at context %lld: TPOT %.3f ms, %.1f tokens/s (%s; eager launches: TPOT %.3f ms)\n",
              a.batch, static_cast<long long>(a.context), tpot * 1e3, a.batch / tpot,
              graphs ? "CUDA graph replays" : "eager", tpot_eager * 1e3);
  std::printf("HBM floor of one step: %.1f MB (weights %.1f, routed experts %.1f, KV %.1f) / copy bandwidth = %.3f ms; TPOT = %.1f x floor\n",
              bytes.total() / 1e6, bytes.weights / 1e6, bytes.experts / 1e6, bytes.kv / 1e6, floor_s * 1e3, tpot / floor_s);
  std::printf("one decode step by op (each op synchronized; sum %.3f ms):\n", profiled * 1e3);
  for (const auto& [n, s] : ops)
    std::printf("  %-40s %6lld calls %9.3f ms %5.1f%%\n", n.c_str(), static_cast<long long>(s.calls), s.seconds * 1e3,
                100.0 * s.seconds / profiled);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Prefill and decode speed of a model (checkpoint or random weights), per op, against the HBM floor");
  auto a = std::make_shared<BenchArgs>();
  cmd->add_option("MODEL_DIR", a->model.dir, "Checkpoint directory (or --random-weights)");
  add_random_weights_options(cmd, a->model);
  add_device_option(cmd, a->device);
  cmd->add_option("--numerics", a->numerics, "exact or official (default)")->check(CLI::IsMember({"exact", "official"}));
  cmd->add_option("--batch", a->batch, "Concurrent sequences decoded per step (default 1)");
  cmd->add_option("--context", a->context, "Context length of every decoding sequence (default 8192)");
  cmd->add_option("--prompt-len", a->prompt_len, "Prompt length of the prefill measurement (default 512)");
  cmd->add_option("--steps", a->steps, "Timed decode steps (default 8)");
  cmd->add_flag("--json", a->json, "One JSON object instead of the table");
  cmd->add_flag("--enforce-eager", a->enforce_eager, "Only eager launches (no CUDA graph replays)");
  cmd->callback([a, cmd] {
    if (!cmd->get_subcommands().empty()) return;  // `dsv4 bench serve` (cmd_bench_serve.cpp)
    with_context("bench", [&] { run_bench(*a); });
  });
}

}  // namespace dsv4::tools
