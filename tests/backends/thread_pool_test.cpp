#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/thread_pool.h"

namespace dsv4 {
namespace {

TEST(ThreadPool, EveryIndexRunsExactlyOnce) {
  for (size_t threads : {1u, 2u, 3u, 5u}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.threads(), threads);
    for (size_t n : {0u, 1u, 2u, 7u, 100u, 1000u}) {
      std::vector<std::atomic<int>> hits(n);
      pool.parallel_for(n, [&](size_t i) { hits[i].fetch_add(1); });
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPool, NestedLoopsRunInline) {
  ThreadPool pool(3);
  std::atomic<int> total{0};
  pool.parallel_for(8, [&](size_t) { pool.parallel_for(5, [&](size_t) { total.fetch_add(1); }); });
  EXPECT_EQ(total.load(), 40);
}

TEST(ThreadPool, ExceptionReachesCallerAndPoolStaysUsable) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(50, [](size_t i) { if (i == 17) throw std::runtime_error("job 17"); }),
               std::runtime_error);
  std::atomic<int> count{0};
  pool.parallel_for(10, [&](size_t) { count.fetch_add(1); });
  EXPECT_EQ(count.load(), 10);
}

TEST(ThreadPool, ManyConsecutiveLoops) {
  ThreadPool pool(4);
  std::atomic<long> sum{0};
  for (int rep = 0; rep < 500; ++rep) pool.parallel_for(9, [&](size_t i) { sum.fetch_add(long(i)); });
  EXPECT_EQ(sum.load(), 500L * 36);
}

}  // namespace
}  // namespace dsv4
