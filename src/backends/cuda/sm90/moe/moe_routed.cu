// moe_routed (moe_routed.h): permutation, grouped GEMMs over gemm_core.cuh, un-permute.
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "backends/cuda/sm90/gemm/decode/decode_fp8.h"
#include "backends/cuda/sm90/gemm/tiled/gemm_launch.cuh"
#include "backends/cuda/sm90/moe/moe_routed.h"

namespace dsv4::cuda {

using namespace gemm;

namespace {

constexpr int kMaxExperts = 4096;

struct Layout {
  int64_t R = 0, max_tiles = 0;
  size_t local_pos = 0, slot = 0, row_token = 0, row_weight = 0, tiles = 0, tile_count = 0, h = 0, yk = 0;
  size_t xq = 0, xs = 0, hq = 0, hs = 0, total = 0;  // FP8 path: quantized x [T, d] and h [R, I]
};

Layout layout(int64_t T, int64_t k, int64_t d, int64_t I, int64_t E) {
  Layout L;
  L.R = T * k;
  L.max_tiles = (L.R + 7) / 8 + std::min(E, L.R);  // smallest tile is 8 rows (the decode kernel's)
  size_t o = 0;
  auto take = [&](size_t bytes) {
    const size_t at = o;
    o += align256(bytes);
    return at;
  };
  L.local_pos = take(size_t(L.R) * 4);
  L.slot = take(size_t(L.R) * 4);
  L.row_token = take(size_t(L.R) * 4);
  L.row_weight = take(size_t(L.R) * 4);
  L.tiles = take(size_t(L.max_tiles) * 12);
  L.tile_count = take(4);
  L.h = take(size_t(L.R * I) * 4);
  L.yk = take(size_t(L.R * d) * 4);
  L.xq = take(size_t(T * d));
  L.xs = take(size_t(T * ((d + 127) / 128)) * 4);
  L.hq = take(size_t(L.R * I));
  L.hs = take(size_t(L.R * ((I + 127) / 128)) * 4);
  L.total = o;
  return L;
}

// One block: rows per expert, offsets, scatter, tile list.
__global__ void __launch_bounds__(1024) moe_prep_kernel(const int32_t* ids, const float* weights, int64_t R, int k,
                                                        int E, int expert0, int BM, int32_t* local_pos, int32_t* slot,
                                                        int32_t* row_token, float* row_weight, int32_t* tiles,
                                                        int32_t* tile_count) {
  extern __shared__ int sm[];
  int* cnt = sm;
  int* off = sm + E;
  int* toff = sm + 2 * E;
  for (int e = threadIdx.x; e < E; e += blockDim.x) cnt[e] = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < R; i += blockDim.x) {
    const int e = ids[i] < 0 ? -1 : ids[i] - expert0;  // another rank's expert: outside [0, E)
    if (e >= 0 && e < E) local_pos[i] = atomicAdd(&cnt[e], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int run = 0, trun = 0;
    for (int e = 0; e < E; ++e) {
      off[e] = run;
      toff[e] = trun;
      run += cnt[e];
      trun += (cnt[e] + BM - 1) / BM;
    }
    *tile_count = trun;
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < R; i += blockDim.x) {
    const int e = ids[i] < 0 ? -1 : ids[i] - expert0;  // another rank's expert: outside [0, E)
    if (e >= 0 && e < E) {
      const int row = off[e] + local_pos[i];
      slot[i] = row;
      row_token[row] = int32_t(i / k);
      row_weight[row] = weights[i];
    } else {
      slot[i] = -1;
    }
  }
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    const int n = (cnt[e] + BM - 1) / BM;
    for (int j = 0; j < n; ++j) {
      int32_t* t = tiles + 3 * (toff[e] + j);
      t[0] = e;
      t[1] = off[e] + j * BM;
      t[2] = min(BM, cnt[e] - j * BM);
    }
  }
}

// y[t, :] = Σ_j yk[slot[t, j], :] in j order.
__global__ void moe_unpermute_kernel(const float* yk, const int32_t* slot, int k, int64_t d, float* y) {
  const int64_t t = blockIdx.x;
  const int32_t* st = slot + t * k;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) {
    float s = 0.0f;
    for (int j = 0; j < k; ++j) {
      const int32_t r = st[j];
      if (r >= 0) s += yk[int64_t(r) * d + c];
    }
    y[t * d + c] = s;
  }
}

enum class Path { MmaDecode, MmaSmall, MmaLarge, SimtNone, SimtNvfp4 };

int64_t& decode_max_tokens() {
  static int64_t t = kDecodeMoeMaxTokens;
  return t;
}

