// bench_layer_ops: time of the GPU layer ops (backends/cuda/sm90/layer_ops/) at decode (S = 1, 8,
// 32, 64) and prefill (S = 4096) sizes of DeepSeek-V4 Flash and Pro, against the device's copy
// bandwidth measured in the same run.
//
// Bytes moved = the op's essential traffic (inputs read once + outputs written; weights such as
// fn counted once). Time = median over reps of CUDA-event-timed batches of 20 launches, each launch
// on the next of several input/output copies (a pass over the copies is >= 4x the L2, up to 2 GiB
// of copies), so small cases run from HBM as they would between layers. Lines starting with RESULT
// are for scripts.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/sm90/layer_ops/compress_pool.h"
#include "backends/cuda/sm90/layer_ops/embed.h"
#include "backends/cuda/sm90/layer_ops/fake_quant_fp8.h"
#include "backends/cuda/sm90/layer_ops/fake_quant_nvfp4.h"
#include "backends/cuda/sm90/layer_ops/hadamard_fp4.h"
#include "backends/cuda/sm90/layer_ops/hyper_connection.h"
#include "backends/cuda/sm90/layer_ops/rms_norm.h"
#include "backends/cuda/sm90/layer_ops/rope.h"
#include "backends/cuda/sm90/layer_ops/route.h"
#include "backends/cuda/sm90/layer_ops/swiglu.h"
#include "backends/cuda/sm90/layer_ops/topk_indices.h"

namespace {

using namespace dsv4::cuda;

#define CUDA_CHECK(expr)                                                                             \
  do {                                                                                               \
    const cudaError_t err_ = (expr);                                                                 \
    if (err_ != cudaSuccess) {                                                                       \
      std::fprintf(stderr, "bench_layer_ops: %s failed: %s\n", #expr, cudaGetErrorString(err_));    \
      std::exit(1);                                                                                  \
    }                                                                                                \
  } while (0)

void require(const dsv4::Status& st, const char* what) {
  if (!st) {
    std::fprintf(stderr, "bench_layer_ops: %s: %s\n", what, st.message().c_str());
    std::exit(1);
  }
}

struct DeviceMem {
  void* p = nullptr;
  explicit DeviceMem(size_t bytes) { CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes)); }
  ~DeviceMem() { cudaFree(p); }
  DeviceMem(const DeviceMem&) = delete;
  DeviceMem& operator=(const DeviceMem&) = delete;
};

double median_ms(const std::function<void()>& batch_fn, int per_batch, int reps) {
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 2; ++i) batch_fn();
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

// Random N(0,1) floats on the device, tiled into arenas.
std::unique_ptr<DeviceMem> g_random;
constexpr size_t kRandomBytes = size_t(16) << 20;

void fill_random(void* dst, size_t bytes) {
  for (size_t off = 0; off < bytes; off += kRandomBytes)
    CUDA_CHECK(cudaMemcpy(static_cast<uint8_t*>(dst) + off, g_random->p, std::min(kRandomBytes, bytes - off),
                          cudaMemcpyDeviceToDevice));
}

