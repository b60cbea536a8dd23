// decode_fp8_linear and decode_moe_gemm (decode_fp8.h): checks, the launch-shape heuristic and
// the launches of decode_fp8_kernel.cuh.
#include <fmt/format.h>

#include <atomic>

#include "backends/cuda/sm90/gemm/decode/decode_fp8.h"
#include "backends/cuda/sm90/gemm/decode/decode_fp8_kernel.cuh"
#include "backends/cuda/sm90/gemm/decode/decode_fp8_ksplit_kernel.cuh"

namespace dsv4::cuda {

namespace {

using gemm::kEpiStore;
using gemm::kEpiSwiglu;
using gemm::kFP8;
using gemm::kMXFP4;

constexpr int kMaxSmem = 227 * 1024;

int64_t cdiv_(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Ring depth and blocks consumed per iteration per A tile: 8 slots (4 to 8 blocks in flight per
// warp) and small CTAs, so that several CTAs share an SM — a lone warp per SM cannot issue fast
// enough to cover HBM latency (bench/results run 13: 16- and 24-deep rings at one CTA per SM were
// slower); U independent blocks per iteration keep a warp's mma and load pipes busy.
constexpr int stages_for(int fm, bool half) { return half || fm <= 2 ? 8 : 4; }
constexpr int batch_for(int fm) { return fm == 4 ? 2 : 4; }

// The opt-in above 48 KB of dynamic shared memory, once per kernel and device, to the largest size
// any K may ask (outside graph capture in practice: the first call of each shape runs eagerly at
// warm-up). The template arguments only give each kernel its own flag.
template <int WF, int EPI, int FM, bool HALF, int FN, typename Kernel>
cudaError_t opt_in_smem(Kernel* kernel) {
  static std::atomic<uint64_t> opted{0};
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= 64) dev = 0;
  if ((opted.load(std::memory_order_acquire) >> dev & 1u) != 0) return cudaSuccess;
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem);
  if (e == cudaSuccess) opted.fetch_or(uint64_t(1) << dev, std::memory_order_acq_rel);
  return e;
}

template <int WF, int EPI, int FM, bool HALF, int FN>
cudaError_t launch_(dim3 grid, const decode::Args& a, int64_t KB, cudaStream_t st) {
  constexpr int STAGES = stages_for(FM, HALF);
  auto* kernel = decode::decode_fp8_gemm<WF, EPI, FM, HALF, FN, STAGES, batch_for(FM)>;
  const size_t smem = decode::Shape<WF, FM, HALF, FN>::bytes(STAGES, KB);
  if (smem > size_t(kMaxSmem)) return cudaErrorInvalidValue;
  const cudaError_t e = opt_in_smem<WF, EPI, FM, HALF, FN>(kernel);
  if (e != cudaSuccess) return e;
  kernel<<<grid, dim3(32), smem, st>>>(a);
  return cudaGetLastError();
}

// The K-split kernel: W warps per strip, ring depth and batch per A tile.
constexpr int kKsplitWarps = 4;
constexpr int ksplit_stages(bool) { return 8; }

template <bool HALF>
cudaError_t launch_ksplit_(dim3 grid, const decode::Args& a, cudaStream_t st) {
  constexpr int STAGES = ksplit_stages(HALF);
  auto* kernel = decode::decode_fp8_ksplit<HALF, STAGES, 4, kKsplitWarps>;
  const size_t smem = decode::KsplitShape<HALF>::bytes(kKsplitWarps, STAGES, a.KB);
  if (smem > size_t(kMaxSmem)) return cudaErrorInvalidValue;
  const cudaError_t e = opt_in_smem<-1, 0, 0, HALF, 0>(kernel);
  if (e != cudaSuccess) return e;
  kernel<<<grid, dim3(32 * kKsplitWarps), smem, st>>>(a);
  return cudaGetLastError();
}

template <int WF, int EPI, int FM, bool HALF>
cudaError_t launch_fn_(int fn, dim3 grid, const decode::Args& a, int64_t KB, cudaStream_t st) {
  if constexpr (EPI == kEpiSwiglu) {
    return launch_<WF, EPI, FM, HALF, 2>(grid, a, KB, st);
  } else {
    return fn == 2 ? launch_<WF, EPI, FM, HALF, 2>(grid, a, KB, st) : launch_<WF, EPI, FM, HALF, 1>(grid, a, KB, st);
  }
}

Status fail_(const char* who, const std::string& what) { return Status::error(fmt::format("{}: {}", who, what)); }

// decode::Shape<kFP8, ...>::bytes for a config (the linear's kernels).
size_t smem_estimate(const DecodeFp8Config& c, int64_t K) {
  const int ar = c.half ? 8 : 16 * c.fm, br = 8 * c.fn;
  const int64_t KB = cdiv_(K, 128);
  const size_t slot = size_t(ar + br) * decode::kLds;
  return size_t(c.stages) * slot + size_t(2 * c.fn * KB) * 4 + size_t(ar) * size_t(KB + 1) * 4 + size_t(ar) * 4;
}

}  // namespace

DecodeFp8Config decode_fp8_config(int64_t M, int64_t N, int64_t K) {
  DecodeFp8Config c;
  c.half = M <= 8;
  c.fm = M <= 16 ? 1 : M <= 32 ? 2 : 4;
  // Two column fragments per warp only when there are columns enough for two warps per SM anyway.
  c.fn = cdiv_(N, 16) >= 2 * 132 ? 2 : 1;
  c.stages = stages_for(c.fm, c.half);
  c.ctas = cdiv_(N < 1 ? 1 : N, 8 * c.fn);
  c.smem = smem_estimate(c, K);
  if (c.fm == 1 && c.fn == 1) {  // narrow: the K-split kernel, if its partials fit
    const size_t ks = c.half ? decode::KsplitShape<true>::bytes(kKsplitWarps, ksplit_stages(true), cdiv_(K, 128))
                             : decode::KsplitShape<false>::bytes(kKsplitWarps, ksplit_stages(false), cdiv_(K, 128));
    if (ks <= size_t(kMaxSmem)) {
      c.warps = kKsplitWarps;
      c.stages = ksplit_stages(c.half);
      c.smem = ks;
    }
  }
  return c;
}

Status decode_fp8_linear(const DecodeFp8Params& p, cudaStream_t stream) {
  const char* who = "decode_fp8_linear";
  if (p.M < 0 || p.M > kDecodeFp8MaxM || p.N < 0 || p.row0 < 0 || p.K < 32 || p.K % 32 != 0)
    return fail_(who, fmt::format("bad shape M={} (<= {}) N={} K={} (% 32) row0={}", p.M, kDecodeFp8MaxM, p.N, p.K, p.row0));
  if (p.ldy < p.N) return fail_(who, fmt::format("ldy={} < N={}", p.ldy, p.N));
  if (p.M == 0 || p.N == 0) return Status::ok();
  if (p.xq == nullptr || p.xs == nullptr || p.w == nullptr || p.ws == nullptr || p.y == nullptr)
    return fail_(who, "null x codes, x scales, weight, weight scales or y");
  if ((reinterpret_cast<uintptr_t>(p.xq) & 15u) != 0 || (reinterpret_cast<uintptr_t>(p.w) & 15u) != 0 ||
      (reinterpret_cast<uintptr_t>(p.xs) & 3u) != 0)
    return fail_(who, "x codes / weight codes must be 16-byte aligned, x scales 4-byte aligned");
  const DecodeFp8Config c = decode_fp8_config(p.M, p.N, p.K);
  if (c.ctas > 0x7FFFFFFF) return fail_(who, fmt::format("grid too large (N={})", p.N));
  if (c.smem > size_t(kMaxSmem)) return fail_(who, fmt::format("K={} needs {} bytes of shared memory", p.K, c.smem));
  decode::Args a;
  a.xq = p.xq;
  a.xs = p.xs;
  a.M = int(p.M);
  a.w = p.w;
  a.ws = p.ws;
  a.K = p.K;
  a.KB = cdiv_(p.K, 128);
  a.row0 = p.row0;
  a.N = p.N;
  a.y = p.y;
  a.ldy = p.ldy;
  a.alpha = p.alpha;
  a.accumulate = p.accumulate ? 1 : 0;
  const dim3 grid(unsigned(c.ctas));
  cudaError_t err;
  if (c.warps > 1) err = c.half ? launch_ksplit_<true>(grid, a, stream) : launch_ksplit_<false>(grid, a, stream);
  else if (c.half) err = launch_fn_<kFP8, kEpiStore, 1, true>(c.fn, grid, a, a.KB, stream);
  else if (c.fm == 1) err = launch_fn_<kFP8, kEpiStore, 1, false>(c.fn, grid, a, a.KB, stream);
  else if (c.fm == 2) err = launch_fn_<kFP8, kEpiStore, 2, false>(c.fn, grid, a, a.KB, stream);
  else err = launch_fn_<kFP8, kEpiStore, 4, false>(c.fn, grid, a, a.KB, stream);
  if (err != cudaSuccess) return fail_(who, fmt::format("launch failed: {}", cudaGetErrorString(err)));
  return Status::ok();
}

int decode_moe_tile_rows(int64_t T) { return T <= 8 ? 8 : 16; }

Status decode_moe_gemm(const DecodeMoeParams& p, cudaStream_t stream) {
  const char* who = "decode_moe_gemm";
  if (p.format != WeightFormat::FP8Block && p.format != WeightFormat::MXFP4)
    return fail_(who, "experts must be FP8Block or MXFP4");
  if (p.K < 128 || p.K % 128 != 0 || p.N < 1 || p.ldy < p.N || p.max_tiles < 0 || (p.tile_rows != 8 && p.tile_rows != 16))
    return fail_(who, fmt::format("bad shape K={} (% 128) N={} ldy={} max_tiles={} tile_rows={}", p.K, p.N, p.ldy,
                                  p.max_tiles, p.tile_rows));
  if (p.max_tiles == 0) return Status::ok();
  if (p.xq == nullptr || p.xs == nullptr || p.tiles == nullptr || p.tile_count == nullptr || p.experts == nullptr ||
      p.y == nullptr)
    return fail_(who, "null pointer");
  if (p.max_tiles > 65535) return fail_(who, fmt::format("{} tiles > 65535", p.max_tiles));
  decode::Args a;
  a.xq = p.xq;
  a.xs = p.xs;
  a.a_rows = p.a_rows;
  a.tiles = p.tiles;
  a.tile_count = p.tile_count;
  a.experts = p.experts;
  a.which = p.swiglu ? 0 : 2;
  a.K = p.K;
  a.KB = p.K / 128;
  a.N = p.N;
  a.y = p.y;
  a.ldy = p.ldy;
  a.row_weight = p.row_weight;
  a.limit = p.limit;
  const bool half = p.tile_rows == 8;
  const int fn = p.swiglu ? 2 : decode_fp8_config(p.tile_rows, p.N, p.K).fn;
  const dim3 grid(unsigned(cdiv_(p.N, p.swiglu ? 8 : 8 * fn)), unsigned(p.max_tiles));
  cudaError_t err;
  const bool fp4 = p.format == WeightFormat::MXFP4;
  if (p.swiglu) {
    if (fp4) err = half ? launch_fn_<kMXFP4, kEpiSwiglu, 1, true>(fn, grid, a, a.KB, stream)
                        : launch_fn_<kMXFP4, kEpiSwiglu, 1, false>(fn, grid, a, a.KB, stream);
    else err = half ? launch_fn_<kFP8, kEpiSwiglu, 1, true>(fn, grid, a, a.KB, stream)
                    : launch_fn_<kFP8, kEpiSwiglu, 1, false>(fn, grid, a, a.KB, stream);
  } else {
    if (fp4) err = half ? launch_fn_<kMXFP4, kEpiStore, 1, true>(fn, grid, a, a.KB, stream)
                        : launch_fn_<kMXFP4, kEpiStore, 1, false>(fn, grid, a, a.KB, stream);
    else err = half ? launch_fn_<kFP8, kEpiStore, 1, true>(fn, grid, a, a.KB, stream)
                    : launch_fn_<kFP8, kEpiStore, 1, false>(fn, grid, a, a.KB, stream);
  }
  if (err != cudaSuccess) return fail_(who, fmt::format("launch failed: {}", cudaGetErrorString(err)));
  return Status::ok();
}

}  // namespace dsv4::cuda
