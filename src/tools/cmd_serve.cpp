// dsv4 serve MODEL_DIR [--host H] [--port P] [--api-key K] [--served-model-name NAME]
//   [--max-model-len N] [--max-num-seqs N] [--max-num-batched-tokens N] [--gpu-memory-utilization U]
//   [--cache-mib M] [--device cpu|cuda|cuda:N] [--numerics exact|official] [--speculative-config JSON |
//   --speculative mtp --draft-tokens K] ...
// An OpenAI- (and Anthropic-) compatible HTTP server on the engine, with vLLM's flag names. The
// socket is bound first (GET /health answers 503 while the model loads), then the model is
// loaded and the engine driver started. SIGINT / SIGTERM: stop accepting, let in-flight
// requests finish for --shutdown-timeout seconds, abort the rest, exit 0.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/numerics.h"
#include "model/transformer.h"
#include "runtime/structured/token_trie.h"
#include "runtime/structured/tool_calls.h"
#include "server/api_server.h"
#include "server/engine_driver.h"
#include "server/metrics.h"
#include "tools/backend.h"
#include "tools/commands.h"

namespace dsv4::tools {

namespace {

constexpr int64_t kDefaultMaxModelLen = 16384;

struct ServeArgs {
  std::string dir, host = "127.0.0.1", api_key, served_name, device = "cpu", numerics = "exact";
  int port = 8000;
  int64_t max_model_len = 0;  // 0: what the cache holds for one sequence, at most the model's context
  int max_num_seqs = 64;
  int64_t max_batched_tokens = 2048;
  double gpu_memory_utilization = 0;  // 0: not given
  int64_t cache_mib = 0;              // 0: 1024, or from --gpu-memory-utilization
  std::string speculative_config, speculative;
  int draft_tokens = 2;
  int64_t max_queued = 256;
  int http_threads = 512;
  int64_t max_request_mib = 32;
  double shutdown_timeout = 10;
  bool disable_log_requests = false;
  bool prefix_caching = true;  // vLLM's default
  bool enforce_eager = false;
  std::string ignored;  // vLLM recipe flags that dsv4 does not need
  bool ignored_flag = false;
};

// Memory the OS reports available (bytes), 0 when unknown.
uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib << 10;
  return 0;
}

uint64_t checkpoint_bytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") total += e.file_size();
  return total;
}

uint64_t cache_budget(const ServeArgs& a) {
  if (a.cache_mib > 0) return uint64_t(a.cache_mib) << 20;
  if (a.gpu_memory_utilization > 0) {
    // The CPU backend: the fraction of the memory available at start-up, less the weights, is
    // the cache's; the budget counts compact formats and the host arrays hold fp32 (up to 4x).
    const uint64_t avail = mem_available(), weights = checkpoint_bytes(a.dir);
    const double usable = a.gpu_memory_utilization * double(avail) - double(weights);
    if (usable <= 0)
      fail("--gpu-memory-utilization {}: {} MiB available, the weights take {} MiB: nothing left for the cache",
           a.gpu_memory_utilization, avail >> 20, weights >> 20);
    return uint64_t(usable / 4);
  }
  return 1024ull << 20;
}

int draft_tokens_of(const ServeArgs& a) {
  if (!a.speculative_config.empty()) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(a.speculative_config);
    } catch (const nlohmann::json::exception& e) {
      fail("--speculative-config is not JSON: {}", e.what());
    }
    const std::string method = j.value("method", std::string("mtp"));
    if (method != "mtp" && method != "deepseek_mtp" && method != "deepseek_v4_mtp")
      fail("--speculative-config: method must be mtp (the model's MTP block), not '{}'", method);
    const int k = j.value("num_speculative_tokens", 1);
    if (k < 1 || k > 4) fail("--speculative-config: num_speculative_tokens must be in [1, 4], got {}", k);
    return k;
  }
  if (a.speculative.empty()) return 0;
  if (a.speculative != "mtp") fail("--speculative: only 'mtp' is supported, not '{}'", a.speculative);
  if (a.draft_tokens < 1 || a.draft_tokens > 4) fail("--draft-tokens must be in [1, 4], got {}", a.draft_tokens);
  return a.draft_tokens;
}

