// bench_skinny: the skinny-fp32 linear path (backends/cuda/sm90/gemm/skinny/skinny.h) on the decode-size
// act-quant-none projections of DeepSeek-V4 Flash and Pro (router gate, compressor wkv/wgate,
// indexer compressor, indexer weights_proj: BF16; wo_a grouped: FP8 e4m3 + UE8M0 128x128), at
// M = 1, 8, 32, 64 (and 128, 256 to place the skinny/simt threshold, skinny forced there).
// Per case: median µs per call (CUDA events around 20 back-to-back calls, weights rotating among
// copies that together exceed L2), GB/s of weight bytes and its fraction of the device-to-device
// copy bandwidth (read + write) measured in the same run, for
//   skinny  - linear() with the skinny path (the default for M <= 64),
//   simt    - linear() with the skinny path switched off (the old simt-fp32 path),
//   cublas  - cublasGemmEx / cublasGemmStridedBatchedEx, BF16 x BF16 -> fp32 with CUBLAS_COMPUTE_32F
//             (x converted to bf16 beforehand: cuBLAS has no bf16-weight x fp32-activation GEMM);
//             for the FP8 wo_a rows it multiplies a BF16 copy of the weight (twice the bytes: its
//             GB/s counts its own bytes). cuBLAS is loaded at run time (dlopen: $DSV4_CUBLAS, else
//             libcublas.so.13 / .12 / libcublas.so on the library path); without it the column says n/a.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/sm90/gemm/linear.h"
#include "bench_common.h"
#include "core/dtype.h"

namespace {

using namespace benchc;
using namespace dsv4;
using namespace dsv4::cuda;

constexpr int kCallsPerTiming = 20;

struct SkinnyShape {
  const char* name;
  WeightFormat fmt;
  int64_t N, K, G;
};

// cuBLAS entry points, resolved with dlsym (no link-time dependency: the GPU machine's cuBLAS comes
// with its PyTorch wheel, not with the stage).
struct Cublas {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  using GemmFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                    const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                                    cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  using GemmBatchedFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                           const void*, const void*, cudaDataType, int, long long, const void*,
                                           cudaDataType, int, long long, const void*, void*, cudaDataType, int,
                                           long long, int, cublasComputeType_t, cublasGemmAlgo_t);
  GemmFn gemm = nullptr;
  GemmBatchedFn gemm_batched = nullptr;
  cublasHandle_t handle = nullptr;
  std::string from;
  bool load() {
    std::vector<std::string> names;
    if (const char* e = std::getenv("DSV4_CUBLAS")) names.emplace_back(e);
    for (const char* n : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) names.emplace_back(n);
    for (const std::string& n : names) {
      void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (h == nullptr) continue;
      create = reinterpret_cast<decltype(create)>(dlsym(h, "cublasCreate_v2"));
      destroy = reinterpret_cast<decltype(destroy)>(dlsym(h, "cublasDestroy_v2"));
      gemm = reinterpret_cast<decltype(gemm)>(dlsym(h, "cublasGemmEx"));
      gemm_batched = reinterpret_cast<decltype(gemm_batched)>(dlsym(h, "cublasGemmStridedBatchedEx"));
      if (create != nullptr && destroy != nullptr && gemm != nullptr && gemm_batched != nullptr &&
          create(&handle) == CUBLAS_STATUS_SUCCESS) {
        from = n;
        return true;
      }
      dlclose(h);
    }
    return false;
  }
  ~Cublas() {
    if (handle != nullptr) destroy(handle);
  }
};

// `copies` device copies of one random weight (views into one allocation), and a BF16 copy set
// for cuBLAS (the same values decoded to bf16 for FP8; the same bits for BF16).
struct Weights {
  std::unique_ptr<Mem> q, s, bf;
  std::vector<LinearWeight> w;
  std::vector<const void*> bf16;
  size_t qbytes = 0;
};

size_t round256(size_t b) { return (b + 255) & ~size_t(255); }