int large_tile() {
  const int o = mma_large_tile_override();
  return (o == kTile64x64 || o == kTile64x128) ? o : kTile64x128;
}

Path choose(const MoeRoutedParams& p) {
  const ExpertTable& tb = *p.table;
  if (p.official && (tb.format == WeightFormat::MXFP4 || tb.format == WeightFormat::FP8Block)) {
    if (p.T <= decode_max_tokens() && tb.d % 128 == 0 && tb.I % 128 == 0 && tb.scales_aligned) return Path::MmaDecode;
    const int64_t R = p.T * p.k, active = std::max<int64_t>(1, std::min(tb.E, R));
    return R / active <= 32 ? Path::MmaSmall : Path::MmaLarge;
  }
  if (p.official && tb.format == WeightFormat::NVFP4) return Path::SimtNvfp4;
  return Path::SimtNone;
}

WMat wmat(const LinearWeight& w) {
  WMat m;
  m.w = w.weight.bytes();
  m.s = w.scale.data != nullptr ? w.scale.bytes() : nullptr;
  m.global_scale = w.global_scale;
  m.input_scale = w.input_scale;
  return m;
}

}  // namespace

Status prepare_expert_table(const ExpertWeightsView* experts, int64_t E, ExpertTable* table) {
  if (table == nullptr || experts == nullptr || E <= 0) return Status::error("prepare_expert_table: no experts");
  if (E > kMaxExperts) return Status::error(fmt::format("prepare_expert_table: {} experts > {}", E, kMaxExperts));
  const ExpertWeightsView& e0 = experts[0];
  if (e0.w1 == nullptr || e0.w3 == nullptr || e0.w2 == nullptr) return Status::error("prepare_expert_table: expert 0 incomplete");
  const WeightFormat f = e0.w1->format;
  if (f == WeightFormat::F32) return Status::error("prepare_expert_table: F32 experts are not supported");
  const int64_t d = e0.w1->in, I = e0.w1->out;
  std::vector<ExpertEntry> host(static_cast<size_t>(E));
  bool aligned = true, scales_aligned = true;
  for (int64_t e = 0; e < E; ++e) {
    const ExpertWeightsView& v = experts[e];
    if (v.w1 == nullptr || v.w3 == nullptr || v.w2 == nullptr)
      return Status::error(fmt::format("prepare_expert_table: expert {} incomplete", e));
    for (const LinearWeight* w : {v.w1, v.w3, v.w2}) {
      if (w->format != f) return Status::error(fmt::format("prepare_expert_table: expert {} {} is {}, expert 0 is {}", e, w->name, format_name(w->format), format_name(f)));
      if (w->weight.data == nullptr || (f != WeightFormat::BF16 && w->scale.data == nullptr))
        return Status::error(fmt::format("prepare_expert_table: expert {} {} has no data/scale", e, w->name));
      aligned = aligned && aligned16(w->weight.data);
      scales_aligned = scales_aligned && (reinterpret_cast<uintptr_t>(w->scale.data) & 3u) == 0;
    }
    if (v.w1->out != I || v.w1->in != d || v.w3->out != I || v.w3->in != d || v.w2->out != d || v.w2->in != I)
      return Status::error(fmt::format("prepare_expert_table: expert {} shapes differ from [I={}, d={}]", e, I, d));
    if (f == WeightFormat::NVFP4 && v.w1->input_scale != v.w3->input_scale)
      return Status::error(fmt::format("prepare_expert_table: expert {} w1/w3 input_scale differ ({} vs {})", e, v.w1->input_scale, v.w3->input_scale));
    host[size_t(e)].w1 = wmat(*v.w1);
    host[size_t(e)].w3 = wmat(*v.w3);
    host[size_t(e)].w2 = wmat(*v.w2);
  }
  if ((f == WeightFormat::MXFP4 || f == WeightFormat::NVFP4) && (d % 32 != 0 || I % 32 != 0))
    return Status::error(fmt::format("prepare_expert_table: d={} and I={} must be multiples of 32", d, I));
  ExpertEntry* dev = nullptr;
  cudaError_t err = cudaMalloc(&dev, sizeof(ExpertEntry) * size_t(E));
  if (err == cudaSuccess) err = cudaMemcpy(dev, host.data(), sizeof(ExpertEntry) * size_t(E), cudaMemcpyHostToDevice);
  if (err != cudaSuccess) {
    if (dev != nullptr) cudaFree(dev);
    return Status::error(fmt::format("prepare_expert_table: {}", cudaGetErrorString(err)));
  }
  table->format = f;
  table->E = E;
  table->d = d;
  table->I = I;
  table->entries = dev;
  table->aligned = aligned;
  table->scales_aligned = scales_aligned;
  return Status::ok();
}

