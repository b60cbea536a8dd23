// dsv4 bench serve --base-url http://127.0.0.1:8000 [--endpoint /v1/completions|/v1/chat/completions]
//   [--dataset random|file --prompt-file F] [--input-len N] [--output-len N] [--num-prompts N]
//   [--request-rate R | --max-concurrency C | --concurrency-sweep 1,4,16] [--json]
// A load generator for any OpenAI-compatible server, reporting what `vllm bench serve` does:
// TTFT, TPOT, ITL and E2E latency percentiles, request and token throughput. Requests stream
// (with stream_options.include_usage and ignore_eos, so the output length is as asked);
// arrivals are Poisson at --request-rate (inf = all at once), at most --max-concurrency in flight.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "server/http_client.h"
#include "server/sse.h"
#include "tools/commands.h"
#include "tools/token_ids.h"

namespace dsv4::tools {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct BenchArgs {
  std::string base_url, endpoint = "/v1/completions", model, dataset = "random", prompt_file, api_key, sweep;
  std::string percentiles = "50,90,99", vocab_range = "1000,20000";
  int input_len = 128, output_len = 64, num_prompts = 64, max_concurrency = 0;
  double request_rate = INFINITY;
  int64_t seed = 0;
  int vocab_lo = 1000, vocab_hi = 20000;
  bool json_out = false;
};

struct Sample {
  bool ok = false;
  std::string error;
  double ttft = 0, e2e = 0;
  std::vector<double> itl;
  int64_t input_tokens = 0, output_tokens = 0;
};

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p / 100.0 * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = size_t(std::ceil(pos));
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

std::vector<std::string> words() {
  return {"the", "model", "reads", "a", "long", "prompt", "and", "answers", "with", "care", "about", "every",
          "token", "it", "sees", "in", "context", "of", "this", "benchmark"};
}

struct Workload {
  std::vector<json> bodies;  // request bodies
  std::vector<int64_t> input_tokens;
};

Workload make_workload(const BenchArgs& a, const std::string& model) {
  Workload w;
  std::mt19937_64 rng(uint64_t(a.seed));
  std::vector<std::string> file_prompts;
  if (a.dataset == "file") {
    std::ifstream in(a.prompt_file);
    if (!in) fail("cannot read --prompt-file {}", a.prompt_file);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) file_prompts.push_back(line);
    if (file_prompts.empty()) fail("--prompt-file {} has no prompts", a.prompt_file);
  } else if (a.dataset != "random") {
    fail("--dataset must be random or file, not '{}'", a.dataset);
  }
  const bool chat = a.endpoint.find("chat") != std::string::npos;
  const auto vocab = words();
  for (int i = 0; i < a.num_prompts; ++i) {
    json body{{"model", model}, {"max_tokens", a.output_len}, {"stream", true},
              {"stream_options", {{"include_usage", true}}}, {"ignore_eos", true}, {"temperature", 0}};
    json prompt;
    int64_t in_tokens = 0;
    if (!file_prompts.empty()) {
      prompt = file_prompts[size_t(i) % file_prompts.size()];
    } else if (!chat) {  // exact input length: token ids
      std::vector<int64_t> ids;
      for (int t = 0; t < a.input_len; ++t) ids.push_back(a.vocab_lo + int64_t(rng() % uint64_t(a.vocab_hi - a.vocab_lo)));
      prompt = ids;
      in_tokens = a.input_len;
    } else {  // about one token per word
      std::string text;
      for (int t = 0; t < a.input_len; ++t) text += (t ? " " : "") + vocab[rng() % vocab.size()];
      prompt = text;
    }
    if (chat)
      body["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
    else
      body["prompt"] = prompt;
    w.bodies.push_back(body);
    w.input_tokens.push_back(in_tokens);
  }
  return w;
}

Sample run_one(const server::BaseUrl& url, const BenchArgs& a, const json& body) {
  Sample s;
  server::HttpClient client(url.host, url.port);
  server::HttpClient::Headers headers;
  if (!a.api_key.empty()) headers.emplace("Authorization", "Bearer " + a.api_key);
  server::SseParser parser;
  const Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> last;
  bool done = false;
  auto on_chunk = [&](std::string_view bytes) {
    for (const server::SseEvent& e : parser.feed(bytes)) {
      if (e.data == "[DONE]") {
        done = true;
        continue;
      }
      json j = json::parse(e.data, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("usage") && j["usage"].is_object()) {
        s.output_tokens = j["usage"].value("completion_tokens", int64_t(0));
        if (s.input_tokens == 0) s.input_tokens = j["usage"].value("prompt_tokens", int64_t(0));
      }
      if (!j.contains("choices") || j["choices"].empty()) continue;
      const json& c = j["choices"][0];
      bool token = false;
      if (c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty()) token = true;
      if (c.contains("token_ids") && c["token_ids"].is_array() && !c["token_ids"].empty()) token = true;
      if (c.contains("delta"))
        for (const char* k : {"content", "reasoning_content", "reasoning", "tool_calls"})
          if (c["delta"].contains(k) && !c["delta"][k].is_null() && !(c["delta"][k].is_string() && c["delta"][k].get<std::string>().empty()))
            token = true;
      if (!token) continue;
      const Clock::time_point now = Clock::now();
      if (!last)
        s.ttft = seconds(start, now);
      else
        s.itl.push_back(seconds(*last, now));
      last = now;
    }
    return true;
  };
  const server::HttpResult r = client.post(url.prefix + a.endpoint, body.dump(), headers, on_chunk);
  s.e2e = seconds(start, Clock::now());
  if (r.status != 200) {
    s.error = r.status < 0 ? r.error : fmt::format("HTTP {}: {}", r.status, r.body.substr(0, 200));
    return s;
  }
  s.ok = done && last.has_value();
  if (!s.ok) s.error = "the stream ended without [DONE] or without tokens";
  if (s.output_tokens == 0) s.output_tokens = int64_t(s.itl.size()) + (last ? 1 : 0);
  return s;
}

json run_level(const server::BaseUrl& url, const BenchArgs& a, const Workload& w, int concurrency) {
  const size_t n = w.bodies.size();
  std::vector<double> arrival(n, 0.0);
  std::mt19937_64 rng(uint64_t(a.seed) + 1);
  if (std::isfinite(a.request_rate) && a.request_rate > 0) {
    std::exponential_distribution<double> gap(a.request_rate);
    double t = 0;
    for (size_t i = 0; i < n; ++i) {
      arrival[i] = t;
      t += gap(rng);
    }
  }
  std::vector<Sample> samples(n);
  std::atomic<size_t> next{0};
  const Clock::time_point start = Clock::now();
  const int workers = concurrency > 0 ? std::min<int>(concurrency, int(n)) : std::min<int>(int(n), 1024);
  std::vector<std::thread> pool;
  for (int t = 0; t < workers; ++t)
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) {
        std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(arrival[i])));
        samples[i] = run_one(url, a, w.bodies[i]);
        if (samples[i].input_tokens == 0) samples[i].input_tokens = w.input_tokens[i];
      }
    });
  for (std::thread& t : pool) t.join();
  const double duration = seconds(start, Clock::now());

  std::vector<double> ttft, tpot, itl, e2e;
  int64_t in = 0, out = 0, completed = 0;
  std::string first_error;
  for (const Sample& s : samples) {
    if (!s.ok) {
      if (first_error.empty()) first_error = s.error;
      continue;
    }
    ++completed;
    in += s.input_tokens;
    out += s.output_tokens;
    ttft.push_back(s.ttft * 1e3);
    e2e.push_back(s.e2e * 1e3);
    if (s.output_tokens > 1) tpot.push_back((s.e2e - s.ttft) / double(s.output_tokens - 1) * 1e3);
    for (double g : s.itl) itl.push_back(g * 1e3);
  }
  json r{{"max_concurrency", concurrency > 0 ? json(concurrency) : json(nullptr)},
         {"request_rate", std::isfinite(a.request_rate) ? json(a.request_rate) : json("inf")},
         {"completed", completed}, {"failed", int64_t(n) - completed}, {"duration_s", duration},
         {"total_input_tokens", in}, {"total_output_tokens", out},
         {"request_throughput", double(completed) / duration}, {"output_throughput", double(out) / duration},
         {"total_token_throughput", double(in + out) / duration}};
  if (!first_error.empty()) r["first_error"] = first_error;
  const std::vector<int64_t> ps = parse_token_ids(a.percentiles, "--percentiles");
  auto stats = [&](const char* name, const std::vector<double>& v) {
    double mean = 0;
    for (double x : v) mean += x;
    mean = v.empty() ? 0 : mean / double(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    r[fmt::format("mean_{}_ms", name)] = mean;
    r[fmt::format("median_{}_ms", name)] = percentile(v, 50);
    r[fmt::format("std_{}_ms", name)] = v.empty() ? 0 : std::sqrt(var / double(v.size()));
    for (int64_t p : ps) r[fmt::format("p{}_{}_ms", p, name)] = percentile(v, double(p));
  };
  stats("ttft", ttft);
  stats("tpot", tpot);
  stats("itl", itl);
  stats("e2el", e2e);
  return r;
}

