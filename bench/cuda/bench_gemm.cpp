// bench_gemm: GPU linear (backends/cuda/sm90/gemm/linear.h) on DeepSeek-V4 Flash and Pro shapes at
// decode (M = 1, 8, 32, 64) and prefill (M = 4096) sizes, official FP8 numerics (FP8Block weights,
// fused §9.1 activation quant, mma.sync e4m3) and, at decode sizes, the exact fp32 path.
// Prints per case: median µs per call replayed from a CUDA graph (as in a captured decode step; the
// calls rotate among weight copies, >= 400 MB per graph, past L2), weight GB/s and
// its fraction of the device-to-device copy bandwidth (read + write) measured in the same run,
// TFLOP/s. The cuBLASLt FP8 reference rates come from gemm_baseline.py (PyTorch's cuBLASLt) in
// the same device session (run.sh).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/sm90/gemm/decode/decode_fp8.h"
#include "backends/cuda/sm90/gemm/linear.h"
#include "bench_common.h"

namespace {

using namespace benchc;
using namespace dsv4;
using namespace dsv4::cuda;

struct GemmShape {
  const char* name;
  int64_t N, K;
};

struct DevWeight {
  std::unique_ptr<Mem> q, s;
  LinearWeight w;
};

std::vector<DevWeight> make_copies(WeightFormat fmt, int64_t N, int64_t K, int copies) {
  std::vector<DevWeight> out(static_cast<size_t>(copies));
  std::vector<uint8_t> q, s;
  if (fmt == WeightFormat::FP8Block) {
    q.resize(static_cast<size_t>(N * K));
    s.resize(static_cast<size_t>(((N + 127) / 128) * ((K + 127) / 128)));
  } else {
    q.resize(static_cast<size_t>(N * K / 2));
    s.resize(static_cast<size_t>(N * K / 32));
  }
  fill_random(q);
  for (auto& b : q)
    if (fmt == WeightFormat::FP8Block && (b & 0x7F) == 0x7F) b &= 0xFE;
  for (auto& b : s) b = uint8_t(118 + next_random() % 4);
  for (auto& d : out) {
    d.q = std::make_unique<Mem>(q.size());
    d.s = std::make_unique<Mem>(s.size());
    BENCH_CUDA(cudaMemcpy(d.q->p, q.data(), q.size(), cudaMemcpyHostToDevice));
    BENCH_CUDA(cudaMemcpy(d.s->p, s.data(), s.size(), cudaMemcpyHostToDevice));
    d.w.format = fmt;
    d.w.out = N;
    d.w.in = K;
    d.w.weight = TensorView{d.q->p, fmt == WeightFormat::FP8Block ? DType::F8_E4M3 : DType::I8,
                            {N, fmt == WeightFormat::FP8Block ? K : K / 2}, Device::Cuda};
    d.w.scale = TensorView{d.s->p, DType::F8_E8M0, {N, K}, Device::Cuda};
    d.w.name = "bench";
  }
  return out;
}

}  // namespace

int main() {
  int dev = 0;
  cudaDeviceProp prop{};
  BENCH_CUDA(cudaGetDeviceProperties(&prop, dev));
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  const double copy_gbs = copy_bandwidth_gbs();
  std::printf("copy bandwidth (D2D, read+write): %.0f GB/s\n\n", copy_gbs);

  const GemmShape shapes[] = {
      {"flash.wq_a", 1024, 4096},  {"flash.wq_b", 32768, 1024}, {"flash.wkv", 512, 4096},
      {"flash.wo_b", 4096, 8192},  {"flash.shared.w1", 2048, 4096}, {"flash.shared.w2", 4096, 2048},
      {"pro.wq_a", 1536, 7168},    {"pro.wq_b", 65536, 1536},   {"pro.wkv", 512, 7168},
      {"pro.wo_b", 7168, 16384},   {"pro.shared.w1", 3072, 7168}, {"pro.shared.w2", 7168, 3072},
  };
  const int64_t Ms[] = {1, 8, 32, 64, 4096};
  const int64_t maxK = 16384;
  Mem x(static_cast<size_t>(4096 * maxK) * 4);
  {
    std::vector<float> hx(static_cast<size_t>(4096 * maxK));
    for (auto& v : hx) v = next_normalish();
    BENCH_CUDA(cudaMemcpy(x.p, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
  }
  std::printf("%-18s %-12s %-18s %6s %10s %10s %8s %9s\n", "shape", "format", "path", "M", "us", "wGB/s", "of_copy", "TFLOP/s");
  for (const WeightFormat fmt : {WeightFormat::FP8Block, WeightFormat::MXFP4}) {
    for (const GemmShape& sh : shapes) {
      if (fmt == WeightFormat::MXFP4 && std::string(sh.name).find("shared") == std::string::npos) continue;
      const double wbytes = fmt == WeightFormat::FP8Block ? double(sh.N) * double(sh.K) * (1.0 + 1.0 / 16384.0)
                                                          : double(sh.N) * double(sh.K) * (0.5 + 1.0 / 32.0);
      const int copies = int(std::clamp(400e6 / wbytes, 2.0, 160.0));  // one graph touches each once: >= 400 MB, past L2
      const std::vector<DevWeight> wts = make_copies(fmt, sh.N, sh.K, copies);
      Mem y(static_cast<size_t>(4096 * sh.N) * 4);
      Mem ws(linear_workspace_bytes(4096, sh.K));
      for (const int64_t M : Ms) {
        // variant 0: the default path; 1: the 64x64 prefill tile; 2: exact (act none);
        // 3: the tiled mma-fp8 kernel where the default is mma-fp8-decode (the before/after pair)
        for (const int variant : {0, 3, 1, 2}) {
          const ActQuant aq = variant == 2 ? ActQuant::None : ActQuant::Fp8Block128;
          if (aq == ActQuant::None && (M > 64 || fmt != WeightFormat::FP8Block)) continue;
          if (variant == 1 && M <= 32) continue;
          if (variant == 3 && (M > kDecodeFp8MaxM || fmt != WeightFormat::FP8Block)) continue;
          set_mma_large_tile_override(variant == 1 ? 3 : 0);
          set_mma_decode_max_m(variant == 3 ? 0 : -1);
          LinearParams p;
          p.x = x.as<float>();
          p.M = M;
          p.ldx = sh.K;
          p.N = sh.N;
          p.y = y.as<float>();
          p.ldy = sh.N;
          p.act_quant = aq;
          p.workspace = ws.p;
          p.workspace_bytes = ws.n;
          p.w = &wts[0].w;
          LinearPlan plan;
          require(plan_linear(p, &plan), "plan");
          const double us = time_graph_us([&](int i, cudaStream_t s) {
            LinearParams q = p;
            q.w = &wts[size_t(i) % wts.size()].w;
            require(linear(q, s), "linear");
          }, copies);
          const double gbs = wbytes / (us * 1e-6) / 1e9;
          const double tflops = 2.0 * double(M) * double(sh.N) * double(sh.K) / (us * 1e-6) / 1e12;
          char path[48];
          std::snprintf(path, sizeof path, "%s-%dx%d", aq == ActQuant::None ? "exact" : plan.path, plan.tile_m, plan.tile_n);
          std::printf("%-18s %-12s %-18s %6lld %10.1f %10.0f %7.1f%% %9.1f\n", sh.name, weight_format_name(fmt), path,
                      (long long)M, us, gbs, 100.0 * gbs / copy_gbs, tflops);
          set_mma_large_tile_override(0);
          set_mma_decode_max_m(-1);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
