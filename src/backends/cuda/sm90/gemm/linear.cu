// linear (linear.h): checks, path choice and launches over gemm_core.cuh.
#include <fmt/format.h>

#include "backends/cuda/sm90/gemm/tiled/gemm_launch.cuh"
#include "backends/cuda/sm90/gemm/linear.h"
#include "backends/cuda/sm90/gemm/decode/decode_fp8.h"
#include "backends/cuda/sm90/gemm/skinny/skinny.h"

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

bool format_is_skinny(WeightFormat f) {
  return f == WeightFormat::F32 || f == WeightFormat::BF16 || f == WeightFormat::FP8Block;
}

Status fail_(const LinearParams& p, const std::string& what) {
  return Status::error(fmt::format("linear {}: {}", p.w != nullptr ? p.w->name : std::string("?"), what));
}

int choose_tile(const LinearParams& p) {
  if (p.M <= 32) return p.N <= 2048 ? kTile16x32 : kTile16x64;  // decode: more CTAs for narrow weights
  const int o = mma_large_tile_override();
  return o != kTileAuto ? o : kTile64x128;
}

int64_t& skinny_max_m_ref() {
  static int64_t m = kSkinnyDefaultMaxM;
  return m;
}

// skinny-fp32: act_quant none, a BF16 / F32 / FP8Block weight, M <= skinny_max_m().
bool use_skinny(const LinearParams& p) {
  return p.skinny && p.act_quant == ActQuant::None && p.M <= skinny_max_m_ref() && format_is_skinny(p.w->format);
}

SkinnyParams skinny_params(const LinearParams& p) {
  const LinearWeight& w = *p.w;
  SkinnyParams s;
  s.x = p.x;
  s.M = p.M;
  s.ldx = p.ldx;
  s.format = w.format == WeightFormat::F32 ? SkinnyFormat::F32 : w.format == WeightFormat::BF16 ? SkinnyFormat::BF16 : SkinnyFormat::FP8Block;
  s.w = w.weight.data;
  s.scale = w.format == WeightFormat::FP8Block ? static_cast<const uint8_t*>(w.scale.data) : nullptr;
  s.K = w.in;
  s.row0 = p.row0;
  s.N = p.N;
  s.groups = p.groups;
  s.y = p.y;
  s.ldy = p.ldy;
  s.alpha = p.alpha;
  s.accumulate = p.accumulate;
  return s;
}

bool use_mma(const LinearParams& p) {
  return p.act_quant == ActQuant::Fp8Block128 &&
         (p.w->format == WeightFormat::FP8Block || p.w->format == WeightFormat::MXFP4);
}

int64_t& mma_decode_max_m_ref() {
  static int64_t m = kDecodeFp8MaxM;
  return m;
}