Weights make_weights(const SkinnyShape& sh, int copies) {
  Weights out;
  const int64_t rows = sh.G * sh.N, K = sh.K;
  const bool fp8 = sh.fmt == WeightFormat::FP8Block;
  const int64_t sr = (rows + 127) / 128, sc = (K + 127) / 128;
  std::vector<uint8_t> q(static_cast<size_t>(rows * K) * (fp8 ? 1 : 2)), s(fp8 ? size_t(sr * sc) : 0);
  std::vector<uint16_t> bf(static_cast<size_t>(rows * K));
  if (fp8) {
    fill_random(q);
    for (auto& b : q)
      if ((b & 0x7F) == 0x7F) b &= 0xFE;  // no NaN codes
    for (auto& b : s) b = uint8_t(118 + next_random() % 4);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < K; ++k)
        bf[size_t(r * K + k)] = f32_to_bf16(e4m3_to_f32(q[size_t(r * K + k)]) * e8m0_to_f32(s[size_t((r / 128) * sc + k / 128)]));
  } else {
    for (auto& v : bf) v = f32_to_bf16(0.05f * next_normalish());
    std::memcpy(q.data(), bf.data(), q.size());
  }
  out.qbytes = q.size();
  const size_t qs = round256(q.size()), bs = round256(bf.size() * 2);
  out.q = std::make_unique<Mem>(qs * size_t(copies));
  out.bf = std::make_unique<Mem>(bs * size_t(copies));
  if (fp8) {
    out.s = std::make_unique<Mem>(round256(s.size()) * size_t(copies));
  }
  for (int c = 0; c < copies; ++c) {
    uint8_t* qd = out.q->as<uint8_t>() + qs * size_t(c);
    uint8_t* bd = out.bf->as<uint8_t>() + bs * size_t(c);
    BENCH_CUDA(cudaMemcpy(qd, q.data(), q.size(), cudaMemcpyHostToDevice));
    BENCH_CUDA(cudaMemcpy(bd, bf.data(), bf.size() * 2, cudaMemcpyHostToDevice));
    LinearWeight w;
    w.format = sh.fmt;
    w.out = rows;
    w.in = K;
    w.name = sh.name;
    w.weight = TensorView{qd, fp8 ? DType::F8_E4M3 : DType::BF16, {rows, K}, Device::Cuda};
    if (fp8) {
      uint8_t* sd = out.s->as<uint8_t>() + round256(s.size()) * size_t(c);
      BENCH_CUDA(cudaMemcpy(sd, s.data(), s.size(), cudaMemcpyHostToDevice));
      w.scale = TensorView{sd, DType::F8_E8M0, {sr, sc}, Device::Cuda};
    }
    out.w.push_back(w);
    out.bf16.push_back(bd);
  }
  return out;
}