void print_level(const json& r, const std::string& percentiles) {
  std::printf("============ Serving Benchmark Result ============\n");
  if (!r["max_concurrency"].is_null()) std::printf("%-40s %d\n", "Maximum request concurrency:", r["max_concurrency"].get<int>());
  std::printf("%-40s %lld\n", "Successful requests:", static_cast<long long>(r["completed"].get<int64_t>()));
  std::printf("%-40s %lld\n", "Failed requests:", static_cast<long long>(r["failed"].get<int64_t>()));
  std::printf("%-40s %.2f\n", "Benchmark duration (s):", r["duration_s"].get<double>());
  std::printf("%-40s %lld\n", "Total input tokens:", static_cast<long long>(r["total_input_tokens"].get<int64_t>()));
  std::printf("%-40s %lld\n", "Total generated tokens:", static_cast<long long>(r["total_output_tokens"].get<int64_t>()));
  std::printf("%-40s %.2f\n", "Request throughput (req/s):", r["request_throughput"].get<double>());
  std::printf("%-40s %.2f\n", "Output token throughput (tok/s):", r["output_throughput"].get<double>());
  std::printf("%-40s %.2f\n", "Total token throughput (tok/s):", r["total_token_throughput"].get<double>());
  const std::vector<int64_t> ps = parse_token_ids(percentiles, "--percentiles");
  for (const auto& [name, title] : std::vector<std::pair<std::string, std::string>>{
           {"ttft", "Time to First Token"}, {"tpot", "Time per Output Token (excl. 1st token)"},
           {"itl", "Inter-token Latency"}, {"e2el", "End-to-end Latency"}}) {
    std::printf("%s\n", fmt::format("{:-^50}", title).c_str());
    std::printf("%-40s %.2f\n", fmt::format("Mean {} (ms):", name).c_str(), r["mean_" + name + "_ms"].get<double>());
    std::printf("%-40s %.2f\n", fmt::format("Median {} (ms):", name).c_str(), r["median_" + name + "_ms"].get<double>());
    for (int64_t p : ps)
      std::printf("%-40s %.2f\n", fmt::format("P{} {} (ms):", p, name).c_str(), r[fmt::format("p{}_{}_ms", p, name)].get<double>());
  }
  if (r.contains("first_error")) std::printf("first error: %s\n", r["first_error"].get<std::string>().c_str());
  std::printf("==================================================\n");
}

