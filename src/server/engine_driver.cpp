#include "server/engine_driver.h"

#include <cstdio>

#include "core/error.h"
#include "server/api_error.h"
#include "server/metrics.h"

namespace dsv4::server {

using Clock = std::chrono::steady_clock;

EngineDriver::EngineDriver(std::unique_ptr<Engine> engine, DriverOptions options, Metrics* metrics)
    : engine_(std::move(engine)), options_(options), metrics_(metrics) {
  publish();
  thread_ = std::thread([this] { loop(); });
}

EngineDriver::~EngineDriver() { shutdown(std::chrono::milliseconds(0)); }

std::shared_ptr<RequestChannel> EngineDriver::submit(std::vector<GenerationRequest> choices) {
  auto channel = std::make_shared<RequestChannel>(int(choices.size()));
  std::future<void> accepted;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) throw ApiError(503, "the server is shutting down");
    int64_t queued = stats_.waiting;
    for (const Pending& p : pending_) queued += int64_t(p.choices.size());
    if (queued + int64_t(choices.size()) > options_.max_waiting)
      throw ApiError(429, fmt::format("the request queue is full ({} waiting); retry later", queued), "", "rate_limit_error",
                     "queue_full");
    Pending p{std::move(choices), channel, {}, Clock::now()};
    accepted = p.accepted.get_future();
    pending_.push_back(std::move(p));
  }
  wake_.notify_one();
  accepted.get();  // rethrows the engine's refusal
  return channel;
}

void EngineDriver::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ = Clock::now() + grace;
    } else {
      deadline_ = std::min(deadline_, Clock::now() + grace);
    }
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

DriverStats EngineDriver::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void EngineDriver::take_pending() {
  std::deque<Pending> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(pending_);
  }
  for (Pending& p : batch) {
    std::vector<uint64_t> ids;
    try {
      for (size_t c = 0; c < p.choices.size(); ++c) {
        std::shared_ptr<RequestChannel> ch = p.channel;
        const int choice = int(c);
        const uint64_t id = engine_->submit(std::move(p.choices[c]), [ch, choice](uint64_t, const SampledToken& t) {
          ChoiceEvent e;
          e.kind = ChoiceEvent::Kind::Token;
          e.choice = choice;
          e.token = t;
          ch->push(std::move(e));
        });
        ids.push_back(id);
        live_[id] = Live{p.channel, choice, p.queued, false};
      }
      p.accepted.set_value();
    } catch (const Error& e) {
      for (uint64_t id : ids) {
        engine_->cancel(id);
        live_.erase(id);
      }
      p.accepted.set_exception(std::make_exception_ptr(ApiError(400, e.message())));
    }
  }
}

void EngineDriver::drop_cancelled() {
  for (auto it = live_.begin(); it != live_.end();) {
    if (it->second.channel->cancelled()) {
      engine_->cancel(it->first);
      it = live_.erase(it);
    } else {
      ++it;
    }
  }
}

void EngineDriver::deliver_finished() {
  const Clock::time_point now = Clock::now();
  for (auto& [id, l] : live_)
    if (!l.admitted && !engine_->is_waiting(id)) {
      l.admitted = true;
      if (metrics_) metrics_->observe_queue_time(std::chrono::duration<double>(now - l.queued).count());
    }
  for (GenerationResult& r : engine_->take_finished()) {
    auto it = live_.find(r.request);
    if (it == live_.end()) continue;
    ChoiceEvent e;
    e.kind = ChoiceEvent::Kind::Finished;
    e.choice = it->second.choice;
    e.result = std::move(r);
    it->second.channel->push(std::move(e));
    live_.erase(it);
  }
}

void EngineDriver::fail_all(const std::string& why) {
  for (auto& [id, l] : live_) {
    engine_->cancel(id);
    ChoiceEvent e;
    e.kind = ChoiceEvent::Kind::Failed;
    e.choice = l.choice;
    e.error = why;
    l.channel->push(std::move(e));
  }
  live_.clear();
}

void EngineDriver::publish() {
  DriverStats s;
  s.running = engine_->live_sequences();
  s.waiting = engine_->waiting_sequences();
  const CacheManager& m = engine_->cache().manager;
  for (size_t p = 0; p < m.pool_count(); ++p) {
    const BlockPool& pool = m.pool(p);
    s.pool_names.push_back(pool.name());
    // Blocks only the prefix cache holds count as free (vLLM's meaning: they are reused on demand).
    const int32_t held = pool.used_blocks() - pool.evictable_blocks();
    s.pool_used.push_back(held);
    s.pool_cached.push_back(pool.evictable_blocks());
    s.pool_capacity.push_back(pool.capacity());
    if (pool.capacity() > 0) s.kv_cache_usage = std::max(s.kv_cache_usage, double(held) / pool.capacity());
  }
  s.free_state_slots = m.free_state_slots();
  s.engine = engine_->stats();
  std::lock_guard<std::mutex> lock(mutex_);
  s.steps = stats_.steps;
  s.healthy = stats_.healthy;
  stats_ = std::move(s);
}

void EngineDriver::loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !pending_.empty() || !live_.empty(); });
      if (stopping_ && (live_.empty() || Clock::now() >= deadline_)) {
        // Refuse what is still pending, fail what is still live.
        for (Pending& p : pending_) p.accepted.set_exception(std::make_exception_ptr(ApiError(503, "the server is shutting down")));
        pending_.clear();
        lock.unlock();
        fail_all("aborted: the server is shutting down");
        publish();
        return;
      }
    }
    take_pending();
    drop_cancelled();
    if (!live_.empty()) {
      try {
        engine_->step();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "[serve] engine step failed: %s\n", e.what());
        fail_all(std::string("engine error: ") + e.what());
        std::lock_guard<std::mutex> lock(mutex_);
        stats_.healthy = false;
      }
      deliver_finished();
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++stats_.steps;
      }
    }
    publish();
  }
}

}  // namespace dsv4::server