// Median µs per call of `call(i)` (i rotates the weight copy) over kCallsPerTiming back-to-back calls.
double per_call_us(const std::function<void(int)>& call) {
  int n = 0;
  return time_us([&](int) {
           for (int j = 0; j < kCallsPerTiming; ++j) call(n++);
         }) /
         kCallsPerTiming;
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s, %d SMs, L2 %d MB\n", prop.name, prop.multiProcessorCount, prop.l2CacheSize >> 20);
  const double copy_gbs = copy_bandwidth_gbs();
  std::printf("copy bandwidth (D2D, read+write): %.0f GB/s\n", copy_gbs);
  Cublas cb;
  const bool have_cublas = cb.load();
  std::printf("cuBLAS: %s\n\n", have_cublas ? cb.from.c_str() : "not found (set DSV4_CUBLAS=/path/libcublas.so.13): column n/a");

  const WeightFormat B = WeightFormat::BF16, F8 = WeightFormat::FP8Block;
  const SkinnyShape shapes[] = {
      {"flash.ffn.gate", B, 256, 4096, 1},          {"flash.compressor.wkv", B, 1024, 4096, 1},
      {"flash.compressor128.wkv", B, 512, 4096, 1}, {"flash.indexer.compressor", B, 256, 4096, 1},
      {"flash.indexer.weights_proj", B, 64, 4096, 1}, {"flash.wo_a (G=8)", F8, 1024, 4096, 8},
      {"pro.ffn.gate", B, 384, 7168, 1},            {"pro.compressor.wkv", B, 1024, 7168, 1},
      {"pro.indexer.weights_proj", B, 64, 7168, 1}, {"pro.wo_a (G=16)", F8, 1024, 4096, 16},
  };
  const int64_t Ms[] = {1, 8, 32, 64, 128, 256};
  const int64_t maxM = 256, maxX = 16 * 4096;  // x columns: G·K <= 65536
  Mem x(static_cast<size_t>(maxM * maxX) * 4), xb(static_cast<size_t>(maxM * maxX) * 2);
  {
    std::vector<float> hx(static_cast<size_t>(maxM * maxX));
    std::vector<uint16_t> hb(hx.size());
    for (size_t i = 0; i < hx.size(); ++i) {
      hx[i] = next_normalish();
      hb[i] = f32_to_bf16(hx[i]);
    }
    BENCH_CUDA(cudaMemcpy(x.p, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
    BENCH_CUDA(cudaMemcpy(xb.p, hb.data(), hb.size() * 2, cudaMemcpyHostToDevice));
  }
  std::printf("%-27s %-5s %4s %-13s | %8s %7s %6s | %8s %6s | %8s %7s %6s\n", "shape", "fmt", "M", "skinny cfg", "skinny", "GB/s",
              "copy", "simt", "x", "cublas", "GB/s", "copy");
  for (const SkinnyShape& sh : shapes) {
    const int64_t rows = sh.G * sh.N;
    const bool fp8 = sh.fmt == F8;
    const double wbytes = double(rows) * double(sh.K) * (fp8 ? 1.0 + 1.0 / 16384.0 : 2.0);
    const double bfbytes = double(rows) * double(sh.K) * 2.0;
    const int copies = int(std::clamp(std::ceil(240e6 / std::min(wbytes, bfbytes)), 2.0, 512.0));
    const Weights wt = make_weights(sh, copies);
    Mem y(static_cast<size_t>(maxM * rows) * 4);
    for (const int64_t M : Ms) {
      LinearParams p;
      p.x = x.as<float>();
      p.M = M;
      p.ldx = sh.G * sh.K;
      p.N = sh.N;
      p.groups = sh.G;
      p.y = y.as<float>();
      p.ldy = rows;
      p.w = &wt.w[0];
      auto run_linear = [&](int i) {
        LinearParams q = p;
        q.w = &wt.w[size_t(i) % wt.w.size()];
        require(linear(q, nullptr), "linear");
      };
      set_skinny_max_m(INT64_MAX);
      LinearPlan plan;
      require(plan_linear(p, &plan), "plan");
      const double us_skinny = per_call_us(run_linear);
      set_skinny_max_m(0);
      const double us_simt = per_call_us(run_linear);
      set_skinny_max_m(-1);
      double us_cublas = 0;
      if (have_cublas) {
        const float one = 1.0f, zero = 0.0f;
        auto run_cublas = [&](int i) {
          const void* A = wt.bf16[size_t(i) % wt.bf16.size()];
          const cublasStatus_t st =
              sh.G == 1 ? cb.gemm(cb.handle, CUBLAS_OP_T, CUBLAS_OP_N, int(sh.N), int(M), int(sh.K), &one, A, CUDA_R_16BF,
                                  int(sh.K), xb.p, CUDA_R_16BF, int(sh.K), &zero, y.p, CUDA_R_32F, int(rows),
                                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT)
                        : cb.gemm_batched(cb.handle, CUBLAS_OP_T, CUBLAS_OP_N, int(sh.N), int(M), int(sh.K), &one, A,
                                          CUDA_R_16BF, int(sh.K), sh.N * sh.K, xb.p, CUDA_R_16BF, int(sh.G * sh.K), sh.K,
                                          &zero, y.p, CUDA_R_32F, int(rows), sh.N, int(sh.G), CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT);
          if (st != CUBLAS_STATUS_SUCCESS) {
            std::fprintf(stderr, "bench: cuBLAS failed (%d)\n", int(st));
            std::exit(1);
          }
        };
        us_cublas = per_call_us(run_cublas);
      }
      const double gbs = wbytes / (us_skinny * 1e-6) / 1e9;
      char cfg[32];
      std::snprintf(cfg, sizeof cfg, "%dx%d", plan.tile_m, plan.tile_n);
      char cub[64] = "     n/a";
      if (have_cublas) {
        const double cg = bfbytes / (us_cublas * 1e-6) / 1e9;
        std::snprintf(cub, sizeof cub, "%8.2f %7.0f %5.1f%%", us_cublas, cg, 100.0 * cg / copy_gbs);
      }
      std::printf("%-27s %-5s %4lld %-13s | %8.2f %7.0f %5.1f%% | %8.2f %5.1fx | %s\n", sh.name, fp8 ? "fp8" : "bf16",
                  (long long)M, cfg, us_skinny, gbs, 100.0 * gbs / copy_gbs, us_simt, us_simt / us_skinny, cub);
      std::fflush(stdout);
    }
  }
  std::printf("\nskinny: linear() on skinny-fp32 (forced for M > %lld, the default limit); simt: the same call on "
              "simt-fp32; x: simt/skinny. GB/s = weight bytes / time (cuBLAS: its BF16 bytes).\n",
              (long long)kSkinnyDefaultMaxM);
  return 0;
}
