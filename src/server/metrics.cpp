#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace dsv4::server {

namespace {

// vLLM's buckets.
const std::vector<double> kTtftBuckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0,
                                          2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
const std::vector<double> kItlBuckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                         0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
const std::vector<double> kLatencyBuckets = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
                                             40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
const std::vector<double> kTokenBuckets = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000};

std::string number(double v) { return fmt::format("{}", v); }

void header(std::string& out, const std::string& name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void Histogram::observe(double v) {
  const size_t i = size_t(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, number(bounds_[i]), cumulative);
  }
  out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, count_);
  out += fmt::format("{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, number(sum_), name, labels, count_);
}

Metrics::Metrics(std::string model_name)
    : labels_(fmt::format("model_name=\"{}\"", model_name)),
      ttft_(kTtftBuckets), itl_(kItlBuckets), e2e_(kLatencyBuckets), queue_(kLatencyBuckets),
      prompt_hist_(kTokenBuckets), generation_hist_(kTokenBuckets) {}

void Metrics::observe_queue_time(double s) {
  std::lock_guard<std::mutex> lock(mutex_);
  queue_.observe(s);
}
void Metrics::observe_first_token(double s) {
  std::lock_guard<std::mutex> lock(mutex_);
  ttft_.observe(s);
}
void Metrics::observe_inter_token(double s) {
  std::lock_guard<std::mutex> lock(mutex_);
  itl_.observe(s);
}
void Metrics::observe_finished(double e2e, int64_t prompt_tokens, int64_t generation_tokens, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mutex_);
  e2e_.observe(e2e);
  prompt_hist_.observe(double(prompt_tokens));
  generation_hist_.observe(double(generation_tokens));
  prompt_tokens_ += uint64_t(prompt_tokens);
  generation_tokens_ += uint64_t(generation_tokens);
  ++finished_[reason];
}
void Metrics::count_http(const std::string& handler, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++http_[{handler, status}];
}

std::string Metrics::render(const DriverStats& s) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  const std::string& l = labels_;
  auto gauge = [&](const std::string& name, const char* help, double v) {
    header(out, name, "gauge", help);
    out += fmt::format("{}{{{}}} {}\n", name, l, number(v));
  };
  auto counter = [&](const std::string& name, const char* help, double v) {
    header(out, name, "counter", help);
    out += fmt::format("{}{{{}}} {}\n", name, l, number(v));
  };
  gauge("vllm:num_requests_running", "Number of requests in model execution batches.", double(s.running));
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", double(s.waiting));
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", s.kv_cache_usage);
  counter("vllm:num_preemptions_total", "Cumulative number of preemptions from the engine.",
          double(s.engine.preemptions));
  counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.",
          double(s.engine.prefix_queries));
  counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.",
          double(s.engine.prefix_hits));
  counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", double(prompt_tokens_));
  counter("vllm:generation_tokens_total", "Number of generation tokens processed.", double(generation_tokens_));
  header(out, "vllm:request_success_total", "counter", "Count of finished requests by finish reason.");
  for (const char* reason : {"stop", "length", "abort", "error"}) {
    auto it = finished_.find(reason);
    out += fmt::format("vllm:request_success_total{{{},finished_reason=\"{}\"}} {}\n", l, reason,
                       it == finished_.end() ? 0 : it->second);
  }
  header(out, "vllm:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.");
  ttft_.render(out, "vllm:time_to_first_token_seconds", l);
  header(out, "vllm:inter_token_latency_seconds", "histogram", "Histogram of inter-token latency in seconds.");
  itl_.render(out, "vllm:inter_token_latency_seconds", l);
  header(out, "vllm:e2e_request_latency_seconds", "histogram", "Histogram of end to end request latency in seconds.");
  e2e_.render(out, "vllm:e2e_request_latency_seconds", l);
  header(out, "vllm:request_queue_time_seconds", "histogram", "Histogram of time spent in WAITING phase for request.");
  queue_.render(out, "vllm:request_queue_time_seconds", l);
  header(out, "vllm:request_prompt_tokens", "histogram", "Number of prefill tokens processed.");
  prompt_hist_.render(out, "vllm:request_prompt_tokens", l);
  header(out, "vllm:request_generation_tokens", "histogram", "Number of generation tokens processed.");
  generation_hist_.render(out, "vllm:request_generation_tokens", l);
  // dsv4's own: the cache pools block by block, the engine's state slots and steps.
  header(out, "dsv4:cache_blocks_used", "gauge", "Cache blocks requests hold, per pool.");
  for (size_t i = 0; i < s.pool_names.size(); ++i)
    out += fmt::format("dsv4:cache_blocks_used{{{},pool=\"{}\"}} {}\n", l, s.pool_names[i], s.pool_used[i]);
  header(out, "dsv4:cache_blocks_cached", "gauge", "Cache blocks only the prefix cache holds (reused on demand), per pool.");
  for (size_t i = 0; i < s.pool_names.size() && i < s.pool_cached.size(); ++i)
    out += fmt::format("dsv4:cache_blocks_cached{{{},pool=\"{}\"}} {}\n", l, s.pool_names[i], s.pool_cached[i]);
  header(out, "dsv4:cache_blocks_total", "gauge", "Cache blocks, per pool.");
  for (size_t i = 0; i < s.pool_names.size(); ++i)
    out += fmt::format("dsv4:cache_blocks_total{{{},pool=\"{}\"}} {}\n", l, s.pool_names[i], s.pool_capacity[i]);
  gauge("dsv4:free_state_slots", "Sequence state slots free.", double(s.free_state_slots));
  counter("dsv4:engine_steps_total", "Engine steps run.", double(s.steps));
  header(out, "http_requests_total", "counter", "HTTP requests by handler and status.");
  for (const auto& [key, n] : http_)
    out += fmt::format("http_requests_total{{handler=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  return out;
}

}  // namespace dsv4::server
