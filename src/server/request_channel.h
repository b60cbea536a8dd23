// What the engine driver hands back to the HTTP thread serving one API call: the events of its
// choices (one engine request each), in order per choice, through a thread-safe queue.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

#include "runtime/engine.h"

namespace dsv4::server {

struct ChoiceEvent {
  enum class Kind { Token, Finished, Failed };
  Kind kind = Kind::Token;
  int choice = 0;
  SampledToken token;        // Token
  GenerationResult result;   // Finished
  std::string error;         // Failed (engine error, or aborted at shutdown)
};

class RequestChannel {
 public:
  explicit RequestChannel(int choices) : choices_(choices) {}

  void push(ChoiceEvent event) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(std::move(event));
    }
    ready_.notify_one();
  }
  // Waits up to `timeout` for the next event; false when none came.
  bool pop(ChoiceEvent& out, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
    out = std::move(events_.front());
    events_.pop_front();
    return true;
  }
  // The client went away (or the server gave up): the driver drops the engine requests.
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  int choices() const { return choices_; }

 private:
  const int choices_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<ChoiceEvent> events_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace dsv4::server
