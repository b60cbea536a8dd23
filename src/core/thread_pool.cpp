#include "core/thread_pool.h"

#include <atomic>
#include <cstdlib>
#include <exception>

namespace dsv4 {

namespace {
thread_local bool t_inside_job = false;
}

struct ThreadPool::Loop {
  size_t n = 0;
  const std::function<void(size_t)>* fn = nullptr;
  std::atomic<size_t> next{0};
  size_t active = 0;  // workers still inside run_jobs (guarded by mutex_)
  std::exception_ptr error;
  std::mutex error_mutex;
};

ThreadPool::ThreadPool(size_t threads) {
  if (threads < 1) threads = 1;
  for (size_t i = 0; i + 1 < threads; ++i) workers_.emplace_back([this] { worker_main(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::run_jobs(Loop& loop) {
  const bool was_inside = t_inside_job;
  t_inside_job = true;
  for (;;) {
    const size_t i = loop.next.fetch_add(1);
    if (i >= loop.n) break;
    try {
      (*loop.fn)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(loop.error_mutex);
      if (!loop.error) loop.error = std::current_exception();
      loop.next.store(loop.n);  // stop handing out further jobs
    }
  }
  t_inside_job = was_inside;
}

void ThreadPool::worker_main() {
  size_t seen = 0;
  for (;;) {
    Loop* loop = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || (current_ != nullptr && generation_ != seen); });
      if (stopping_) return;
      seen = generation_;
      loop = current_;
      ++loop->active;
    }
    run_jobs(*loop);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --loop->active;
    }
    done_.notify_all();
  }
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (workers_.empty() || n == 1 || t_inside_job) {
    const bool was_inside = t_inside_job;
    t_inside_job = true;
    try {
      for (size_t i = 0; i < n; ++i) fn(i);
    } catch (...) {
      t_inside_job = was_inside;
      throw;
    }
    t_inside_job = was_inside;
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mutex_);
  Loop loop;
  loop.n = n;
  loop.fn = &fn;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = &loop;
    ++generation_;
  }
  wake_.notify_all();
  run_jobs(loop);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    current_ = nullptr;  // late workers no longer join this loop
    done_.wait(lock, [&] { return loop.active == 0; });
  }
  if (loop.error) std::rethrow_exception(loop.error);
}

ThreadPool& default_thread_pool() {
  static ThreadPool pool([] {
    if (const char* env = std::getenv("DSV4_THREADS")) {
      const long v = std::strtol(env, nullptr, 10);
      if (v >= 1) return size_t(v);
    }
    const unsigned hc = std::thread::hardware_concurrency();
    return size_t(hc == 0 ? 1 : hc);
  }());
  return pool;
}

}  // namespace dsv4