void free_expert_table(ExpertTable* table) {
  if (table != nullptr && table->entries != nullptr) {
    cudaFree(table->entries);
    table->entries = nullptr;
  }
}

size_t moe_workspace_bytes(int64_t T, int64_t k, int64_t d, int64_t I, int64_t E) { return layout(T, k, d, I, E).total; }

Status check_moe_routed(const MoeRoutedParams& p) {
  if (p.table == nullptr || p.table->entries == nullptr) return Status::error("moe_routed: no expert table");
  const ExpertTable& tb = *p.table;
  if (p.T < 0 || p.k < 1) return Status::error(fmt::format("moe_routed: T={} k={}", p.T, p.k));
  if (p.T == 0) return Status::ok();
  if (p.x == nullptr || p.y == nullptr || p.ids == nullptr || p.weights == nullptr)
    return Status::error("moe_routed: null x, y, ids or weights");
  const size_t need = moe_workspace_bytes(p.T, p.k, tb.d, tb.I, tb.E);
  if (p.workspace == nullptr || p.workspace_bytes < need)
    return Status::error(fmt::format("moe_routed: workspace {} bytes < {} needed", p.workspace_bytes, need));
  if ((reinterpret_cast<uintptr_t>(p.workspace) & 255u) != 0) return Status::error("moe_routed: workspace not 256-byte aligned");
  const Path path = choose(p);
  if (path == Path::MmaDecode || path == Path::MmaSmall || path == Path::MmaLarge) {
    if (!aligned16(p.x) || tb.d % 32 != 0 || tb.I % 32 != 0 || !tb.aligned)
      return Status::error("moe_routed: the FP8 path needs x and the weight codes 16-byte aligned, d and I multiples of 32");
  }
  return Status::ok();
}

void set_moe_decode_max_tokens(int64_t t) { decode_max_tokens() = t < 0 ? kDecodeMoeMaxTokens : t; }

const char* moe_routed_path(const MoeRoutedParams& p) {
  if (p.table == nullptr) return "?";
  switch (choose(p)) {
    case Path::MmaDecode: return "mma-fp8-decode";
    case Path::MmaSmall: return "mma-fp8 16x64";
    case Path::MmaLarge: return large_tile() == kTile64x64 ? "mma-fp8 64x64" : "mma-fp8 64x128";
    case Path::SimtNone: return "simt-fp32";
    case Path::SimtNvfp4: return "simt-fp32 nvfp4-act";
  }
  return "?";
}

