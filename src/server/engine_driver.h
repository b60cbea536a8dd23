// The engine driver: one thread owns the Engine and steps it continuously while any request is
// queued or live. HTTP threads submit (blocking until the engine accepted or refused the
// request) and cancel through thread-safe queues; tokens go to each call's RequestChannel as
// they are sampled. A cancelled channel's engine requests are dropped before the next step, so
// their cache blocks are free at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/engine.h"
#include "server/request_channel.h"

namespace dsv4::server {

class Metrics;

struct DriverOptions {
  int64_t max_waiting = 256;   // engine requests queued beyond the running ones; more => 429
};

// A snapshot for /metrics and /health (published by the driver thread after every step).
struct DriverStats {
  int64_t running = 0, waiting = 0;
  double kv_cache_usage = 0;              // largest used fraction over the cache pools
  std::vector<std::string> pool_names;
  // Per pool: blocks requests hold, blocks only the prefix cache holds (reused on demand), all.
  std::vector<int32_t> pool_used, pool_cached, pool_capacity;
  int32_t free_state_slots = 0;
  EngineStats engine;                     // prefix-cache queries / hits, preemptions
  int64_t steps = 0;
  bool healthy = true;
};

class EngineDriver {
 public:
  EngineDriver(std::unique_ptr<Engine> engine, DriverOptions options, Metrics* metrics);
  ~EngineDriver();
  EngineDriver(const EngineDriver&) = delete;
  EngineDriver& operator=(const EngineDriver&) = delete;

  // Queues one engine request per choice, all or none; blocks until the driver thread has
  // handed them to the engine. Throws ApiError (429 queue full, 503 shutting down, 400 when the
  // engine refuses the request).
  std::shared_ptr<RequestChannel> submit(std::vector<GenerationRequest> choices);

  // Stops taking requests; lets live ones run up to `grace`, then fails what is left; joins.
  void shutdown(std::chrono::milliseconds grace);
  DriverStats stats() const;

 private:
  struct Pending {
    std::vector<GenerationRequest> choices;
    std::shared_ptr<RequestChannel> channel;
    std::promise<void> accepted;
    std::chrono::steady_clock::time_point queued;
  };
  struct Live {
    std::shared_ptr<RequestChannel> channel;
    int choice = 0;
    std::chrono::steady_clock::time_point queued;
    bool admitted = false;
  };
  void loop();
  void take_pending();
  void drop_cancelled();
  void deliver_finished();
  void fail_all(const std::string& why);
  void publish();

  std::unique_ptr<Engine> engine_;
  DriverOptions options_;
  Metrics* metrics_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> pending_;
  bool stopping_ = false, stop_now_ = false;
  std::chrono::steady_clock::time_point deadline_;
  std::map<uint64_t, Live> live_;   // engine request id -> its channel (driver thread only)
  DriverStats stats_;
  std::thread thread_;
};

}  // namespace dsv4::server
