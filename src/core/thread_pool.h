// A small fixed-size thread pool for data-parallel loops (the CPU backend's only threading).
//
// parallel_for(n, fn) runs fn(i) for i in [0, n), spread over the workers and the calling thread,
// and returns when all are done. Jobs are handed out one index at a time (callers choose coarse
// jobs). A parallel_for issued from inside a job runs inline on that thread, so nesting is safe.
// The first exception thrown by a job is rethrown in the caller after the loop has drained.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dsv4 {

class ThreadPool {
 public:
  // threads = total number of threads working on a loop, the caller included (>= 1).
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t threads() const { return workers_.size() + 1; }
  void parallel_for(size_t n, const std::function<void(size_t)>& fn);

 private:
  struct Loop;
  void worker_main();
  void run_jobs(Loop& loop);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  Loop* current_ = nullptr;
  size_t generation_ = 0;
  bool stopping_ = false;
  std::mutex submit_mutex_;  // one loop at a time from outside the pool
};

// The process-wide pool: DSV4_THREADS threads if set, else std::thread::hardware_concurrency().
ThreadPool& default_thread_pool();

}  // namespace dsv4