// SIGINT / SIGTERM, received by one thread (blocked everywhere else).
class SignalWaiter {
 public:
  SignalWaiter() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] {
      const timespec tick{0, 100'000'000};
      while (!done_.load()) {
        if (sigtimedwait(&set_, nullptr, &tick) > 0) {
          received_.store(true);
          return;
        }
      }
    });
  }
  ~SignalWaiter() {
    done_.store(true);
    thread_.join();
  }
  bool received() const { return received_.load(); }

 private:
  sigset_t set_;
  std::atomic<bool> done_{false}, received_{false};
  std::thread thread_;
};

void run_serve(const ServeArgs& a) {
  const auto numerics = parse_numerics(a.numerics);
  if (!numerics) fail("--numerics must be exact or official, not '{}'", a.numerics);
  if (a.max_num_seqs < 1) fail("--max-num-seqs must be >= 1, got {}", a.max_num_seqs);
  if (a.max_queued < 1) fail("--max-queued-requests must be >= 1, got {}", a.max_queued);
  if (a.gpu_memory_utilization < 0 || a.gpu_memory_utilization > 1)
    fail("--gpu-memory-utilization must be in (0, 1], got {}", a.gpu_memory_utilization);
  if (!std::filesystem::exists(a.dir + "/config.json")) fail("{} has no config.json", a.dir);
  const int draft = draft_tokens_of(a);
  if (!a.ignored.empty() || a.ignored_flag)
    std::fprintf(stderr, "[serve] note: dsv4 always parses DeepSeek-V4 reasoning and DSML tool calls; "
                         "--reasoning-parser / --tool-call-parser / --tokenizer-mode / --enable-auto-tool-choice are accepted and not needed\n");

  SignalWaiter signals;
  const std::string name = a.served_name.empty() ? a.dir : a.served_name;
  server::ApiServerOptions so;
  so.http.host = a.host;
  so.http.port = a.port;
  so.http.threads = a.http_threads;
  so.http.max_body_bytes = size_t(a.max_request_mib) << 20;
  so.api_key = a.api_key;
  so.model_name = name;
  server::ApiServer api(so);
  const int port = api.bind();
  std::fprintf(stderr, "[serve] listening on http://%s:%d (GET /health is 503 until the model is loaded)\n", a.host.c_str(), port);
  std::thread http([&] { api.serve(); });

  server::ServingContext ctx;
  Backend backend;
  std::unique_ptr<Transformer> model;
  std::unique_ptr<server::Metrics> metrics;
  std::unique_ptr<server::EngineDriver> driver;
  try {
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    ctx.model_name = name;
    ctx.model_dir = a.dir;
    ctx.log_requests = !a.disable_log_requests;
    if (std::filesystem::exists(a.dir + "/tokenizer.json")) {
      std::fprintf(stderr, "[serve] loading the tokenizer ...\n");
      ctx.tokenizer = std::make_shared<const tokenizer::Tokenizer>(tokenizer::Tokenizer::load(a.dir));
      ctx.think_close_id = ctx.tokenizer->token_id("</think>");
      // The token masks of response_format and tool_choice (｜DSML｜: tool-call tags, tool_calls.h).
      ctx.vocabulary = structured::TokenTrie::from_tokenizer(*ctx.tokenizer, {structured::kDsmlMarker});
    } else {
      std::fprintf(stderr, "[serve] %s has no tokenizer.json: only token-id prompts on /v1/completions\n", a.dir.c_str());
    }
    std::fprintf(stderr, "[serve] loading the weights of %s (%.1f MiB) ... [%.1fs]\n", a.dir.c_str(),
                 double(checkpoint_bytes(a.dir)) / (1 << 20), elapsed());
    backend = make_backend(a.device);  // throws for an unknown device or a build without CUDA
    model = std::make_unique<Transformer>(a.dir, backend.ops);
    const ModelConfig& cfg = model->config();
    EngineOptions eo;
    eo.numerics = *numerics;
    eo.max_sequences = a.max_num_seqs;
    // A device: the cache takes --gpu-memory-utilization (vLLM's default 0.9) of its memory, less
    // the weights and the activations' arena, unless --cache-mib sets it.
    const bool on_device = !backend.ops->host_memory();
    if (on_device && a.cache_mib == 0)
      eo.memory_utilization = a.gpu_memory_utilization > 0 ? a.gpu_memory_utilization : 0.9;
    else
      eo.cache_bytes = cache_budget(a);
    eo.max_tokens_per_step = a.max_batched_tokens;
    eo.draft_tokens = draft;
    eo.enable_prefix_caching = a.prefix_caching;
    eo.cuda_graphs = !a.enforce_eager;
    if (ctx.tokenizer) {
      auto tok = ctx.tokenizer;
      eo.detokenize = [tok](std::span<const int32_t> out) { return tok->decode(std::vector<uint32_t>(out.begin(), out.end())); };
    }
    if (eo.memory_utilization > 0)
      std::fprintf(stderr, "[serve] profiling a step and sizing the cache at %.2f of the device memory (%d sequences) ... [%.1fs]\n",
                   eo.memory_utilization, a.max_num_seqs, elapsed());
    else
      std::fprintf(stderr, "[serve] planning the cache (%.0f MiB, %d sequences) ... [%.1fs]\n", double(eo.cache_bytes) / (1 << 20),
                   a.max_num_seqs, elapsed());
    auto engine = std::make_unique<Engine>(*model, eo);
    if (engine->workspace_bytes() > 0)
      std::fprintf(stderr, "[serve] activations arena %.0f MiB, cache %.0f MiB (%lld tokens) [%.1fs]\n",
                   double(engine->workspace_bytes()) / (1 << 20), double(engine->cache().storage.bytes()) / (1 << 20),
                   static_cast<long long>(engine->cache().plan.max_total_tokens), elapsed());
    int64_t per_sequence = INT64_MAX;
    const CacheManager& m = engine->cache().manager;
    for (size_t p = 1; p < m.pool_count(); ++p) per_sequence = std::min<int64_t>(per_sequence, int64_t(m.pool(p).capacity()) * kCacheBlockTokens);
    per_sequence -= draft + 1;
    // A request must fit the cache alone (prompt + max_tokens; requests that do not fit together
    // are preempted and recomputed), and one without max_tokens gets what is left of the
    // context: the default stays modest (give --max-model-len for more).
    const int64_t context = std::min(cfg.max_position_embeddings, per_sequence);
    const int64_t default_context = std::min<int64_t>(context, kDefaultMaxModelLen);
    if (a.max_model_len > context)
      fail("--max-model-len {} does not fit: the model's context is {} tokens and the cache holds {} tokens for one "
           "sequence (raise --cache-mib or --gpu-memory-utilization)",
           a.max_model_len, cfg.max_position_embeddings, per_sequence);
    ctx.max_model_len = a.max_model_len > 0 ? a.max_model_len : default_context;
    ctx.vocab_size = cfg.vocab_size;
    metrics = std::make_unique<server::Metrics>(name);
    server::DriverOptions dopt;
    dopt.max_waiting = a.max_queued;
    driver = std::make_unique<server::EngineDriver>(std::move(engine), dopt, metrics.get());
    ctx.driver = driver.get();
    ctx.metrics = metrics.get();
    api.set_ready(&ctx);
    std::fprintf(stderr,
                 "[serve] ready in %.1fs: model '%s' on %s, max-model-len %lld, max-num-seqs %d, %s numerics%s; "
                 "http://%s:%d/v1\n",
                 elapsed(), name.c_str(), backend.ops->name(), static_cast<long long>(ctx.max_model_len), a.max_num_seqs,
                 numerics_name(*numerics), draft ? fmt::format(", MTP speculative decoding k={}", draft).c_str() : "",
                 a.host.c_str(), port);
  } catch (...) {
    api.stop();
    http.join();
    throw;
  }
  while (!signals.received()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fprintf(stderr, "[serve] shutting down: no new connections; in-flight requests get %.0f s\n", a.shutdown_timeout);
  std::thread stopper([&] { api.stop(); });
  driver->shutdown(std::chrono::milliseconds(int64_t(a.shutdown_timeout * 1000)));
  stopper.join();
  http.join();
  api.set_ready(nullptr);
  std::fprintf(stderr, "[serve] stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "OpenAI- and Anthropic-compatible HTTP server (vLLM's flags)");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("MODEL_DIR", a->dir, "Checkpoint directory (config.json, safetensors, tokenizer.json)")->required();
  cmd->add_option("--host", a->host, "Address to bind (default 127.0.0.1)");
  cmd->add_option("--port", a->port, "Port (default 8000; 0 = any free port)");
  cmd->add_option("--api-key", a->api_key, "Require 'Authorization: Bearer KEY' (or x-api-key) on the API")->envname("DSV4_API_KEY");
  cmd->add_option("--served-model-name", a->served_name, "Model name in the API (default MODEL_DIR)");
  cmd->add_option("--max-model-len", a->max_model_len, "Context length: prompt + completion tokens (default 16384, or less when the model's context or the cache for one sequence is smaller)");
  cmd->add_option("--max-num-seqs", a->max_num_seqs, "Sequences decoded together (default 64)");
  cmd->add_option("--max-num-batched-tokens", a->max_batched_tokens, "Tokens per engine step: decodes, then prefill chunks (default 2048)");
  cmd->add_option("--gpu-memory-utilization", a->gpu_memory_utilization,
                  "Fraction of the device memory for weights, activations and cache (default 0.9 on a GPU); on the CPU: of the available memory, less the weights (see README)");
  cmd->add_option("--cache-mib", a->cache_mib, "Cache budget in MiB (CPU default 1024; overrides --gpu-memory-utilization)");
  add_device_option(cmd, a->device);
  cmd->add_option("--numerics", a->numerics, "exact or official");
  cmd->add_option("--speculative-config", a->speculative_config, "vLLM's JSON, e.g. '{\"method\": \"mtp\", \"num_speculative_tokens\": 2}'");
  cmd->add_option("--speculative", a->speculative, "Speculative decoding with the model's MTP block: 'mtp'");
  cmd->add_option("--draft-tokens", a->draft_tokens, "Drafts per step with --speculative (1..4, default 2)");
  cmd->add_option("--max-queued-requests", a->max_queued, "Requests waiting beyond the running ones before 429 (default 256)");
  cmd->add_option("--http-threads", a->http_threads, "Connection threads: one per open connection, idle keep-alive ones included (default 512)");
  cmd->add_option("--max-request-mib", a->max_request_mib, "Largest request body in MiB; larger is 413 (default 32)");
  cmd->add_option("--shutdown-timeout", a->shutdown_timeout, "Seconds in-flight requests get at SIGINT/SIGTERM (default 10)");
  cmd->add_flag("--disable-log-requests", a->disable_log_requests, "No log line per request");
  cmd->add_flag("--enable-prefix-caching,!--no-enable-prefix-caching", a->prefix_caching,
                "Reuse the cache of earlier requests' prompts in blocks of 128 tokens (default on)");
  cmd->add_flag("--enforce-eager", a->enforce_eager, "Launch every op eagerly (no CUDA graphs for decode steps)");
  cmd->add_option("--reasoning-parser,--tool-call-parser,--tokenizer-mode", a->ignored, "Accepted for vLLM recipes; not needed")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_flag("--enable-auto-tool-choice,--trust-remote-code", a->ignored_flag, "Accepted for vLLM recipes; not needed");
  cmd->callback([a] { with_context("serve " + a->dir, [&] { run_serve(*a); }); });
}

}  // namespace dsv4::tools
