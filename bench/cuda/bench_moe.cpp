// bench_moe: GPU routed experts (backends/cuda/sm90/moe/moe_routed.h), DeepSeek-V4-Flash experts
// (d 4096, I 2048, MXFP4, official numerics: W4A8 through FP8 mma.sync), k = 6 of E = 64 (the
// 4-GPU share) and of E = 256, at decode T = 1, 8, 32, 64, 256 and prefill T = 4096. Prints the
// median µs per call replayed from a CUDA graph (routings rotate among several random sets so the experts read change),
// the expert bytes read (distinct experts x their codes + scales) per second against the D2D copy
// bandwidth measured in the same run, and TFLOP/s (T·k·3·2·d·I per call).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <vector>

#include "backends/cuda/sm90/gemm/linear.h"
#include "backends/cuda/sm90/gemm/decode/decode_fp8.h"
#include "backends/cuda/sm90/moe/moe_routed.h"
#include "bench_common.h"

namespace {

using namespace benchc;
using namespace dsv4;
using namespace dsv4::cuda;

}  // namespace

int main() {
  cudaDeviceProp prop{};
  BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  const double copy_gbs = copy_bandwidth_gbs();
  std::printf("copy bandwidth (D2D, read+write): %.0f GB/s\n\n", copy_gbs);
  const int64_t d = 4096, I = 2048, k = 6;
  const size_t wq = size_t(I * d / 2), wsc = size_t(I * d / 32);  // per matrix
  const double expert_bytes = 3.0 * double(wq + wsc);
  std::printf("%-6s %-6s %-16s %6s %10s %8s %10s %8s %9s\n", "E", "fmt", "path", "T", "us", "experts", "GB/s", "of_copy", "TFLOP/s");
  for (const int64_t E : {64, 256}) {
    // one random template expert, replicated (distinct memory per expert)
    std::vector<uint8_t> hq(wq), hs(wsc);
    fill_random(hq);
    for (auto& b : hs) b = uint8_t(118 + next_random() % 4);
    std::vector<std::unique_ptr<Mem>> mem;
    std::vector<LinearWeight> lw(static_cast<size_t>(3 * E));
    std::vector<ExpertWeightsView> views(static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e) {
      for (int m = 0; m < 3; ++m) {
        mem.push_back(std::make_unique<Mem>(wq));
        BENCH_CUDA(cudaMemcpy(mem.back()->p, hq.data(), wq, cudaMemcpyHostToDevice));
        const void* qp = mem.back()->p;
        mem.push_back(std::make_unique<Mem>(wsc));
        BENCH_CUDA(cudaMemcpy(mem.back()->p, hs.data(), wsc, cudaMemcpyHostToDevice));
        LinearWeight& w = lw[size_t(3 * e + m)];
        w.format = WeightFormat::MXFP4;
        w.out = m == 2 ? d : I;
        w.in = m == 2 ? I : d;
        w.weight = TensorView{qp, DType::I8, {w.out, w.in / 2}, Device::Cuda};
        w.scale = TensorView{mem.back()->p, DType::F8_E8M0, {w.out, w.in / 32}, Device::Cuda};
      }
      views[size_t(e)] = {&lw[size_t(3 * e)], &lw[size_t(3 * e + 1)], &lw[size_t(3 * e + 2)]};
    }
    ExpertTable table;
    require(prepare_expert_table(views.data(), E, &table), "prepare_expert_table");
    for (const int64_t Tsigned : {1, 8, 32, 64, 256, 4096, -4096}) {
      set_mma_large_tile_override(Tsigned < 0 ? 3 : 0);  // -4096: prefill with the 64x64 tile
      const int64_t Tn = Tsigned < 0 ? -Tsigned : Tsigned;
      for (const int tiled : {0, 1}) {  // 1: the tiled kernels where the default is mma-fp8-decode
      if (tiled == 1 && (Tn > kDecodeMoeMaxTokens || Tsigned < 0)) continue;
      set_moe_decode_max_tokens(tiled == 1 ? 0 : -1);
      [&](const int64_t T) {
      const int sets = 8;
      std::vector<std::unique_ptr<Mem>> ids, wts;
      double distinct = 0;
      for (int s = 0; s < sets; ++s) {
        std::vector<int32_t> hid(static_cast<size_t>(T * k));
        std::vector<float> hw(static_cast<size_t>(T * k), 0.25f);
        std::set<int32_t> used;
        for (int64_t t = 0; t < T; ++t) {
          std::vector<int32_t> perm(static_cast<size_t>(E));
          for (int64_t e = 0; e < E; ++e) perm[size_t(e)] = int32_t(e);
          for (int64_t j = 0; j < k; ++j) {
            std::swap(perm[size_t(j)], perm[size_t(j + int64_t(next_random() % uint64_t(E - j)))]);
            hid[size_t(t * k + j)] = perm[size_t(j)];
            used.insert(perm[size_t(j)]);
          }
        }
        distinct += double(used.size()) / sets;
        ids.push_back(std::make_unique<Mem>(hid.size() * 4));
        wts.push_back(std::make_unique<Mem>(hw.size() * 4));
        BENCH_CUDA(cudaMemcpy(ids.back()->p, hid.data(), hid.size() * 4, cudaMemcpyHostToDevice));
        BENCH_CUDA(cudaMemcpy(wts.back()->p, hw.data(), hw.size() * 4, cudaMemcpyHostToDevice));
      }
      Mem x(static_cast<size_t>(T * d) * 4), y(static_cast<size_t>(T * d) * 4);
      {
        std::vector<float> hx(static_cast<size_t>(T * d));
        for (auto& v : hx) v = next_normalish();
        BENCH_CUDA(cudaMemcpy(x.p, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
      }
      const size_t wsb = moe_workspace_bytes(T, k, d, I, E);
      Mem ws(wsb);
      MoeRoutedParams p;
      p.x = x.as<float>();
      p.T = T;
      p.k = k;
      p.table = &table;
      p.swiglu_limit = 10.0f;
      p.official = true;
      p.y = y.as<float>();
      p.workspace = ws.p;
      p.workspace_bytes = wsb;
      p.ids = ids[0]->as<int32_t>();
      p.weights = wts[0]->as<float>();
      const double us = time_graph_us([&](int i, cudaStream_t s) {
        MoeRoutedParams q = p;
        q.ids = ids[size_t(i % sets)]->as<int32_t>();
        q.weights = wts[size_t(i % sets)]->as<float>();
        require(moe_routed(q, s), "moe_routed");
      });
      const double gbs = distinct * expert_bytes / (us * 1e-6) / 1e9;
      const double tflops = double(T * k) * 3.0 * 2.0 * double(d) * double(I) / (us * 1e-6) / 1e12;
      std::printf("%-6lld %-6s %-16s %6lld %10.1f %8.1f %10.0f %7.1f%% %9.1f\n", (long long)E, "mxfp4", moe_routed_path(p),
                  (long long)T, us, distinct, gbs, 100.0 * gbs / copy_gbs, tflops);
      std::fflush(stdout);
      }(Tn);
      }
      set_moe_decode_max_tokens(-1);
      set_mma_large_tile_override(0);
    }
    free_expert_table(&table);
  }
  return 0;
}
