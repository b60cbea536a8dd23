// bench_paged: the paged cache-side ops on the GPU (backends/cuda/sm90/paged/): sparse attention
// decode over the window + compressed keys (Flash: 64 heads, D = 512; CSA at 8K context and HCA
// at 64K, 128 window + 512 compressed keys per token), the indexer (scores + top-512 over 2K /
// 16K visible entries), and the stores. Reports the median of CUDA-event-timed runs, the bytes
// of KV / keys read per call (each token reads its own keys, spread over a pool larger than L2),
// GB/s and the fraction of the device-to-device copy bandwidth measured in the same run.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "backends/cpu/cpu_paged.h"
#include "backends/cuda/device.h"
#include "backends/cuda/sm90/paged/indexer_topk.h"
#include "backends/cuda/sm90/paged/kv_store.h"
#include "backends/cuda/sm90/paged/paged_attention.h"

namespace {

using namespace dsv4;

#define CUDA_CHECK(expr)                                                                        \
  do {                                                                                          \
    const cudaError_t err_ = (expr);                                                            \
    if (err_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "bench_paged: %s failed: %s\n", #expr, cudaGetErrorString(err_));   \
      std::exit(1);                                                                             \
    }                                                                                           \
  } while (0)

void require(const Status& st, const char* what) {
  if (!st) {
    std::fprintf(stderr, "bench_paged: %s: %s\n", what, st.message().c_str());
    std::exit(1);
  }
}

struct Mem {
  void* p = nullptr;
  explicit Mem(size_t bytes) { CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 16 : bytes)); }
  ~Mem() { cudaFree(p); }
  Mem(const Mem&) = delete;
  Mem& operator=(const Mem&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

template <typename T>
void upload(const Mem& m, const std::vector<T>& v) {
  CUDA_CHECK(cudaMemcpy(m.p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
}

double median_ms(const std::function<void()>& fn, int reps) {
  cudaEvent_t a, b;
  CUDA_CHECK(cudaEventCreate(&a));
  CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) fn();
  CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    CUDA_CHECK(cudaEventRecord(a));
    fn();
    CUDA_CHECK(cudaEventRecord(b));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  CUDA_CHECK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::mt19937_64 g_rng(12345);
std::vector<float> normals(size_t n, float sd) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}
int32_t rand_below(int64_t n) { return int32_t(std::uniform_int_distribution<int64_t>(0, n - 1)(g_rng)); }

double g_copy_gbs = 0;
void report(const char* op, const char* cs, const char* fmt, int64_t T, double bytes, double ms) {
  const double gbs = bytes / (ms * 1e-3) / 1e9;
  std::printf("RESULT op=%s case=%s format=%s T=%lld MB=%.2f us=%.1f GBps=%.1f copy_fraction=%.3f\n", op, cs, fmt,
              (long long)T, bytes / 1e6, ms * 1e3, gbs, gbs / g_copy_gbs);
}

void bench_attention(const char* cs, KvFormat f, int64_t T, int64_t ctx, int reps,
                     cuda::PagedAttentionKernel kernel = cuda::PagedAttentionKernel::kAuto) {
  const int64_t H = 64, D = 512, rd = 64, Wn = 128, comp = ctx >= (int64_t(1) << 20) ? 8192 : 512;  // HCA at 1M: 8192
  const int64_t bytes = kv_slot_bytes(f, D, rd);
  // Pools: each token's keys are distinct random slots of pools of >= 256 MB, so nothing stays in L2.
  const int64_t win_slots = std::max<int64_t>(T * Wn * 4, (int64_t(256) << 20) / bytes);
  const int64_t comp_slots = std::max<int64_t>(T * ctx / 4, (int64_t(256) << 20) / bytes);
  Mem win_pool(size_t(win_slots * bytes)), comp_pool(size_t(comp_slots * bytes));
  CUDA_CHECK(cudaMemset(win_pool.p, 0x11, size_t(win_slots * bytes)));
  CUDA_CHECK(cudaMemset(comp_pool.p, 0x22, size_t(comp_slots * bytes)));
  std::vector<int32_t> win(size_t(T * Wn)), cidx(size_t(T * comp)), ccount(static_cast<size_t>(T), int32_t(comp));
  for (auto& v : win) v = rand_below(win_slots);
  for (auto& v : cidx) v = rand_below(comp_slots);
  Mem dq(size_t(T * H * D) * 4), dsink(size_t(H) * 4), dout(size_t(T * H * D) * 4), dwin(win.size() * 4),
      dcomp(cidx.size() * 4), dcc(ccount.size() * 4);
  upload(dq, normals(size_t(T * H * D), 0.3f));
  upload(dsink, normals(size_t(H), 1.0f));
  upload(dwin, win);
  upload(dcomp, cidx);
  upload(dcc, ccount);
  const size_t sb = cuda::paged_attention_scratch_bytes(T, H, D, Wn, comp);
  Mem scratch(sb);
  PagedAttentionParams p;
  p.q = dq.as<float>(), p.sink = dsink.as<float>(), p.win_pool = win_pool.p, p.call_kv = nullptr, p.win = dwin.as<int32_t>();
  p.Wn = Wn, p.comp_pool = comp_pool.p, p.comp = dcomp.as<int32_t>(), p.comp_count = dcc.as<int32_t>();
  p.comp_stride = comp, p.format = f, p.T = T, p.H = H, p.D = D, p.rope_dim = rd, p.scale = 0.044f;
  p.out = dout.as<float>(), p.win_pool_slots = win_slots, p.comp_pool_slots = comp_slots, p.scratch = scratch.p;
  p.scratch_bytes = sb;
  require(cuda::check_paged_attention(p), "paged_attention");
  const double ms = median_ms([&] { require(cuda::paged_attention(p, nullptr, kernel), "paged_attention"); }, reps);
  report(kernel == cuda::PagedAttentionKernel::kPerWarp ? "paged_attention_perwarp"
         : kernel == cuda::PagedAttentionKernel::kTiled  ? "paged_attention_tiled"
                                                         : "paged_attention", cs, f == KvFormat::F32 ? "F32" : "Fp8Ds", T, double(T * (Wn + comp) * bytes), ms);
}

void bench_indexer(const char* cs, int64_t T, int64_t ctx, int reps) {
  const int64_t nh = 64, hd = 128, E = 32, topk = 512, vis = ctx / 4, blocks = vis / E;
  const int64_t kbytes = key_slot_bytes(KeyFormat::Mxfp4, hd);
  const int64_t pool_blocks = std::max<int64_t>(T * blocks, (int64_t(256) << 20) / (kbytes * E));
  Mem pool(size_t(pool_blocks * E * kbytes));
  CUDA_CHECK(cudaMemset(pool.p, 0x35, size_t(pool_blocks * E * kbytes)));  // scales 0x35: finite
  std::vector<int32_t> seg(static_cast<size_t>(T)), visible(static_cast<size_t>(T), int32_t(vis)), table(size_t(T * blocks));
  for (int64_t t = 0; t < T; ++t) seg[size_t(t)] = int32_t(t);
  for (auto& b : table) b = rand_below(pool_blocks);
  Mem dq(size_t(T * nh * hd) * 4), dw(size_t(T * nh) * 4), dseg(seg.size() * 4), dvis(visible.size() * 4),
      dtab(table.size() * 4), dsel(size_t(T * topk) * 4), dcount(size_t(T) * 4);
  upload(dq, normals(size_t(T * nh * hd), 1.0f));
  upload(dw, normals(size_t(T * nh), 0.05f));
  upload(dseg, seg);
  upload(dvis, visible);
  upload(dtab, table);
  const size_t sb = cuda::indexer_topk_scratch_bytes(T, vis);
  Mem scratch(sb);
  IndexerTopkParams p;
  p.q = dq.as<float>(), p.wts = dw.as<float>(), p.key_pool = pool.p, p.format = KeyFormat::Mxfp4;
  p.seg = dseg.as<int32_t>(), p.visible = dvis.as<int32_t>(), p.table = dtab.as<int32_t>(), p.table_stride = blocks;
  p.entries_per_block = E, p.T = T, p.nh = nh, p.hd = hd, p.topk = topk, p.sel = dsel.as<int32_t>();
  p.count = dcount.as<int32_t>(), p.key_pool_slots = pool_blocks * E, p.segments = T, p.max_visible = vis;
  p.scratch = scratch.p, p.scratch_bytes = sb;
  require(cuda::check_indexer_topk(p), "indexer_topk");
  const double ms = median_ms([&] { require(cuda::indexer_topk(p, nullptr), "indexer_topk"); }, reps);
  report("indexer_topk", cs, "Mxfp4", T, double(T * vis * kbytes), ms);
  const double tflops = 2.0 * double(T) * double(vis) * double(nh) * double(hd) / (ms * 1e-3) / 1e12;
  std::printf("      indexer fp32 rate: %.2f TFLOP/s (score FMAs)\n", tflops);
}

void bench_stores(int64_t n, int reps) {
  const int64_t D = 512, rd = 64, hd = 128;
  const int64_t pool_slots = n * 4;
  std::vector<int32_t> slots(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) slots[size_t(i)] = int32_t(i * 4 + 1);
  Mem dv(size_t(n * D) * 4), dk(size_t(n * hd) * 4), ds(size_t(n) * 4);
  upload(dv, normals(size_t(n * D), 1.0f));
  upload(dk, normals(size_t(n * hd), 1.0f));
  upload(ds, slots);
  Mem kvpool(size_t(pool_slots * 584)), kpool(size_t(pool_slots * 72));
  KvStoreParams kp{dv.as<float>(), ds.as<int32_t>(), n, D, rd, KvFormat::Fp8Ds, kvpool.p, pool_slots};
  double ms = median_ms([&] { require(cuda::kv_store(kp, nullptr), "kv_store"); }, reps);
  report("kv_store", "store", "Fp8Ds", n, double(n * (D * 4 + 584)), ms);
  KeyStoreParams kk{dk.as<float>(), ds.as<int32_t>(), n, hd, KeyFormat::Mxfp4, kpool.p, pool_slots};
  ms = median_ms([&] { require(cuda::key_store(kk, nullptr), "key_store"); }, reps);
  report("key_store", "store", "Mxfp4", n, double(n * (hd * 4 + 72)), ms);
}

}  // namespace

int main() {
  cuda::DeviceInfo dev;
  int count = 0;
  require(cuda::device_count(&count), "device_count");
  if (count == 0) {
    std::printf("bench_paged: no CUDA device\n");
    return 0;
  }
  require(cuda::device_info(0, &dev), "device_info");
  std::printf("device: %s, %d SMs, L2 %d KiB\n", dev.name.c_str(), dev.sm_count, dev.l2_cache_bytes / 1024);
  const int reps = 20;
  {
    const size_t bytes = size_t(1) << 30;
    Mem a(bytes), b(bytes);
    CUDA_CHECK(cudaMemset(a.p, 1, bytes));
    const double ms = median_ms([&] { CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice)); }, reps);
    g_copy_gbs = 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
    std::printf("RESULT op=copy case=D2D-1GiB format=- T=0 GBps=%.1f copy_fraction=1.000\n", g_copy_gbs);
  }
  for (int64_t T : {1, 8, 32, 64}) {
    bench_attention("CSA-8K", KvFormat::Fp8Ds, T, 8192, reps);
    bench_attention("HCA-64K", KvFormat::Fp8Ds, T, 65536, reps);
    bench_attention("CSA-8K", KvFormat::F32, T, 8192, reps);
    bench_attention("CSA-8K", KvFormat::Fp8Ds, T, 8192, reps, cuda::PagedAttentionKernel::kPerWarp);
    bench_attention("CSA-8K", KvFormat::F32, T, 8192, reps, cuda::PagedAttentionKernel::kTiled);
  }
  for (int64_t T : {1, 8}) bench_attention("HCA-1M", KvFormat::Fp8Ds, T, 1 << 20, reps);
  for (int64_t T : {1, 64}) bench_attention("prefill-8K", KvFormat::Fp8Ds, T * 64, 8192, 5);
  for (int64_t T : {1, 8, 64}) {
    bench_indexer("8K", T, 8192, reps);
    bench_indexer("64K", T, 65536, reps);
  }
  bench_stores(64, reps);
  bench_stores(8192, reps);
  return 0;
}
