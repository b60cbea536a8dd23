// skinny_linear (skinny.h): checks, the launch-shape heuristic and the launch of skinny_kernel.cuh.
#include <fmt/format.h>

#include <atomic>

#include "backends/cuda/sm90/gemm/skinny/skinny.h"
#include "backends/cuda/sm90/gemm/skinny/skinny_kernel.cuh"

namespace dsv4::cuda {

namespace {

bool aligned16_(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// SMs of the current device (cached per device; 132 when the query fails).
int sm_count() {
  static std::atomic<int> cache[64];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) return 132;
  int n = cache[dev].load(std::memory_order_relaxed);
  if (n > 0) return n;
  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n <= 0) n = 132;
  cache[dev].store(n, std::memory_order_relaxed);
  return n;
}

int64_t cdiv_(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <int WF, int MR>
cudaError_t launch_rn(int rn, dim3 grid, dim3 block, const skinny::Args& a, cudaStream_t st) {
  switch (rn) {
    case 1: skinny::skinny_gemm<WF, MR, 1><<<grid, block, 0, st>>>(a); break;
    case 2: skinny::skinny_gemm<WF, MR, 2><<<grid, block, 0, st>>>(a); break;
    case 4:
      if constexpr (MR <= 4) {
        skinny::skinny_gemm<WF, MR, 4><<<grid, block, 0, st>>>(a);
        break;
      } else {
        return cudaErrorInvalidValue;
      }
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <int WF>
cudaError_t launch_wf(const SkinnyConfig& c, dim3 grid, dim3 block, const skinny::Args& a, cudaStream_t st) {
  switch (c.mr) {
    case 1: return launch_rn<WF, 1>(c.rn, grid, block, a, st);
    case 2: return launch_rn<WF, 2>(c.rn, grid, block, a, st);
    case 4: return launch_rn<WF, 4>(c.rn, grid, block, a, st);
    case 8: return launch_rn<WF, 8>(c.rn, grid, block, a, st);
    case 16: return launch_rn<WF, 16>(c.rn, grid, block, a, st);
  }
  return cudaErrorInvalidValue;
}

Status fail_(const std::string& what) { return Status::error("skinny_linear: " + what); }

}  // namespace

SkinnyConfig skinny_config(const SkinnyParams& p) {
  SkinnyConfig c;
  const int64_t M = p.M < 1 ? 1 : p.M;
  c.mr = M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : M <= 8 ? 8 : 16;
  c.ks = skinny_k_slices(p.format, p.K);
  c.nw = skinny::kMaxWarps / c.ks;
  c.rn = c.mr >= 8 ? 2 : 4;  // (8x4 and 16x4 accumulator tiles would spill)
  const int64_t mchunks = cdiv_(M, c.mr), G = p.groups < 1 ? 1 : p.groups;
  auto ctas = [&] { return mchunks * cdiv_(p.N < 1 ? 1 : p.N, int64_t(c.nw) * c.rn) * G; };
  // Fewer rows per CTA until one wave fills every SM (more rows per warp reuse x; more warps per
  // CTA share it through L1): weight rows per warp first, then warps.
  const int64_t target = sm_count();
  while (ctas() < target && (c.rn > 1 || c.nw > 1)) {
    if (c.rn > 1) c.rn /= 2;
    else c.nw /= 2;
  }
  c.ctas = ctas();
  return c;
}

Status skinny_linear(const SkinnyParams& p, cudaStream_t stream) {
  const int64_t G = p.groups;
  if (p.M < 0 || p.N < 0 || p.row0 < 0 || p.K < 1 || G < 1)
    return fail_(fmt::format("bad shape M={} N={} K={} row0={} groups={}", p.M, p.N, p.K, p.row0, G));
  if (p.ldx < G * p.K || p.ldy < G * p.N)
    return fail_(fmt::format("row strides ldx={} ldy={} too small (G={}, K={}, N={})", p.ldx, p.ldy, G, p.K, p.N));
  if (p.M == 0 || p.N == 0) return Status::ok();
  if (p.x == nullptr || p.y == nullptr || p.w == nullptr) return fail_("null x, y or weight");
  if (p.format == SkinnyFormat::FP8Block && p.scale == nullptr) return fail_("FP8 weight without its scales");
  const int eb = p.format == SkinnyFormat::F32 ? 4 : p.format == SkinnyFormat::BF16 ? 2 : 1;
  if ((reinterpret_cast<uintptr_t>(p.w) & uintptr_t(eb - 1)) != 0) return fail_("weight not aligned to its element size");
  if ((reinterpret_cast<uintptr_t>(p.x) & 3u) != 0 || (reinterpret_cast<uintptr_t>(p.y) & 3u) != 0)
    return fail_("x or y not 4-byte aligned");

  const SkinnyConfig c = skinny_config(p);
  const int64_t gy = cdiv_(p.N, int64_t(c.nw) * c.rn), gx = cdiv_(p.M, c.mr);
  if (gy > 65535 || G > 65535 || gx > 0x7FFFFFFF)
    return fail_(fmt::format("grid too large (M={}, N={}, groups={})", p.M, p.N, G));
  skinny::Args a;
  a.x = p.x;
  a.ldx = p.ldx;
  a.M = p.M;
  a.w = static_cast<const uint8_t*>(p.w);
  a.s = p.scale;
  a.K = p.K;
  a.KB = cdiv_(p.K, 128);
  a.N = p.N;
  a.row0 = p.row0;
  a.y = p.y;
  a.ldy = p.ldy;
  a.alpha = p.alpha;
  a.accumulate = p.accumulate ? 1 : 0;
  a.ks = c.ks;
  a.nw = c.nw;
  a.xvec = (aligned16_(p.x) && p.ldx % 4 == 0 && p.K % 4 == 0) ? 1 : 0;
  a.wvec = (aligned16_(p.w) && p.K % skinny_vector_elems(p.format) == 0) ? 1 : 0;
  const dim3 grid{unsigned(gx), unsigned(gy), unsigned(G)}, block{unsigned(32 * c.ks * c.nw)};
  cudaError_t err = cudaErrorInvalidValue;
  switch (p.format) {
    case SkinnyFormat::F32: err = launch_wf<skinny::kF32>(c, grid, block, a, stream); break;
    case SkinnyFormat::BF16: err = launch_wf<skinny::kBF16>(c, grid, block, a, stream); break;
    case SkinnyFormat::FP8Block: err = launch_wf<skinny::kFP8>(c, grid, block, a, stream); break;
  }
  if (err != cudaSuccess) return fail_(fmt::format("launch failed: {}", cudaGetErrorString(err)));
  return Status::ok();
}

}  // namespace dsv4::cuda
