// linear (linear.h): checks, path choice and launches over gemm_core.cuh.
#include <fmt/format.h>

#include "backends/cuda/sm90/gemm/gemm_launch.cuh"
#include "backends/cuda/sm90/gemm/linear.h"

namespace dsv4::cuda {

using namespace gemm;

const char* act_quant_name(ActQuant a) {
  switch (a) {
    case ActQuant::None: return "none";
    case ActQuant::Fp8Block128: return "fp8-block128";
    case ActQuant::Nvfp4: return "nvfp4";
  }
  return "?";
}

namespace {

// Standalone §9.1 activation quantization (for tests and callers that want the codes):
// q[m, k] e4m3, scale[m, kb] fp32 (power of two). One warp per (row, 128-block).
__global__ void act_quant_fp8_kernel(const float* x, int64_t M, int64_t ldx, int64_t K, uint8_t* q, float* scale) {
  const int64_t KB = (K + 127) / 128;
  const int64_t item = int64_t(blockIdx.x) * 4 + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (item >= M * KB) return;
  const int64_t m = item / KB, kb = item % KB;
  float v[4];
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t k = kb * 128 + lane * 4 + i;
    v[i] = k < K ? x[m * ldx + k] : 0.0f;
    amax = fmaxf(amax, fabsf(v[i]));
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xFFFFFFFFu, amax, o));
  const float s = fp8_act_scale(amax);
  const uint32_t w = e4m3x4(v[0] / s, v[1] / s, v[2] / s, v[3] / s);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t k = kb * 128 + lane * 4 + i;
    if (k < K) q[m * K + k] = uint8_t(w >> (8 * i));
  }
  if (lane == 0) scale[m * KB + kb] = s;
}


Status fail_(const LinearParams& p, const std::string& what) {
  return Status::error(fmt::format("linear {}: {}", p.w != nullptr ? p.w->name : std::string("?"), what));
}

bool use_mma(const LinearParams& p) {
  return p.act_quant == ActQuant::Fp8Block128 &&
         (p.w->format == WeightFormat::FP8Block || p.w->format == WeightFormat::MXFP4);
}

}  // namespace

Status check_linear(const LinearParams& p) {
  if (p.w == nullptr) return Status::error("linear: no weight");
  const LinearWeight& w = *p.w;
  const int64_t K = w.in, G = p.groups;
  if (G < 1) return fail_(p, fmt::format("groups {} < 1", G));
  if (p.M < 0 || p.N < 0 || p.row0 < 0) return fail_(p, fmt::format("negative size (M {}, N {}, row0 {})", p.M, p.N, p.row0));
  if (p.row0 + G * p.N > w.out)
    return fail_(p, fmt::format("rows [{}, {}) outside the weight's {} rows", p.row0, p.row0 + G * p.N, w.out));
  if (p.ldx < G * K || p.ldy < G * p.N)
    return fail_(p, fmt::format("row strides ldx={} ldy={} too small (G={}, K={}, N={})", p.ldx, p.ldy, G, K, p.N));
  if (p.M == 0 || p.N == 0) return Status::ok();
  if (p.x == nullptr || p.y == nullptr || w.weight.data == nullptr) return fail_(p, "null x, y or weight data");
  const bool needs_scale = w.format == WeightFormat::FP8Block || w.format == WeightFormat::MXFP4 || w.format == WeightFormat::NVFP4;
  if (needs_scale && w.scale.data == nullptr) return fail_(p, "quantized weight without its scale tensor");
  if ((w.format == WeightFormat::MXFP4 && K % 32 != 0) || (w.format == WeightFormat::NVFP4 && K % 16 != 0))
    return fail_(p, fmt::format("K={} not a multiple of the format's scale block", K));
  switch (p.act_quant) {
    case ActQuant::None: break;
    case ActQuant::Fp8Block128:
      if (w.format != WeightFormat::FP8Block && w.format != WeightFormat::MXFP4)
        return fail_(p, fmt::format("act_quant fp8-block128 needs an FP8Block or MXFP4 weight, got {}", format_name(w.format)));
      if (K % 32 != 0) return fail_(p, fmt::format("mma-fp8 path needs K % 32 == 0, got K={}", K));
      if (p.ldx % 4 != 0 || !aligned16(p.x)) return fail_(p, "mma-fp8 path needs x 16-byte aligned and ldx % 4 == 0");
      if (!aligned16(w.weight.data)) return fail_(p, "mma-fp8 path needs 16-byte aligned weight codes");
      break;
    case ActQuant::Nvfp4:
      if (w.format != WeightFormat::NVFP4)
        return fail_(p, fmt::format("act_quant nvfp4 needs an NVFP4 weight, got {}", format_name(w.format)));
      if (!(w.input_scale > 0.0f) || !(w.input_scale < INFINITY)) return fail_(p, "NVFP4 input_scale must be positive and finite");
      break;
  }
  return Status::ok();
}

