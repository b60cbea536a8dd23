// Small helpers shared by bench_gemm and bench_moe: device buffers, CUDA-event timing (median),
// the device-to-device copy bandwidth, a fast RNG.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "core/error.h"

namespace benchc {

#define BENCH_CUDA(expr)                                                                   \
  do {                                                                                     \
    const cudaError_t err_ = (expr);                                                       \
    if (err_ != cudaSuccess) {                                                             \
      std::fprintf(stderr, "bench: %s failed: %s\n", #expr, cudaGetErrorString(err_));     \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

inline void require(const dsv4::Status& st, const char* what) {
  if (!st) {
    std::fprintf(stderr, "bench: %s: %s\n", what, st.message().c_str());
    std::exit(1);
  }
}

struct Mem {
  void* p = nullptr;
  size_t n = 0;
  explicit Mem(size_t bytes) : n(bytes) { BENCH_CUDA(cudaMalloc(&p, bytes == 0 ? 1 : bytes)); }
  ~Mem() { cudaFree(p); }
  Mem(const Mem&) = delete;
  Mem& operator=(const Mem&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

inline uint64_t& rng_state() {
  static uint64_t s = 0x9E3779B97F4A7C15ull;
  return s;
}
inline uint64_t next_random() {
  uint64_t& s = rng_state();
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1Dull;
}
inline void fill_random(std::vector<uint8_t>& v) {
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    const uint64_t r = next_random();
    std::memcpy(v.data() + i, &r, 8);
  }
  for (; i < v.size(); ++i) v[i] = uint8_t(next_random());
}
inline float next_normalish() {  // sum of 4 uniforms, ~N(0, 1)
  float s = 0;
  for (int i = 0; i < 4; ++i) s += float(next_random() >> 40) / float(1ull << 24);
  return (s - 2.0f) * 1.732f;
}

// Median time in microseconds of `reps` single calls of run(i) (i = call index, for rotation),
// each timed with CUDA events, after `warm` untimed calls.
inline double time_us(const std::function<void(int)>& run, int reps = 15, int warm = 3) {
  cudaEvent_t a, b;
  BENCH_CUDA(cudaEventCreate(&a));
  BENCH_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < warm; ++i) run(i);
  BENCH_CUDA(cudaDeviceSynchronize());
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    BENCH_CUDA(cudaEventRecord(a));
    run(warm + i);
    BENCH_CUDA(cudaEventRecord(b));
    BENCH_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, a, b));
    t.push_back(double(ms) * 1000.0);
  }
  BENCH_CUDA(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Median µs per call of run(i, stream) replayed from a CUDA graph of `per_graph` calls (i running
// on, so rotating weights stay rotated): what a call costs inside a captured decode step, without
// the host's launch latency that time_us includes for kernels shorter than their launch.
inline double time_graph_us(const std::function<void(int, cudaStream_t)>& run, int per_graph = 20, int reps = 7) {
  cudaStream_t s;
  BENCH_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  for (int i = 0; i < 3; ++i) run(i, s);  // eager warm-up (first-call set-up stays out of the capture)
  BENCH_CUDA(cudaStreamSynchronize(s));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  BENCH_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < per_graph; ++i) run(3 + i, s);
  BENCH_CUDA(cudaStreamEndCapture(s, &graph));
  BENCH_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  BENCH_CUDA(cudaGraphLaunch(exec, s));
  BENCH_CUDA(cudaStreamSynchronize(s));
  cudaEvent_t a, b;
  BENCH_CUDA(cudaEventCreate(&a));
  BENCH_CUDA(cudaEventCreate(&b));
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    BENCH_CUDA(cudaEventRecord(a, s));
    BENCH_CUDA(cudaGraphLaunch(exec, s));
    BENCH_CUDA(cudaEventRecord(b, s));
    BENCH_CUDA(cudaEventSynchronize(b));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, a, b));
    t.push_back(double(ms) * 1000.0 / per_graph);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Device-to-device copy bandwidth (bytes read + written per second) on 1 GiB.
inline double copy_bandwidth_gbs() {
  const size_t n = size_t(1) << 30;
  Mem a(n), b(n);
  BENCH_CUDA(cudaMemset(a.p, 1, n));
  const double us = time_us([&](int) { BENCH_CUDA(cudaMemcpyAsync(b.p, a.p, n, cudaMemcpyDeviceToDevice)); }, 9, 2);
  return 2.0 * double(n) / (us * 1e-6) / 1e9;
}

}  // namespace benchc
