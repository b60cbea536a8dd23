// bench_dequant: throughput of the GPU weight dequantization kernels (FP8 block and MXFP4 -> bf16)
// on DeepSeek-V4-Flash-sized matrices, against the device's copy bandwidth measured in the same run.
//
// Bytes moved = codes read + scales read + bf16 written; copy bandwidth = cudaMemcpy device to
// device, bytes read + written. Times are the median of repeated CUDA-event-timed batches; inputs
// rotate among several copies so that small cases are not served from L2. Each case's output is
// spot-checked against the host codec before it is timed. See README.md.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/device.h"
#include "backends/cuda/sm90/weights/dequant.h"
#include "backends/cuda/sm90/weights/dequant_codec.h"
#include "backends/cuda/sm90/weights/dequant_kernels.h"

namespace {

using namespace dsv4::cuda;

#define CUDA_CHECK(expr)                                                                          \
  do {                                                                                            \
    const cudaError_t err_ = (expr);                                                              \
    if (err_ != cudaSuccess) {                                                                    \
      std::fprintf(stderr, "bench_dequant: %s failed: %s\n", #expr, cudaGetErrorString(err_));   \
      std::exit(1);                                                                               \
    }                                                                                             \
  } while (0)

void require(const dsv4::Status& st, const char* what) {
  if (!st) {
    std::fprintf(stderr, "bench_dequant: %s: %s\n", what, st.message().c_str());
    std::exit(1);
  }
}

struct DeviceMem {
  void* p = nullptr;
  explicit DeviceMem(size_t bytes) { CUDA_CHECK(cudaMalloc(&p, bytes)); }
  ~DeviceMem() { cudaFree(p); }
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
  uint8_t* u8() const { return static_cast<uint8_t*>(p); }
};

uint64_t g_state = 0x9E3779B97F4A7C15ull;
uint64_t next_random() {  // xorshift64*
  g_state ^= g_state >> 12;
  g_state ^= g_state << 25;
  g_state ^= g_state >> 27;
  return g_state * 0x2545F4914F6CDD1Dull;
}
void fill_random(std::vector<uint8_t>& v) {
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    const uint64_t r = next_random();
    std::memcpy(&v[i], &r, 8);
  }
  for (; i < v.size(); ++i) v[i] = uint8_t(next_random());
}

// Median time in ms of one call of `batch_fn` (which queues `per_batch` kernels), over `reps`.
double median_ms(const std::function<void()>& batch_fn, int per_batch, int reps) {
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) batch_fn();  // warm-up
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    CUDA_CHECK(cudaEventRecord(start));
    batch_fn();
    CUDA_CHECK(cudaEventRecord(stop));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    t.push_back(double(ms) / per_batch);
  }
  CUDA_CHECK(cudaGetLastError());
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double copy_bandwidth_gbs(size_t bytes, int reps) {
  DeviceMem a(bytes), b(bytes);
  CUDA_CHECK(cudaMemset(a.p, 0x3C, bytes));
  const double ms = median_ms([&] { CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice)); }, 1, reps);
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
}

struct Case {
  const char* name;
  bool fp8;  // else MXFP4
  int64_t rows, cols;
};

struct Result {
  std::string name, format, shape, path;
  double mb = 0, us = 0, gbs = 0, frac = 0;
};