Status plan_linear(const LinearParams& p, LinearPlan* plan) {
  const Status st = check_linear(p);
  if (!st) return st;
  if (p.M == 0 || p.N == 0) {
    *plan = LinearPlan{"empty", 0, 0, "nothing to compute"};
    return st;
  }
  if (use_mma(p)) {
    const bool small = p.M <= 32;
    *plan = LinearPlan{"mma-fp8", small ? kMmaSmallBM : kMmaLargeBM, small ? kMmaSmallBN : kMmaLargeBN,
                       "FP8 activations x FP8/MXFP4 weight: e4m3 mma.sync tensor cores"};
  } else {
    std::string why;
    if (p.act_quant == ActQuant::None)
      why = "act_quant none: x stays fp32 (exact), no fp32-input tensor-core path";
    else if (p.act_quant == ActQuant::Nvfp4)
      why = "NVFP4 activations: Hopper has no FP4 tensor cores; quant-dequant to fp32 in the tile load";
    *plan = LinearPlan{"simt-fp32", kSimtBM, kSimtBN, why};
  }
  return st;
}

Status linear(const LinearParams& p, cudaStream_t stream) {
  const Status st = check_linear(p);
  if (!st) return st;
  if (p.M == 0 || p.N == 0) return st;
  const LinearWeight& w = *p.w;
  GemmArgs a;
  a.x = p.x;
  a.ldx = p.ldx;
  a.M = p.M;
  a.w.w = w.weight.bytes();
  a.w.s = w.scale.data != nullptr ? w.scale.bytes() : nullptr;
  a.w.global_scale = w.global_scale;
  a.w.input_scale = w.input_scale;
  a.K = w.in;
  a.N = p.N;
  a.row0 = p.row0;
  a.gx = w.in;
  a.gw = p.N;
  a.gy = p.N;
  a.y = p.y;
  a.ldy = p.ldy;
  a.alpha = p.alpha;
  a.accumulate = p.accumulate ? 1 : 0;
  a.vec = (w.in % 32 == 0 && aligned16(w.weight.data)) ? 1 : 0;
  const int wf = wfmt_of(w.format);
  cudaError_t err;
  if (use_mma(p)) {
    const bool small = p.M <= 32;
    const int BM = small ? kMmaSmallBM : kMmaLargeBM, BN = small ? kMmaSmallBN : kMmaLargeBN;
    const dim3 grid(unsigned((p.N + BN - 1) / BN), unsigned((p.M + BM - 1) / BM), unsigned(p.groups));
    err = launch_mma<kEpiStore>(wf, small, grid, a, stream);
  } else {
    const dim3 grid(unsigned((p.N + kSimtBN - 1) / kSimtBN), unsigned((p.M + kSimtBM - 1) / kSimtBM), unsigned(p.groups));
    err = launch_simt<kEpiStore>(wf, p.act_quant == ActQuant::Nvfp4 ? kActNvfp4 : kActNone, grid, a, stream);
  }
  if (err != cudaSuccess) return fail_(p, fmt::format("launch failed: {}", cudaGetErrorString(err)));
  return Status::ok();
}

Status act_quant_fp8(const float* x, int64_t M, int64_t ldx, int64_t K, uint8_t* q, float* scale, cudaStream_t stream) {
  if (M < 0 || K < 0 || ldx < K) return Status::error(fmt::format("act_quant_fp8: bad shape M={} K={} ldx={}", M, K, ldx));
  if (M == 0 || K == 0) return Status::ok();
  if (x == nullptr || q == nullptr || scale == nullptr) return Status::error("act_quant_fp8: null pointer");
  const int64_t items = M * ((K + 127) / 128);
  act_quant_fp8_kernel<<<unsigned((items + 3) / 4), 128, 0, stream>>>(x, M, ldx, K, q, scale);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return Status::error(fmt::format("act_quant_fp8: launch failed: {}", cudaGetErrorString(err)));
  return Status::ok();
}

}  // namespace dsv4::cuda