void run_bench_serve(const BenchArgs& a) {
  const server::BaseUrl url = server::parse_base_url(a.base_url);
  if (a.num_prompts < 1) fail("--num-prompts must be >= 1");
  if (a.input_len < 1 || a.output_len < 1) fail("--input-len and --output-len must be >= 1");
  const std::vector<int64_t> range = parse_token_ids(a.vocab_range, "--vocab-range");
  if (range.size() != 2 || range[1] <= range[0] || range[1] > INT32_MAX) fail("--vocab-range must be LO,HI with 0 <= LO < HI");
  std::string model = a.model;
  if (model.empty()) {
    server::HttpClient client(url.host, url.port, 30);
    server::HttpClient::Headers headers;
    if (!a.api_key.empty()) headers.emplace("Authorization", "Bearer " + a.api_key);
    const server::HttpResult r = client.get(url.prefix + "/v1/models", headers);
    const json j = json::parse(r.body, nullptr, false);
    if (r.status != 200 || j.is_discarded() || !j.contains("data") || j["data"].empty())
      fail("GET {}/v1/models failed ({}); give --model", a.base_url, r.status < 0 ? r.error : std::to_string(r.status));
    model = j["data"][0].value("id", std::string());
  }
  BenchArgs with_range = a;
  with_range.vocab_lo = int(range[0]);
  with_range.vocab_hi = int(range[1]);
  const Workload w = make_workload(with_range, model);
  std::vector<int64_t> levels;
  if (!a.sweep.empty())
    levels = parse_token_ids(a.sweep, "--concurrency-sweep");
  else
    levels = {a.max_concurrency};
  json all = json::array();
  for (int64_t c : levels) {
    if (!a.json_out)
      std::fprintf(stderr, "[bench] %d requests to %s%s (model %s), concurrency %s, rate %s\n", a.num_prompts,
                   a.base_url.c_str(), a.endpoint.c_str(), model.c_str(), c > 0 ? std::to_string(c).c_str() : "unlimited",
                   std::isfinite(a.request_rate) ? fmt::format("{}", a.request_rate).c_str() : "inf");
    json r = run_level(url, a, w, int(c));
    if (!a.json_out) print_level(r, a.percentiles);
    all.push_back(r);
  }
  if (a.json_out) std::printf("%s\n", (levels.size() == 1 ? all[0] : all).dump(2).c_str());
}

}  // namespace