Status moe_routed(const MoeRoutedParams& p, cudaStream_t stream) {
  Status st = check_moe_routed(p);
  if (!st || p.T == 0) return st;
  const ExpertTable& tb = *p.table;
  const Layout L = layout(p.T, p.k, tb.d, tb.I, tb.E);
  uint8_t* ws = static_cast<uint8_t*>(p.workspace);
  int32_t* local_pos = reinterpret_cast<int32_t*>(ws + L.local_pos);
  int32_t* slot = reinterpret_cast<int32_t*>(ws + L.slot);
  int32_t* row_token = reinterpret_cast<int32_t*>(ws + L.row_token);
  float* row_weight = reinterpret_cast<float*>(ws + L.row_weight);
  int32_t* tiles = reinterpret_cast<int32_t*>(ws + L.tiles);
  int32_t* tile_count = reinterpret_cast<int32_t*>(ws + L.tile_count);
  float* h = reinterpret_cast<float*>(ws + L.h);
  float* yk = reinterpret_cast<float*>(ws + L.yk);

  const Path path = choose(p);
  const bool decode = path == Path::MmaDecode;
  const bool mma = decode || path == Path::MmaSmall || path == Path::MmaLarge;
  const int tile = path == Path::MmaSmall ? int(kTile16x64) : large_tile();
  const int BM = decode ? decode_moe_tile_rows(p.T) : mma ? tile_bm(tile) : kSimtBM;
  const int BN = mma ? tile_bn(tile) : kSimtBN;
  const int64_t max_tiles = (L.R + BM - 1) / BM + std::min(tb.E, L.R);

  moe_prep_kernel<<<1, 1024, size_t(3 * tb.E) * sizeof(int), stream>>>(p.ids, p.weights, L.R, int(p.k), int(tb.E),
                                                                      int(p.expert0), BM,
                                                                      local_pos, slot, row_token, row_weight, tiles,
                                                                      tile_count);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return Status::error(fmt::format("moe_routed: prep launch: {}", cudaGetErrorString(err)));

  const int wf = wfmt_of(tb.format);
  const int act = path == Path::SimtNvfp4 ? kActNvfp4 : kActNone;
  GemmArgs a;
  a.tiles = tiles;
  a.tile_count = tile_count;
  a.experts = tb.entries;
  a.vec = tb.aligned && tb.d % 32 == 0 && tb.I % 32 == 0 ? 1 : 0;
  // w1 | w3 with the SwiGLU epilogue: h = swiglu(x·w1ᵀ, x·w3ᵀ) · weight
  a.x = p.x;
  a.ldx = tb.d;
  a.a_rows = row_token;
  a.which = 0;
  a.K = tb.d;
  a.N = tb.I;
  a.y = h;
  a.ldy = tb.I;
  a.row_weight = row_weight;
  a.limit = p.swiglu_limit;
  uint8_t* xq = ws + L.xq;
  float* xs = reinterpret_cast<float*>(ws + L.xs);
  uint8_t* hq = ws + L.hq;
  float* hs = reinterpret_cast<float*>(ws + L.hs);
  if (mma) {
    err = launch_act_quant(p.x, p.T, tb.d, tb.d, xq, xs, stream);
    if (err != cudaSuccess) return Status::error(fmt::format("moe_routed: x quant launch: {}", cudaGetErrorString(err)));
    a.xq = xq;
    a.xs = xs;
  }
  DecodeMoeParams dm;
  dm.format = tb.format;
  dm.tile_rows = BM;
  dm.tiles = tiles;
  dm.tile_count = tile_count;
  dm.max_tiles = max_tiles;
  dm.experts = tb.entries;
  if (decode) {
    dm.swiglu = true;
    dm.xq = xq;
    dm.xs = xs;
    dm.a_rows = row_token;
    dm.K = tb.d;
    dm.N = tb.I;
    dm.y = h;
    dm.ldy = tb.I;
    dm.row_weight = row_weight;
    dm.limit = p.swiglu_limit;
    st = decode_moe_gemm(dm, stream);
    if (!st) return Status::error("moe_routed: w1|w3: " + st.message());
  } else {
    const dim3 grid(unsigned((tb.I + BN / 2 - 1) / (BN / 2)), unsigned(max_tiles));
    err = mma ? launch_mma<kEpiSwiglu>(wf, tile, grid, a, stream) : launch_simt<kEpiSwiglu>(wf, act, grid, a, stream);
    if (err != cudaSuccess) return Status::error(fmt::format("moe_routed: w1|w3 launch: {}", cudaGetErrorString(err)));
  }
  // w2: yk = h · w2ᵀ
  a.x = h;
  a.ldx = tb.I;
  a.a_rows = nullptr;
  a.which = 2;
  a.K = tb.I;
  a.N = tb.d;
  a.y = yk;
  a.ldy = tb.d;
  a.row_weight = nullptr;
  if (mma) {
    err = launch_act_quant(h, L.R, tb.I, tb.I, hq, hs, stream);
    if (err != cudaSuccess) return Status::error(fmt::format("moe_routed: h quant launch: {}", cudaGetErrorString(err)));
    a.xq = hq;
    a.xs = hs;
  }
  if (decode) {
    dm.swiglu = false;
    dm.xq = hq;
    dm.xs = hs;
    dm.a_rows = nullptr;
    dm.K = tb.I;
    dm.N = tb.d;
    dm.y = yk;
    dm.ldy = tb.d;
    dm.row_weight = nullptr;
    dm.limit = 0.0f;
    st = decode_moe_gemm(dm, stream);
    if (!st) return Status::error("moe_routed: w2: " + st.message());
  } else {
    const dim3 grid(unsigned((tb.d + BN - 1) / BN), unsigned(max_tiles));
    err = mma ? launch_mma<kEpiStore>(wf, tile, grid, a, stream) : launch_simt<kEpiStore>(wf, act, grid, a, stream);
    if (err != cudaSuccess) return Status::error(fmt::format("moe_routed: w2 launch: {}", cudaGetErrorString(err)));
  }
  moe_unpermute_kernel<<<unsigned(p.T), 256, 0, stream>>>(yk, slot, int(p.k), tb.d, p.y);
  err = cudaGetLastError();
  if (err != cudaSuccess) return Status::error(fmt::format("moe_routed: un-permute launch: {}", cudaGetErrorString(err)));
  return Status::ok();
}

}  // namespace dsv4::cuda
