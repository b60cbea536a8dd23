// Prometheus metrics under vLLM's names and meanings (text exposition format 0.0.4), so that
// dashboards and alerts written for vLLM read dsv4 unchanged. Every series carries
// model_name="<served model name>". Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server/engine_driver.h"

namespace dsv4::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // _bucket{le=...} (cumulative), _sum, _count lines.
  void render(std::string& out, const std::string& name, const std::string& labels) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  explicit Metrics(std::string model_name);

  void observe_queue_time(double seconds);
  void observe_first_token(double seconds);
  void observe_inter_token(double seconds);
  // A request that ended: its end-to-end latency, prompt and generated tokens, why it ended
  // (stop, length, abort, error).
  void observe_finished(double e2e_seconds, int64_t prompt_tokens, int64_t generation_tokens,
                        const std::string& finished_reason);
  void count_http(const std::string& handler, int status);

  std::string render(const DriverStats& stats) const;

 private:
  std::string labels_;
  mutable std::mutex mutex_;
  Histogram ttft_, itl_, e2e_, queue_, prompt_hist_, generation_hist_;
  uint64_t prompt_tokens_ = 0, generation_tokens_ = 0;
  std::map<std::string, uint64_t> finished_;
  std::map<std::pair<std::string, int>, uint64_t> http_;
};

}  // namespace dsv4::server
