// The GPU sampling algorithm (backends/cuda/sm90/sample/sample_row.h) run on host threads — one
// std::thread per CUDA thread, a barrier for __syncthreads, atomics for the shared-memory
// histograms — against the CPU reference. No GPU needed: this checks the radix selects, the tie
// ranks, the fixed-point top-p cut and the block-scanned inverse CDF everywhere CI runs; the GPU
// test (sample_test.cpp) checks the same cases on the device.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "backends/cuda/sm90/sample/sample_row.h"
#include "cuda/sample_test_support.h"
#include "support/test_support.h"

namespace dsv4::test {
namespace {

using cuda::sample::Shared;

// The state of one emulated block.
struct HostGroup {
  explicit HostGroup(int threads) : n(threads), bar(threads), slots(size_t(threads)) {}
  int n;
  std::barrier<> bar;
  Shared s{};
  std::vector<uint64_t> slots;  // one 8-byte slot per thread for reductions and scans
};

class HostBlock {
 public:
  HostBlock(HostGroup& g, int t) : g_(g), t_(t) {}
  int tid() const { return t_; }
  int threads() const { return g_.n; }
  void sync() { g_.bar.arrive_and_wait(); }
  Shared& sh() { return g_.s; }
  template <class T, class Op>
  T reduce(T v, Op op) {
    put(v);
    sync();
    T r = get<T>(0);
    for (int i = 1; i < g_.n; ++i) r = op(r, get<T>(i));
    sync();
    return r;
  }
  template <class T>
  T exclusive_scan(T v, T* total) {
    put(v);
    sync();
    T before = T(0), all = T(0);
    for (int i = 0; i < g_.n; ++i) {
      if (i < t_) before = before + get<T>(i);
      all = all + get<T>(i);
    }
    sync();
    *total = all;
    return before;
  }
  template <class T>
  T atomic_add(T* p, T v) {
    return std::atomic_ref<T>(*p).fetch_add(v);
  }

 private:
  template <class T>
  void put(T v) {
    uint64_t u = 0;
    std::memcpy(&u, &v, sizeof(T));
    g_.slots[size_t(t_)] = u;
  }
  template <class T>
  T get(int i) const {
    T v;
    std::memcpy(&v, &g_.slots[size_t(i)], sizeof(T));
    return v;
  }
  HostGroup& g_;
  int t_;
};

std::vector<SampledRow> emulate(const SampleCase& c, int threads) {
  std::vector<SampledRow> out(c.rows.size());
  const SampleArgs a = c.host_args(out.data());
  std::vector<float> y(size_t(c.V));
  for (size_t r = 0; r < out.size(); ++r) {
    auto g = std::make_unique<HostGroup>(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        HostBlock blk(*g, t);
        cuda::sample::sample_row(blk, a, int64_t(r), y.data());
      });
    for (std::thread& th : pool) th.join();
  }
  return out;
}

TEST(SampleEmulation, TheGpuAlgorithmMatchesTheCpuReference) {
  const uint64_t seed = fresh_seed("SampleEmulation");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  SampleCompare stats;
  for (int64_t V : {1, 2, 7, 33, 64, 65, 200, 1000, 4099})
    for (int threads : {32, 64}) {
      const SampleCase c = make_sample_case(rng, V, V >= 1000 ? 6 : 12);
      expect_rows_match(c, emulate(c, threads), reference_rows(c),
                        "emulated (" + std::to_string(threads) + " threads)", stats);
    }
  std::printf("[sample emulation] %lld rows: %lld greedy, %lld sampled (%lld CDF-boundary ties), %lld errors\n",
              static_cast<long long>(stats.rows), static_cast<long long>(stats.greedy),
              static_cast<long long>(stats.sampled), static_cast<long long>(stats.ties),
              static_cast<long long>(stats.errors));
  EXPECT_GT(stats.sampled, 0);
  EXPECT_GT(stats.greedy, 0);
}

}  // namespace
}  // namespace dsv4::test