// `copies` copies of a buffer of `bytes`, 256-byte aligned, filled with random floats.
struct Arena {
  std::shared_ptr<DeviceMem> mem;
  size_t stride = 0;
  template <typename T>
  T* at(int c) const {
    return reinterpret_cast<T*>(static_cast<uint8_t*>(mem->p) + size_t(c) * stride);
  }
};
Arena arena(size_t bytes, int copies, bool random = true) {
  Arena a;
  a.stride = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  a.mem = std::make_shared<DeviceMem>(a.stride * size_t(copies));
  if (random) fill_random(a.mem->p, a.stride * size_t(copies));
  return a;
}
template <typename T>
Arena arena_from(const std::vector<T>& host, int copies) {
  Arena a = arena(host.size() * sizeof(T), copies, false);
  for (int c = 0; c < copies; ++c)
    CUDA_CHECK(cudaMemcpy(a.at<T>(c), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return a;
}

size_t g_l2 = 50u << 20;
int copies_for(double per_call_bytes) {
  const double want = 4.0 * double(g_l2) / std::max(per_call_bytes, 1.0);
  const double cap = double(size_t(2) << 30) / std::max(per_call_bytes, 1.0);
  return int(std::clamp(std::ceil(std::min(want, cap)), 1.0, 512.0));
}

struct Result {
  std::string op, shape;
  int64_t S;
  double us, gbs, frac;
};
std::vector<Result> g_results;
double g_copy_gbs = 0;
int g_reps = 20;

// Times launch(copy) rotating over `copies`; bytes = essential traffic of one call.
void time_case(const std::string& op, const std::string& shape, int64_t S, double bytes, int copies,
               const std::function<void(int)>& launch) {
  constexpr int kPerBatch = 20;
  int next = 0;
  const double ms = median_ms(
      [&] {
        for (int i = 0; i < kPerBatch; ++i) {
          launch(next);
          next = (next + 1) % copies;
        }
      },
      kPerBatch, g_reps);
  Result r{op, shape, S, ms * 1e3, bytes / (ms * 1e-3) / 1e9, 0};
  r.frac = r.gbs / g_copy_gbs;
  std::printf("RESULT op=%s shape=%s S=%lld us=%.2f GBps=%.1f copy_frac=%.3f copies=%d\n", op.c_str(), shape.c_str(),
              static_cast<long long>(S), r.us, r.gbs, r.frac, copies);
  std::fflush(stdout);
  g_results.push_back(r);
}

__attribute__((format(printf, 1, 2))) std::string tag(const char* f, ...) {
  char b[64];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(b, sizeof b, f, ap);
  va_end(ap);
  return b;
}

const int64_t kDecode[] = {1, 8, 32, 64};
std::vector<int64_t> sizes() { return {1, 8, 32, 64, 4096}; }

void bench_rms_norm() {
  for (int64_t n : {7168, 4096, 1536, 512})
    for (int64_t S : sizes()) {
      const double bytes = 2.0 * double(S * n) * 4 + double(n) * 4;
      const int copies = copies_for(bytes);
      Arena x = arena(size_t(S * n) * 4, copies), y = arena(size_t(S * n) * 4, copies), w = arena(size_t(n) * 4, 1);
      time_case("rms_norm", tag("n%lld", static_cast<long long>(n)), S, bytes, copies, [&](int c) {
        RmsNormParams p;
        p.x = x.at<float>(c);
        p.y = y.at<float>(c);
        p.weight = w.at<float>(0);
        p.rows = S;
        p.n = p.ld = n;
        require(rms_norm(p, nullptr), "rms_norm");
      });
    }
}

void bench_rope() {
  for (int64_t heads : {64, 128})
    for (int64_t S : sizes()) {
      const int64_t ld = heads * 512;
      const double bytes = 2.0 * double(S * heads * 64) * 4;  // the rotated channels, read + written
      const int copies = copies_for(bytes);
      Arena x = arena(size_t(S * ld) * 4, copies);
      std::vector<int64_t> pos(static_cast<size_t>(S));
      for (int64_t i = 0; i < S; ++i) pos[size_t(i)] = 1000 + i;
      std::vector<float> f(32);
      for (int i = 0; i < 32; ++i) f[size_t(i)] = std::pow(10000.0f, -float(i) / 32.0f);
      Arena dp = arena_from(pos, 1), df = arena_from(f, 1);
      time_case("rope", tag("q%lldx512/rope64", static_cast<long long>(heads)), S, bytes, copies, [&](int c) {
        RopeParams p;
        p.x = x.at<float>(c);
        p.positions = dp.at<int64_t>(0);
        p.inv_freq = df.at<float>(0);
        p.rows = S;
        p.vecs = heads;
        p.row_stride = ld;
        p.vec_stride = 512;
        p.offset = 448;
        p.rope_dim = 64;
        require(rope(p, nullptr), "rope");
      });
    }
}

void bench_quant() {
  for (int variant = 0; variant < 2; ++variant)  // GEMM input 4096 block 128 fp32; KV 448 of 512 block 64 bf16
    for (int64_t S : sizes()) {
      const int64_t ld = variant == 0 ? 4096 : 512, n = variant == 0 ? 4096 : 448, block = variant == 0 ? 128 : 64;
      const double bytes = 2.0 * double(S * n) * 4;
      const int copies = copies_for(bytes);
      Arena x = arena(size_t(S * ld) * 4, copies);
      time_case("fake_quant_fp8", variant == 0 ? "4096/b128/fp32" : "448of512/b64/bf16", S, bytes, copies, [&](int c) {
        FakeQuantFp8Params p;
        p.x = x.at<float>(c);
        p.rows = S;
        p.ld = ld;
        p.n = n;
        p.block = block;
        p.bf16_out = variant == 1;
        require(fake_quant_fp8(p, nullptr), "fake_quant_fp8");
      });
    }
  for (int64_t n : {4096, 2048})
    for (int64_t S : sizes()) {
      const double bytes = 2.0 * double(S * n) * 4;
      const int copies = copies_for(bytes);
      Arena x = arena(size_t(S * n) * 4, copies);
      time_case("fake_quant_nvfp4", tag("n%lld", static_cast<long long>(n)), S, bytes, copies, [&](int c) {
        FakeQuantNvfp4Params p;
        p.x = x.at<float>(c);
        p.rows = S;
        p.n = n;
        p.input_scale = 0.01f;
        require(fake_quant_nvfp4(p, nullptr), "fake_quant_nvfp4");
      });
    }
  for (int64_t S : sizes()) {  // indexer q: 64 heads x 128 per token
    const int64_t rows = S * 64;
    const double bytes = 2.0 * double(rows * 128) * 4;
    const int copies = copies_for(bytes);
    Arena x = arena(size_t(rows * 128) * 4, copies);
    time_case("hadamard_fp4", "64x128", S, bytes, copies, [&](int c) {
      HadamardFp4Params p;
      p.x = x.at<float>(c);
      p.rows = rows;
      p.n = 128;
      require(hadamard_fp4(p, nullptr), "hadamard_fp4");
    });
  }
}

void bench_hc() {
  for (int64_t d : {4096, 7168})
    for (int64_t S : sizes()) {
      const int64_t W = 4 * d;
      const double fn_bytes = 24.0 * double(W) * 4;
      const double bytes = double(S * W) * 4 + fn_bytes + double(S * (d + 4 + 16)) * 4;
      const int copies = copies_for(bytes);
      Arena X = arena(size_t(S * W) * 4, copies), fn = arena(size_t(24 * W) * 4, copies);
      Arena a = arena(size_t(S * d) * 4, copies, false), post = arena(size_t(S * 4) * 4, copies, false),
            comb = arena(size_t(S * 16) * 4, copies, false);
      Arena sc = arena_from(std::vector<float>{0.01f, 0.01f, 0.01f}, 1), base = arena(24 * 4, 1);
      const size_t wsb = hc_pre_workspace_bytes(S, d);
      Arena ws = arena(wsb, 1, false);
      time_case("hc_pre", tag("d%lld", static_cast<long long>(d)), S, bytes, copies, [&](int c) {
        HcPreParams p;
        p.X = X.at<float>(c);
        p.fn = fn.at<float>(c);
        p.scale = sc.at<float>(0);
        p.base = base.at<float>(0);
        p.a_in = a.at<float>(c);
        p.post = post.at<float>(c);
        p.comb = comb.at<float>(c);
        p.workspace = ws.at<void>(0);
        p.workspace_bytes = wsb;
        p.S = S;
        p.d = d;
        require(hc_pre(p, nullptr), "hc_pre");
      });
      time_case("hc_pre/parallel_sinkhorn", tag("d%lld", static_cast<long long>(d)), S, bytes, copies, [&](int c) {
        HcPreParams p;
        p.X = X.at<float>(c);
        p.fn = fn.at<float>(c);
        p.scale = sc.at<float>(0);
        p.base = base.at<float>(0);
        p.a_in = a.at<float>(c);
        p.post = post.at<float>(c);
        p.comb = comb.at<float>(c);
        p.workspace = ws.at<void>(0);
        p.workspace_bytes = wsb;
        p.S = S;
        p.d = d;
        p.parallel_sinkhorn = true;
        require(hc_pre(p, nullptr), "hc_pre");
      });
      const double hbytes = double(S * W) * 4 + 4.0 * double(W) * 4 + double(S * d) * 4;
      const size_t wsh = hc_head_workspace_bytes(S, d);
      time_case("hc_head", tag("d%lld", static_cast<long long>(d)), S, hbytes, copies, [&](int c) {
        HcHeadParams p;
        p.X = X.at<float>(c);
        p.fn = fn.at<float>(c);
        p.scale = sc.at<float>(0);
        p.base = base.at<float>(0);
        p.y = a.at<float>(c);
        p.workspace = ws.at<void>(0);
        p.workspace_bytes = wsh;
        p.S = S;
        p.d = d;
        require(hc_head(p, nullptr), "hc_head");
      });
      const double pbytes = double(S * d) * 4 + 2.0 * double(S * W) * 4;
      Arena Xo = arena(size_t(S * W) * 4, copies, false);
      time_case("hc_post", tag("d%lld", static_cast<long long>(d)), S, pbytes, copies, [&](int c) {
        HcPostParams p;
        p.f = a.at<float>(c);
        p.X = X.at<float>(c);
        p.post = post.at<float>(c);
        p.comb = comb.at<float>(c);
        p.Xout = Xo.at<float>(c);
        p.S = S;
        p.d = d;
        require(hc_post(p, nullptr), "hc_post");
      });
    }
}

void bench_moe() {
  for (int64_t E : {256, 384})
    for (int64_t S : sizes()) {
      const double bytes = double(S * E) * 8 + double(S * 6) * 8;
      const int copies = copies_for(bytes);
      Arena lg = arena(size_t(S * E) * 4, copies), bias = arena(size_t(E) * 4, 1);
      Arena sc = arena(size_t(S * E) * 4, copies, false), ids = arena(size_t(S * 6) * 4, copies, false),
            w = arena(size_t(S * 6) * 4, copies, false);
      time_case("route", tag("E%lld/k6/bias", static_cast<long long>(E)), S, bytes, copies, [&](int c) {
        RouteParams p;
        p.logits = lg.at<float>(c);
        p.bias = bias.at<float>(0);
        p.S = S;
        p.E = E;
        p.k = 6;
        p.route_scale = 1.5f;
        p.scores = sc.at<float>(c);
        p.ids = ids.at<int32_t>(c);
        p.weights = w.at<float>(c);
        require(route(p, nullptr), "route");
      });
    }
  for (int64_t I : {2048, 3072})
    for (int64_t S : sizes()) {
      const int64_t M = S * 6;  // routed tokens x experts
      const double bytes = 3.0 * double(M * I) * 4;
      const int copies = copies_for(bytes);
      Arena g = arena(size_t(M * I) * 4, copies), u = arena(size_t(M * I) * 4, copies),
            h = arena(size_t(M * I) * 4, copies, false), rw = arena(size_t(M) * 4, 1);
      time_case("swiglu", tag("I%lld/M=6S", static_cast<long long>(I)), S, bytes, copies, [&](int c) {
        SwigluParams p;
        p.g = g.at<float>(c);
        p.u = u.at<float>(c);
        p.h = h.at<float>(c);
        p.row_weight = rw.at<float>(0);
        p.M = M;
        p.I = I;
        p.limit = 10.0f;
        require(swiglu(p, nullptr), "swiglu");
      });
    }
}

void bench_embed() {
  const int64_t vocab = 129280;
  for (int64_t d : {4096, 7168}) {
    Arena table = arena(size_t(vocab * d) * 2, 1);
    for (int64_t S : sizes()) {
      const double bytes = double(S * d) * 2 + 4.0 * double(S * d) * 4;
      const int copies = copies_for(bytes);
      std::vector<int64_t> ids(static_cast<size_t>(S));
      std::mt19937_64 rng(7);
      for (auto& v : ids) v = int64_t(rng() % uint64_t(vocab));
      Arena di = arena_from(ids, 1), X = arena(size_t(S * 4 * d) * 4, copies, false);
      time_case("embed", tag("d%lld/n4", static_cast<long long>(d)), S, bytes, copies, [&](int c) {
        EmbedParams p;
        p.table = table.at<uint16_t>(0);
        p.ids = di.at<int64_t>(0);
        p.X = X.at<float>(c);
        p.T = S;
        p.vocab = vocab;
        p.d = d;
        p.n = 4;
        require(embed(p, nullptr), "embed");
      });
    }
  }
}

void bench_topk() {
  struct C {
    int64_t S, Ne, k;
  };
  std::vector<C> cases;
  for (int64_t k : {512, 1024}) {
    for (int64_t S : kDecode) cases.push_back({S, 262144, k});
    cases.push_back({4096, 65536, k});
  }
  for (const C& c : cases) {
    const double bytes = double(c.S * c.Ne) * 4 + double(c.S * c.k) * 4;
    const int copies = copies_for(bytes);
    Arena s = arena(size_t(c.S * c.Ne) * 4, copies), sel = arena(size_t(c.S * c.k) * 4, copies, false);
    time_case("topk_indices", tag("Ne%lld/k%lld", static_cast<long long>(c.Ne), static_cast<long long>(c.k)), c.S, bytes, copies,
              [&](int i) {
                TopkIndicesParams p;
                p.score = s.at<float>(i);
                p.sel = sel.at<int32_t>(i);
                p.S = c.S;
                p.Ne = c.Ne;
                p.k = c.k;
                require(topk_indices(p, nullptr), "topk_indices");
              });
    time_case("topk_indices/batched_loads", tag("Ne%lld/k%lld", static_cast<long long>(c.Ne), static_cast<long long>(c.k)), c.S, bytes, copies,
              [&](int i) {
                TopkIndicesParams p;
                p.score = s.at<float>(i);
                p.sel = sel.at<int32_t>(i);
                p.S = c.S;
                p.Ne = c.Ne;
                p.k = c.k;
                p.batched_loads = true;
                require(topk_indices(p, nullptr), "topk_indices");
              });
  }
}

void bench_compress() {
  for (int64_t S : sizes()) {
    const int64_t T = S < 4 ? 4 : S;  // at least one window
    const int64_t Dc = 512, width = 2 * Dc;
    const double bytes = 2.0 * double(T * width) * 4 + double(T / 4 * Dc) * 4;
    const int copies = copies_for(bytes);
    Arena kv = arena(size_t(T * width) * 4, copies), g = arena(size_t(T * width) * 4, copies),
          ape = arena(size_t(4 * width) * 4, 1), E = arena(size_t(T / 4 * Dc) * 4, copies, false);
    time_case("compress_pool", "ratio4/overlap/Dc512", T, bytes, copies, [&](int c) {
      DenseCompressPoolParams p;
      p.kv = kv.at<float>(c);
      p.gate = g.at<float>(c);
      p.ape = ape.at<float>(0);
      p.E = E.at<float>(c);
      p.S = T;
      p.Dc = Dc;
      p.ratio = 4;
      p.overlap = true;
      require(compress_pool(p, nullptr), "compress_pool");
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) g_reps = std::max(3, std::atoi(argv[++i]));
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
  }
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  g_l2 = size_t(prop.l2CacheSize);
  std::printf("device: %s, %d SMs, L2 %zu MiB\n", prop.name, prop.multiProcessorCount, g_l2 >> 20);
  {
    std::vector<float> r(kRandomBytes / 4);
    std::mt19937_64 rng(1234);
    std::normal_distribution<float> nd;
    for (auto& v : r) v = nd(rng);
    g_random = std::make_unique<DeviceMem>(kRandomBytes);
    CUDA_CHECK(cudaMemcpy(g_random->p, r.data(), kRandomBytes, cudaMemcpyHostToDevice));
  }
  g_copy_gbs = copy_bandwidth_gbs(size_t(1) << 30, 10);
  std::printf("RESULT op=copy_d2d bytes=1GiB GBps=%.1f (read + written)\n", g_copy_gbs);
  auto want = [&](const char* name) { return only.empty() || only.find(name) != std::string::npos; };
  if (want("rms_norm")) bench_rms_norm();
  if (want("rope")) bench_rope();
  if (want("quant")) bench_quant();
  if (want("hc")) bench_hc();
  if (want("moe")) bench_moe();
  if (want("embed")) bench_embed();
  if (want("topk")) bench_topk();
  if (want("compress")) bench_compress();
  std::printf("\n| op | shape | S | µs | GB/s | of copy BW |\n|---|---|---|---|---|---|\n");
  for (const auto& r : g_results)
    std::printf("| %s | %s | %lld | %.2f | %.1f | %.2f |\n", r.op.c_str(), r.shape.c_str(),
                static_cast<long long>(r.S), r.us, r.gbs, r.frac);
  return 0;
}