// mma-fp8-decode: an mma-fp8 call with an FP8Block weight and M <= mma_decode_max_m() (bitwise the
// same outputs as the tiled kernel, so the switch on M keeps batch invariance).
bool use_mma_decode(const LinearParams& p) {
  return use_mma(p) && p.w->format == WeightFormat::FP8Block && p.M <= mma_decode_max_m_ref();
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
      if (!aligned16(w.weight.data)) return fail_(p, "mma-fp8 path needs 16-byte aligned weight codes");
      if (G != 1) return fail_(p, "act_quant fp8-block128 with groups > 1 is not supported");
      if (p.workspace == nullptr || p.workspace_bytes < linear_workspace_bytes(p.M, K) ||
          (reinterpret_cast<uintptr_t>(p.workspace) & 255u) != 0)
        return fail_(p, fmt::format("act_quant fp8-block128 needs a 256-byte aligned workspace of {} bytes (got {})",
                                    linear_workspace_bytes(p.M, K), p.workspace_bytes));
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
  if (use_mma_decode(p)) {
    const DecodeFp8Config c = decode_fp8_config(p.M, p.N, p.w->in);
    *plan = LinearPlan{"mma-fp8-decode", c.half ? 8 : 16 * c.fm, 8 * c.fn,
                       fmt::format("FP8 activations x FP8 weight, M={} <= {}: {} warp(s) per {} columns stream the weight "
                                   "through {}-deep cp.async rings ({} CTAs); same outputs as mma-fp8",
                                   p.M, mma_decode_max_m_ref(), c.warps, 8 * c.fn, c.stages, c.ctas)};
  } else if (use_mma(p)) {
    const int tile = choose_tile(p);
    *plan = LinearPlan{"mma-fp8", tile_bm(tile), tile_bn(tile),
                       "FP8 activations x FP8/MXFP4 weight: e4m3 mma.sync tensor cores (wgmma not written yet)"};
  } else if (use_skinny(p)) {
    const SkinnyConfig c = skinny_config(skinny_params(p));
    *plan = LinearPlan{"skinny-fp32", c.mr, c.nw * c.rn,
                       fmt::format("act_quant none, M={} <= {}: memory-bound fp32 GEMV ({} K slices, {} CTAs)", p.M,
                                   skinny_max_m_ref(), c.ks, c.ctas)};
  } else {
    std::string why;
    if (p.act_quant == ActQuant::None)
      why = p.M > skinny_max_m_ref() || format_is_skinny(p.w->format)
                ? fmt::format("act_quant none, M={} > {} (skinny-fp32 limit): x stays fp32 (exact), no fp32-input tensor-core path",
                              p.M, skinny_max_m_ref())
                : fmt::format("act_quant none with a {} weight: x stays fp32 (exact); skinny-fp32 takes BF16/F32/FP8 only",
                              format_name(p.w->format));
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
  if (use_skinny(p)) return skinny_linear(skinny_params(p), stream);
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
  if (use_mma_decode(p)) {
    uint8_t* q = static_cast<uint8_t*>(p.workspace);
    float* s = reinterpret_cast<float*>(q + align256(size_t(p.M * w.in)));
    err = launch_act_quant(p.x, p.M, p.ldx, w.in, q, s, stream);
    if (err != cudaSuccess) return fail_(p, fmt::format("launch failed: {}", cudaGetErrorString(err)));
    DecodeFp8Params d;
    d.xq = q;
    d.xs = s;
    d.M = p.M;
    d.w = w.weight.bytes();
    d.ws = w.scale.bytes();
    d.K = w.in;
    d.row0 = p.row0;
    d.N = p.N;
    d.y = p.y;
    d.ldy = p.ldy;
    d.alpha = p.alpha;
    d.accumulate = p.accumulate;
    const Status ds = decode_fp8_linear(d, stream);
    return ds ? ds : fail_(p, ds.message());
  }
  if (use_mma(p)) {
    const int tile = choose_tile(p);
    const int BM = tile_bm(tile), BN = tile_bn(tile);
    const dim3 grid(unsigned((p.N + BN - 1) / BN), unsigned((p.M + BM - 1) / BM), unsigned(p.groups));
    uint8_t* q = static_cast<uint8_t*>(p.workspace);
    float* s = reinterpret_cast<float*>(q + align256(size_t(p.M * w.in)));
    err = launch_act_quant(p.x, p.M, p.ldx, w.in, q, s, stream);
    a.xq = q;
    a.xs = s;
    if (err == cudaSuccess) err = launch_mma<kEpiStore>(wf, tile, grid, a, stream);
  } else {
    const dim3 grid(unsigned((p.N + kSimtBN - 1) / kSimtBN), unsigned((p.M + kSimtBM - 1) / kSimtBM), unsigned(p.groups));
    err = launch_simt<kEpiStore>(wf, p.act_quant == ActQuant::Nvfp4 ? kActNvfp4 : kActNone, grid, a, stream);
  }
  if (err != cudaSuccess) return fail_(p, fmt::format("launch failed: {}", cudaGetErrorString(err)));
  return Status::ok();
}

namespace gemm {
int& mma_large_tile_override() {
  static int tile = kTileAuto;
  return tile;
}
}  // namespace gemm

void set_mma_large_tile_override(int tile) { gemm::mma_large_tile_override() = tile; }

void set_mma_decode_max_m(int64_t m) { mma_decode_max_m_ref() = m < 0 ? kDecodeFp8MaxM : m; }
int64_t mma_decode_max_m() { return mma_decode_max_m_ref(); }

void set_skinny_max_m(int64_t m) { skinny_max_m_ref() = m < 0 ? kSkinnyDefaultMaxM : m; }
int64_t skinny_max_m() { return skinny_max_m_ref(); }

size_t linear_workspace_bytes(int64_t M, int64_t K) {
  return align256(size_t(M * K)) + align256(size_t(M * ((K + 127) / 128)) * 4);
}

Status act_quant_fp8(const float* x, int64_t M, int64_t ldx, int64_t K, uint8_t* q, float* scale, cudaStream_t stream) {
  if (M < 0 || K < 0 || ldx < K) return Status::error(fmt::format("act_quant_fp8: bad shape M={} K={} ldx={}", M, K, ldx));
  if (M == 0 || K == 0) return Status::ok();
  if (x == nullptr || q == nullptr || scale == nullptr) return Status::error("act_quant_fp8: null pointer");
  const cudaError_t err = launch_act_quant(x, M, ldx, K, q, scale, stream);
  if (err != cudaSuccess) return Status::error(fmt::format("act_quant_fp8: launch failed: {}", cudaGetErrorString(err)));
  return Status::ok();
}

}  // namespace dsv4::cuda