void add_bench_serve_command(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("serve", "Load an OpenAI-compatible server: TTFT, TPOT, ITL, E2E, throughput");
  auto a = std::make_shared<BenchArgs>();
  cmd->add_option("--base-url", a->base_url, "e.g. http://127.0.0.1:8000")->required();
  cmd->add_option("--endpoint", a->endpoint, "/v1/completions (default) or /v1/chat/completions");
  cmd->add_option("--model", a->model, "Model name (default: the first of GET /v1/models)");
  cmd->add_option("--dataset", a->dataset, "random (default) or file");
  cmd->add_option("--prompt-file", a->prompt_file, "With --dataset file: one prompt per line");
  cmd->add_option("--input-len", a->input_len, "Random prompts: tokens (completions: token ids) or words (chat)");
  cmd->add_option("--output-len", a->output_len, "max_tokens of every request (ignore_eos is set)");
  cmd->add_option("--num-prompts", a->num_prompts, "Requests per run (default 64)");
  cmd->add_option("--request-rate", a->request_rate, "Poisson arrivals per second (default inf: all at once)");
  cmd->add_option("--max-concurrency", a->max_concurrency, "Requests in flight at most (0 = unlimited)");
  cmd->add_option("--concurrency-sweep", a->sweep, "Run once per concurrency, e.g. 1,4,16");
  cmd->add_option("--percentiles", a->percentiles, "Percentiles to report (default 50,90,99)");
  cmd->add_option("--vocab-range", a->vocab_range, "Random completions prompts: token ids in [LO, HI) (default 1000,20000)");
  cmd->add_option("--seed", a->seed, "Random seed for prompts and arrivals");
  cmd->add_option("--api-key", a->api_key, "Sent as 'Authorization: Bearer KEY'");
  cmd->add_flag("--json", a->json_out, "Print the results as JSON");
  cmd->callback([a] { with_context("bench serve " + a->base_url, [&] { run_bench_serve(*a); }); });
}

}  // namespace dsv4::tools