// Checks the first and last `n` outputs of set 0 against the host codec.
void spot_check(const Case& c, const std::vector<uint8_t>& q, const std::vector<uint8_t>& s, const uint16_t* d_out) {
  const size_t total = size_t(c.rows * c.cols);
  const size_t n = std::min<size_t>(total, 1 << 20);
  std::vector<uint16_t> head(n), tail(n);
  CUDA_CHECK(cudaMemcpy(head.data(), d_out, 2 * n, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaMemcpy(tail.data(), d_out + (total - n), 2 * n, cudaMemcpyDeviceToHost));
  auto expect = [&](size_t i) -> uint16_t {
    const int64_t r = int64_t(i) / c.cols, col = int64_t(i) % c.cols;
    if (c.fp8) return dequant_e4m3_e8m0_bf16(q[i], s[size_t((r / 128) * ((c.cols + 127) / 128) + col / 128)]);
    const uint8_t byte = q[i / 2];
    return dequant_e2m1_e8m0_bf16(uint8_t((i % 2) ? (byte >> 4) : (byte & 0xF)), s[size_t(r * (c.cols / 32) + col / 32)]);
  };
  for (size_t k = 0; k < n; ++k) {
    if (head[k] != expect(k) || tail[k] != expect(total - n + k)) {
      std::fprintf(stderr, "bench_dequant: %s output differs from the host codec near element %zu\n", c.name, k);
      std::exit(1);
    }
  }
}

std::vector<Result> run_case(const Case& c, double copy_gbs, size_t l2_bytes, int reps) {
  const size_t n = size_t(c.rows * c.cols);
  const size_t q_bytes = c.fp8 ? n : n / 2;
  const size_t s_bytes = c.fp8 ? size_t(((c.rows + 127) / 128) * ((c.cols + 127) / 128)) : n / 32;
  const size_t out_bytes = 2 * n;
  const size_t moved = q_bytes + s_bytes + out_bytes;
  // Rotate among enough input/output sets that one pass over them is 4x the L2.
  const int sets = int(std::clamp<size_t>((4 * l2_bytes + moved - 1) / moved, 1, 16));

  std::vector<uint8_t> q(q_bytes), s(s_bytes);
  fill_random(q);
  if (c.fp8)
    for (auto& b : q)
      if ((b & 0x7F) == 0x7F) b ^= 1;  // checkpoint weights hold no NaN codes
  for (auto& b : s) b = uint8_t(118 + next_random() % 12);  // scales near 2^0, as in a checkpoint

  std::vector<std::unique_ptr<DeviceMem>> dq, ds, dout;
  for (int i = 0; i < sets; ++i) {
    dq.push_back(std::make_unique<DeviceMem>(q_bytes));
    ds.push_back(std::make_unique<DeviceMem>(s_bytes));
    dout.push_back(std::make_unique<DeviceMem>(out_bytes));
    CUDA_CHECK(cudaMemcpy(dq.back()->p, q.data(), q_bytes, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(ds.back()->p, s.data(), s_bytes, cudaMemcpyHostToDevice));
  }

  // What is timed: the public launcher (the default kernel variant, both paths), then every kernel
  // variant directly (dequant_kernels.h), so that a run shows what each choice buys.
  struct Runner {
    std::string label;
    std::function<void(int)> launch;  // set index -> queue one kernel
  };
  std::vector<Runner> runners;
  auto out_of = [&](int i) { return reinterpret_cast<uint16_t*>(dout[size_t(i)]->p); };
  for (DequantPath path : {DequantPath::kPacked, DequantPath::kScalar}) {
    runners.push_back({std::string("default/") + (path == DequantPath::kPacked ? "packed" : "scalar"), [&, path](int i) {
                         if (c.fp8) {
                           Fp8BlockDequantParams p;
                           p.weight = dq[size_t(i)]->u8();
                           p.scale = ds[size_t(i)]->u8();
                           p.out = out_of(i);
                           p.rows = c.rows;
                           p.cols = c.cols;
                           p.path = path;
                           require(dequant_fp8_block_to_bf16(p, nullptr), c.name);
                         } else {
                           Mxfp4DequantParams p;
                           p.weight = dq[size_t(i)]->u8();
                           p.scale = ds[size_t(i)]->u8();
                           p.out = out_of(i);
                           p.rows = c.rows;
                           p.cols = c.cols;
                           p.path = path;
                           require(dequant_mxfp4_to_bf16(p, nullptr), c.name);
                         }
                       }});
  }
  for (bool packed : {true, false})
    for (bool staged : {true, false})
      for (int unroll : {1, 2, 4}) {
        const detail::KernelVariant v{packed, staged, unroll};
        const std::string label = std::string(packed ? "packed" : "scalar") + (staged ? "/staged" : "/direct") +
                                  "/x" + std::to_string(unroll);
        runners.push_back({label, [&, v](int i) {
                             const cudaError_t err =
                                 c.fp8 ? detail::launch_fp8_block_dequant(dq[size_t(i)]->u8(), ds[size_t(i)]->u8(),
                                                                          out_of(i), c.rows, c.cols, v, nullptr)
                                       : detail::launch_mxfp4_dequant(dq[size_t(i)]->u8(), ds[size_t(i)]->u8(),
                                                                      out_of(i), c.rows, c.cols, v, nullptr);
                             CUDA_CHECK(err);
                           }});
      }

  std::vector<Result> results;
  for (const Runner& runner : runners) {
    auto launch = runner.launch;
    CUDA_CHECK(cudaMemset(dout[0]->p, 0xA5, out_bytes));
    launch(0);
    CUDA_CHECK(cudaDeviceSynchronize());
    spot_check(c, q, s, reinterpret_cast<const uint16_t*>(dout[0]->p));
    // A batch is at least ~256 MB of traffic, so per-batch event overhead stays small.
    const int per_batch = std::max(sets, int((size_t(256) << 20) / moved));
    const double ms = median_ms([&] { for (int k = 0; k < per_batch; ++k) launch(k % sets); }, per_batch, reps);
    Result r;
    r.name = c.name;
    r.format = c.fp8 ? "fp8-block128" : "mxfp4";
    char shape[64];
    std::snprintf(shape, sizeof shape, "[%lld, %lld]", static_cast<long long>(c.rows), static_cast<long long>(c.cols));
    r.shape = shape;
    r.path = runner.label;
    r.mb = double(moved) / 1e6;
    r.us = ms * 1e3;
    r.gbs = double(moved) / (ms * 1e-3) / 1e9;
    r.frac = r.gbs / copy_gbs;
    results.push_back(r);
    std::printf("RESULT case=%s format=%s shape=%s path=%s bytes=%zu us=%.2f GBps=%.1f copy_fraction=%.3f\n",
                r.name.c_str(), r.format.c_str(), r.shape.c_str(), r.path.c_str(), moved, r.us, r.gbs, r.frac);
    std::fflush(stdout);
  }
  return results;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 30;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::max(3, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: bench_dequant [--reps N]\n");
      return 2;
    }
  }
  int n = 0;
  require(device_count(&n), "device_count");
  if (n == 0) {
    std::fprintf(stderr, "bench_dequant: no CUDA device\n");
    return 1;
  }
  DeviceInfo dev;
  require(device_info(0, &dev), "device_info");
  std::printf("device: %s, sm_%d%d, %d SMs, %.1f GiB, L2 %d KiB\n", dev.name.c_str(), dev.compute_major,
              dev.compute_minor, dev.sm_count, double(dev.total_memory) / (1 << 30), dev.l2_cache_bytes / 1024);

  const double copy_gbs = copy_bandwidth_gbs(size_t(1) << 30, reps);
  std::printf("RESULT case=copy format=cudaMemcpyD2D shape=1GiB path=- GBps=%.1f copy_fraction=1.000\n", copy_gbs);

  const Case cases[] = {
      {"wq_b", true, 32768, 1024},
      {"wo_a", true, 8192, 4096},
      {"expert.w1", false, 2048, 4096},
      {"256 experts w1", false, 256 * 2048, 4096},
  };
  std::vector<Result> all;
  for (const Case& c : cases) {
    auto r = run_case(c, copy_gbs, size_t(dev.l2_cache_bytes), reps);
    all.insert(all.end(), r.begin(), r.end());
  }

  std::printf("\ndequant -> bf16 on %s; copy bandwidth (cudaMemcpy D2D, read+write) %.1f GB/s\n", dev.name.c_str(),
              copy_gbs);
  std::printf("%-15s %-12s %-15s %-19s %9s %9s %8s %7s\n", "case", "format", "shape", "kernel", "MB moved", "time us",
              "GB/s", "of copy");
  for (const Result& r : all)
    std::printf("%-15s %-12s %-15s %-19s %9.1f %9.1f %8.1f %6.1f%%\n", r.name.c_str(), r.format.c_str(),
                r.shape.c_str(), r.path.c_str(), r.mb, r.us, r.gbs, 100.0 * r.frac);
  return 0;
}
