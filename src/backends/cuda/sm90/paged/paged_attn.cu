// Kernels of the lightning indexer over paged keys (indexer_topk.h) and of the paged sparse
// attention with sink (paged_attention.h).
#include <cstdint>

#include "backends/cuda/sm90/paged/paged_attention.h"
#include "backends/cuda/sm90/paged/paged_codec.h"
#include "backends/cuda/sm90/paged/paged_kernels.h"

namespace dsv4::cuda::detail {
namespace {

using namespace dsv4::cuda::paged;

// ---------------------------------------------------------------- indexer scores

constexpr int kScoreThreads = 128;

__device__ __forceinline__ int64_t visible_of(const IndexerTopkParams& p, int64_t t) {
  int64_t v = p.visible[t];
  if (v < 0) v = 0;
  if (v > p.max_visible) v = p.max_visible;
  if (v > p.table_stride * p.entries_per_block) v = p.table_stride * p.entries_per_block;
  return v;
}

// Slot of entry w of token t's sequence, or -1 when the table or segment is out of range.
__device__ __forceinline__ int64_t entry_slot(const IndexerTopkParams& p, int64_t t, int64_t w) {
  const int32_t seg = p.seg[t];
  if (seg < 0 || seg >= p.segments) return -1;
  const int64_t E = p.entries_per_block;
  const int32_t blk = p.table[int64_t(seg) * p.table_stride + w / E];
  if (blk < 0 || (int64_t(blk) + 1) * E > p.key_pool_slots) return -1;
  return int64_t(blk) * E + w % E;
}

// A CTA of 128 threads scores kEntries = 128 / HG entries of token t0 + blockIdx.y: thread
// (group g, entry e) holds entry e's key in registers and computes the terms wts[h]·max(q_h·k, 0)
// of heads h in group g (nh / HG consecutive heads) into shared memory; then the group-0 thread
// of each entry adds the nh terms in increasing h (the CPU's order).
template <int HD, bool kFp4, int HG>
__global__ void __launch_bounds__(kScoreThreads) indexer_scores_kernel(IndexerTopkParams p, int64_t t0,
                                                                       float* __restrict__ scores, int64_t stride,
                                                                       bool write_tail) {
  constexpr int kEntries = kScoreThreads / HG;
  extern __shared__ float4 smem4[];
  float* qs = reinterpret_cast<float*>(smem4);  // [nh, HD]
  float* ws = qs + p.nh * HD;                    // [nh]
  float* terms = ws + p.nh;                      // [kEntries, nh + 1]
  const int64_t tl = blockIdx.y, t = t0 + tl;
  const int64_t vis = visible_of(p, t);
  const int e = threadIdx.x % kEntries, g = threadIdx.x / kEntries;
  const int64_t w0 = int64_t(blockIdx.x) * kEntries, w = w0 + e;
  float* row = scores + tl * stride;
  const float neg_inf = -INFINITY;
  if (w0 >= vis) {  // a tile of the −inf tail only
    if (g == 0 && write_tail && w < stride) row[w] = neg_inf;
    return;
  }
  const float4* qg = reinterpret_cast<const float4*>(p.q + t * p.nh * HD);
  for (int64_t i = threadIdx.x; i < p.nh * HD / 4; i += kScoreThreads) smem4[i] = qg[i];
  for (int64_t i = threadIdx.x; i < p.nh; i += kScoreThreads) ws[i] = p.wts[t * p.nh + i];
  __syncthreads();
  const int64_t slot = w < vis ? entry_slot(p, t, w) : -1;
  if (slot >= 0) {
    float k[HD];
    if constexpr (kFp4) {
      constexpr int64_t kBytes = ((HD / 2 + HD / 32) + 7) / 8 * 8;
      const uint8_t* base = static_cast<const uint8_t*>(p.key_pool) + slot * kBytes;
      uint8_t sc[HD / 32];
#pragma unroll
      for (int b = 0; b < HD / 32; ++b) sc[b] = base[HD / 2 + b];
#pragma unroll
      for (int m = 0; m < HD / 16; ++m) {
        const uint2 word = reinterpret_cast<const uint2*>(base)[m];  // 8 bytes = 16 codes
#pragma unroll
        for (int c = 0; c < 16; ++c) {
          const uint32_t byte = ((c < 8 ? word.x : word.y) >> (8 * ((c / 2) % 4))) & 0xFFu;
          const uint32_t code = (c & 1) ? (byte >> 4) : (byte & 0xFu);
          k[m * 16 + c] = fp4_value(code, sc[(m * 16 + c) / 32]);
        }
      }
    } else {
      const float4* base = reinterpret_cast<const float4*>(static_cast<const float*>(p.key_pool) + slot * HD);
#pragma unroll
      for (int m = 0; m < HD / 4; ++m) {
        const float4 v = base[m];
        k[4 * m] = v.x;
        k[4 * m + 1] = v.y;
        k[4 * m + 2] = v.z;
        k[4 * m + 3] = v.w;
      }
    }
    const int64_t hpg = p.nh / HG;
    for (int64_t h = g * hpg; h < (g + 1) * hpg; ++h) {
      const float4* qh = reinterpret_cast<const float4*>(qs + h * HD);
      float a[16];
#pragma unroll
      for (int l = 0; l < 16; ++l) a[l] = 0.0f;
#pragma unroll
      for (int c = 0; c < HD / 16; ++c) {
#pragma unroll
        for (int l4 = 0; l4 < 4; ++l4) {
          const float4 qv = qh[c * 4 + l4];
          const int i = c * 16 + 4 * l4;
          a[4 * l4] = __fmaf_rn(qv.x, k[i], a[4 * l4]);
          a[4 * l4 + 1] = __fmaf_rn(qv.y, k[i + 1], a[4 * l4 + 1]);
          a[4 * l4 + 2] = __fmaf_rn(qv.z, k[i + 2], a[4 * l4 + 2]);
          a[4 * l4 + 3] = __fmaf_rn(qv.w, k[i + 3], a[4 * l4 + 3]);
        }
      }
      // hsum256(acc0 + acc1) of cpu::dot's AVX2 path.
      float v[8];
#pragma unroll
      for (int l = 0; l < 8; ++l) v[l] = __fadd_rn(a[l], a[l + 8]);
      const float u0 = __fadd_rn(v[0], v[4]), u1 = __fadd_rn(v[1], v[5]), u2 = __fadd_rn(v[2], v[6]),
                  u3 = __fadd_rn(v[3], v[7]);
      const float qk = __fadd_rn(__fadd_rn(u0, u2), __fadd_rn(u1, u3));
      const float term = __fmul_rn(ws[h], qk < 0.0f ? 0.0f : qk);
      terms[int64_t(e) * (p.nh + 1) + h] = term;
    }
  }
  __syncthreads();
  if (g != 0) return;
  if (w >= vis) {
    if (write_tail && w < stride) row[w] = neg_inf;
    return;
  }
  if (slot < 0) {
    row[w] = neg_inf;
    return;
  }
  float score = 0.0f;
  for (int64_t h = 0; h < p.nh; ++h) score = __fadd_rn(score, terms[int64_t(e) * (p.nh + 1) + h]);
  row[w] = score;
}

// ---------------------------------------------------------------- indexer top-k

constexpr int kSelectThreads = 1024;
constexpr int kMaxTopk = 2048;

// Larger key = better: score descending, then smaller w.
__device__ __forceinline__ uint64_t order_key(float f, int64_t w) {
  uint32_t u = __float_as_uint(f == 0.0f ? 0.0f : f);
  u = (u >> 31) ? ~u : (u | 0x80000000u);
  return (uint64_t(u) << 32) | uint64_t(0xFFFFFFFFu - uint32_t(w));
}

__global__ void __launch_bounds__(kSelectThreads) indexer_select_kernel(IndexerTopkParams p, int64_t t0,
                                                                        const float* __restrict__ scores,
                                                                        int64_t stride) {
  __shared__ unsigned hist[256];
  __shared__ unsigned long long cand[kMaxTopk];
  __shared__ unsigned long long s_prefix, s_mask;
  __shared__ unsigned s_needed, s_count;
  __shared__ int s_done;
  const int64_t t = t0 + blockIdx.x;
  const float* row = scores + int64_t(blockIdx.x) * stride;
  const int64_t vis = visible_of(p, t);
  const int64_t k = p.topk < vis ? p.topk : vis;
  const int tid = threadIdx.x;
  if (tid == 0) {
    s_prefix = 0;
    s_mask = 0;
    s_needed = unsigned(k);
    s_done = 0;
    s_count = 0;
  }
  __syncthreads();
  if (k > 0) {
    for (int shift = 56; shift >= 0; shift -= 8) {
      for (int i = tid; i < 256; i += kSelectThreads) hist[i] = 0;
      __syncthreads();
      const uint64_t prefix = s_prefix, mask = s_mask;
      for (int64_t w = tid; w < vis; w += kSelectThreads) {
        const uint64_t K = order_key(row[w], w);
        if ((K & mask) == prefix) atomicAdd(&hist[(K >> shift) & 0xFFu], 1u);
      }
      __syncthreads();
      if (tid < 32) {
        // Warp 0: lane L owns bins 255 − 8L − i (i < 8, descending); an exclusive prefix over the
        // lanes gives each lane the count above its bins, and the one lane whose bins reach
        // `needed` walks them.
        const unsigned needed = s_needed;
        unsigned own = 0;
#pragma unroll
        for (int i = 0; i < 8; ++i) own += hist[255 - 8 * tid - i];
        unsigned incl = own;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const unsigned v = __shfl_up_sync(0xFFFFFFFFu, incl, o);
          if (tid >= o) incl += v;
        }
        unsigned cum = incl - own;
        if (cum < needed && incl >= needed) {
          for (int i = 0; i < 8; ++i) {
            const int d = 255 - 8 * tid - i;
            if (cum + hist[d] >= needed) {
              s_needed = needed - cum;
              s_prefix = prefix | (uint64_t(d) << shift);
              s_mask = mask | (uint64_t(0xFFu) << shift);
              s_done = hist[d] == needed - cum;
              break;
            }
            cum += hist[d];
          }
        }
      }
      __syncthreads();
      if (s_done) break;
    }
    const uint64_t prefix = s_prefix, mask = s_mask;
    for (int64_t w = tid; w < vis; w += kSelectThreads) {
      const uint64_t K = order_key(row[w], w);
      if ((K & mask) >= prefix) {
        const unsigned pos = atomicAdd(&s_count, 1u);
        if (pos < kMaxTopk) cand[pos] = K;
      }
    }
    __syncthreads();
    int P = 1;
    while (P < k) P <<= 1;
    for (int i = int(k) + tid; i < P; i += kSelectThreads) cand[i] = 0;
    // Bitonic sort, descending.
    for (int size = 2; size <= P; size <<= 1) {
      for (int half = size / 2; half > 0; half >>= 1) {
        __syncthreads();
        for (int i = tid; i < P; i += kSelectThreads) {
          const int j = i ^ half;
          if (j > i) {
            const unsigned long long a = cand[i], b = cand[j];
            const bool desc = (i & size) == 0;
            if (desc ? a < b : a > b) {
              cand[i] = b;
              cand[j] = a;
            }
          }
        }
      }
    }
    __syncthreads();
  }
  for (int64_t j = tid; j < p.topk; j += kSelectThreads) {
    int32_t out = -1;
    if (j < k) {
      const int64_t w = int64_t(0xFFFFFFFFu - uint32_t(cand[j] & 0xFFFFFFFFull));
      out = int32_t(entry_slot(p, t, w));
    }
    p.sel[t * p.topk + j] = out;
  }
  if (tid == 0) p.count[t] = int32_t(k);
}

// ---------------------------------------------------------------- paged attention

constexpr int kHeadsPerCta = 8;

__device__ __forceinline__ float warp_sum(float a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) a = __fadd_rn(a, __shfl_xor_sync(0xFFFFFFFFu, a, o));
  return a;
}

__device__ __forceinline__ int64_t comp_len(const PagedAttentionParams& p, int64_t t) {
  if (p.comp == nullptr) return 0;
  int64_t c = p.comp_count[t];
  return c < 0 ? 0 : (c > p.comp_stride ? p.comp_stride : c);
}

template <int NCH, bool kFp8>
__global__ void __launch_bounds__(32 * kHeadsPerCta) paged_attention_partial_kernel(PagedAttentionParams p, int64_t t0,
                                                                                   int ns, float* __restrict__ part_o,
                                                                                   float* __restrict__ part_ml) {
  const int s = blockIdx.x;
  const int64_t tl = blockIdx.z, t = t0 + tl;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t h = int64_t(blockIdx.y) * kHeadsPerCta + warp;
  const int64_t len = p.Wn + comp_len(p, t);
  const int64_t j0 = int64_t(s) * kPagedAttentionSplit;
  if (j0 >= len || h >= p.H) return;
  const int64_t j1 = j0 + kPagedAttentionSplit < len ? j0 + kPagedAttentionSplit : len;
  constexpr int D = 128 * NCH;
  const int nope = int(p.D - p.rope_dim), rd = int(p.rope_dim);
  const int64_t bytes = kFp8 ? kv_slot_bytes(KvFormat::Fp8Ds, D, rd) : int64_t(D) * 4;
  float q[NCH][4], o[NCH][4];
  const float* qrow = p.q + (t * p.H + h) * D;
#pragma unroll
  for (int i = 0; i < NCH; ++i) {
    const float4 v = *reinterpret_cast<const float4*>(qrow + 128 * i + 4 * lane);
    q[i][0] = v.x, q[i][1] = v.y, q[i][2] = v.z, q[i][3] = v.w;
    o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = j0; j < j1; ++j) {
    const uint8_t* base = nullptr;
    if (j < p.Wn) {
      const int32_t v = p.win[t * p.Wn + j];
      if (v >= 0 && v < p.win_pool_slots)
        base = static_cast<const uint8_t*>(p.win_pool) + int64_t(v) * bytes;
      else if (v <= -2 && int64_t(-2) - v < p.T)
        base = static_cast<const uint8_t*>(p.call_kv) + (int64_t(-2) - v) * bytes;
    } else {
      const int32_t v = p.comp[t * p.comp_stride + (j - p.Wn)];
      if (v >= 0 && v < p.comp_pool_slots) base = static_cast<const uint8_t*>(p.comp_pool) + int64_t(v) * bytes;
    }
    if (base == nullptr) continue;
    float k[NCH][4];
#pragma unroll
    for (int i = 0; i < NCH; ++i) {
      const int d0 = 128 * i + 4 * lane;
      if constexpr (kFp8) {
        if (d0 < nope) {
          const uint32_t w = *reinterpret_cast<const uint32_t*>(base + d0);
          const float sc = scale_value(base[nope + 2 * rd + d0 / 64]);
#pragma unroll
          for (int c = 0; c < 4; ++c) k[i][c] = __fmul_rn(dec_e4m3(uint8_t(w >> (8 * c))), sc);
        } else {
          const uint2 w = *reinterpret_cast<const uint2*>(base + nope + 2 * (d0 - nope));
          k[i][0] = __uint_as_float(w.x << 16);
          k[i][1] = __uint_as_float(w.x & 0xFFFF0000u);
          k[i][2] = __uint_as_float(w.y << 16);
          k[i][3] = __uint_as_float(w.y & 0xFFFF0000u);
        }
      } else {
        const float4 v = *reinterpret_cast<const float4*>(base + int64_t(d0) * 4);
        k[i][0] = v.x, k[i][1] = v.y, k[i][2] = v.z, k[i][3] = v.w;
      }
    }
    float d = 0.0f;
#pragma unroll
    for (int i = 0; i < NCH; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) d = __fmaf_rn(q[i][c], k[i][c], d);
    const float sc = __fmul_rn(warp_sum(d), p.scale);
    if (sc > m) {
      const float alpha = expf(m - sc);
      l *= alpha;
#pragma unroll
      for (int i = 0; i < NCH; ++i)
#pragma unroll
        for (int c = 0; c < 4; ++c) o[i][c] *= alpha;
      m = sc;
    }
    const float pr = expf(sc - m);
    l += pr;
#pragma unroll
    for (int i = 0; i < NCH; ++i)
#pragma unroll
      for (int c = 0; c < 4; ++c) o[i][c] = __fmaf_rn(pr, k[i][c], o[i][c]);
  }
  const int64_t idx = (tl * p.H + h) * ns + s;
#pragma unroll
  for (int i = 0; i < NCH; ++i)
    *reinterpret_cast<float4*>(part_o + idx * D + 128 * i + 4 * lane) = make_float4(o[i][0], o[i][1], o[i][2], o[i][3]);
  if (lane == 0) {
    part_ml[idx * 2] = m;
    part_ml[idx * 2 + 1] = l;
  }
}

// The tiled variant: the CTA decodes kKeyTile keys at a time into shared memory as fp32 (each key
// loaded and decoded once per CTA, the tile's loads in flight together); each warp (one head)
// then scores the tile, updates its running max once per tile and accumulates from shared memory.
constexpr int kKeyTile = 16;

template <int NCH, bool kFp8>
__global__ void __launch_bounds__(32 * kHeadsPerCta) paged_attention_tiled_kernel(PagedAttentionParams p, int64_t t0,
                                                                                 int ns, float* __restrict__ part_o,
                                                                                 float* __restrict__ part_ml) {
  constexpr int D = 128 * NCH, D4 = D / 4;
  __shared__ float4 ks[kKeyTile][D4];
  __shared__ const uint8_t* sbase[kKeyTile];
  const int s = blockIdx.x;
  const int64_t tl = blockIdx.z, t = t0 + tl;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t h = int64_t(blockIdx.y) * kHeadsPerCta + warp;
  const bool active = h < p.H;
  const int64_t len = p.Wn + comp_len(p, t);
  const int64_t j0 = int64_t(s) * kPagedAttentionSplit;
  if (j0 >= len) return;  // uniform over the CTA
  const int64_t j1 = j0 + kPagedAttentionSplit < len ? j0 + kPagedAttentionSplit : len;
  const int nope = int(p.D - p.rope_dim), rd = int(p.rope_dim);
  const int64_t bytes = kFp8 ? kv_slot_bytes(KvFormat::Fp8Ds, D, rd) : int64_t(D) * 4;
  float q[NCH][4], o[NCH][4];
  const float* qrow = p.q + (t * p.H + (active ? h : 0)) * D;
#pragma unroll
  for (int i = 0; i < NCH; ++i) {
    const float4 v = *reinterpret_cast<const float4*>(qrow + 128 * i + 4 * lane);
    q[i][0] = v.x, q[i][1] = v.y, q[i][2] = v.z, q[i][3] = v.w;
    o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t jt = j0; jt < j1; jt += kKeyTile) {
    const int nt = int(j1 - jt < kKeyTile ? j1 - jt : kKeyTile);
    if (threadIdx.x < kKeyTile) {
      const int64_t j = jt + threadIdx.x;
      const uint8_t* base = nullptr;
      if (int(threadIdx.x) < nt) {
        if (j < p.Wn) {
          const int32_t v = p.win[t * p.Wn + j];
          if (v >= 0 && v < p.win_pool_slots)
            base = static_cast<const uint8_t*>(p.win_pool) + int64_t(v) * bytes;
          else if (v <= -2 && int64_t(-2) - v < p.T)
            base = static_cast<const uint8_t*>(p.call_kv) + (int64_t(-2) - v) * bytes;
        } else {
          const int32_t v = p.comp[t * p.comp_stride + (j - p.Wn)];
          if (v >= 0 && v < p.comp_pool_slots) base = static_cast<const uint8_t*>(p.comp_pool) + int64_t(v) * bytes;
        }
      }
      sbase[threadIdx.x] = base;
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < nt * D4; idx += 32 * kHeadsPerCta) {
      const int r = idx / D4, c4 = idx % D4, d0 = 4 * c4;
      const uint8_t* base = sbase[r];
      float4 k = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (base != nullptr) {
        if constexpr (kFp8) {
          if (d0 < nope) {
            const uint32_t w = *reinterpret_cast<const uint32_t*>(base + d0);
            const float sc = scale_value(base[nope + 2 * rd + d0 / 64]);
            k.x = __fmul_rn(dec_e4m3(uint8_t(w)), sc);
            k.y = __fmul_rn(dec_e4m3(uint8_t(w >> 8)), sc);
            k.z = __fmul_rn(dec_e4m3(uint8_t(w >> 16)), sc);
            k.w = __fmul_rn(dec_e4m3(uint8_t(w >> 24)), sc);
          } else {
            const uint2 w = *reinterpret_cast<const uint2*>(base + nope + 2 * (d0 - nope));
            k.x = __uint_as_float(w.x << 16);
            k.y = __uint_as_float(w.x & 0xFFFF0000u);
            k.z = __uint_as_float(w.y << 16);
            k.w = __uint_as_float(w.y & 0xFFFF0000u);
          }
        } else {
          k = *reinterpret_cast<const float4*>(base + int64_t(d0) * 4);
        }
      }
      ks[r][c4] = k;
    }
    __syncthreads();
    if (active) {
      float sc[kKeyTile];
      float mt = m;
#pragma unroll
      for (int r = 0; r < kKeyTile; ++r) {
        sc[r] = -INFINITY;
        if (r < nt && sbase[r] != nullptr) {
          float d = 0.0f;
#pragma unroll
          for (int i = 0; i < NCH; ++i) {
            const float4 k = ks[r][32 * i + lane];
            d = __fmaf_rn(q[i][0], k.x, d);
            d = __fmaf_rn(q[i][1], k.y, d);
            d = __fmaf_rn(q[i][2], k.z, d);
            d = __fmaf_rn(q[i][3], k.w, d);
          }
          sc[r] = __fmul_rn(warp_sum(d), p.scale);
          mt = sc[r] > mt ? sc[r] : mt;
        }
      }
      if (mt > m) {
        const float alpha = expf(m - mt);
        l *= alpha;
#pragma unroll
        for (int i = 0; i < NCH; ++i)
#pragma unroll
          for (int c = 0; c < 4; ++c) o[i][c] *= alpha;
        m = mt;
      }
#pragma unroll
      for (int r = 0; r < kKeyTile; ++r) {
        if (r < nt && sbase[r] != nullptr) {
          const float pr = expf(sc[r] - m);
          l += pr;
#pragma unroll
          for (int i = 0; i < NCH; ++i) {
            const float4 k = ks[r][32 * i + lane];
            o[i][0] = __fmaf_rn(pr, k.x, o[i][0]);
            o[i][1] = __fmaf_rn(pr, k.y, o[i][1]);
            o[i][2] = __fmaf_rn(pr, k.z, o[i][2]);
            o[i][3] = __fmaf_rn(pr, k.w, o[i][3]);
          }
        }
      }
    }
    __syncthreads();
  }
  if (!active) return;
  const int64_t idx = (tl * p.H + h) * ns + s;
#pragma unroll
  for (int i = 0; i < NCH; ++i)
    *reinterpret_cast<float4*>(part_o + idx * D + 128 * i + 4 * lane) = make_float4(o[i][0], o[i][1], o[i][2], o[i][3]);
  if (lane == 0) {
    part_ml[idx * 2] = m;
    part_ml[idx * 2 + 1] = l;
  }
}

__global__ void paged_attention_combine_kernel(PagedAttentionParams p, int64_t t0, int ns,
                                               const float* __restrict__ part_o, const float* __restrict__ part_ml) {
  const int64_t h = blockIdx.x, tl = blockIdx.y, t = t0 + tl;
  const int64_t len = p.Wn + comp_len(p, t);
  const int nsplit = int((len + kPagedAttentionSplit - 1) / kPagedAttentionSplit);
  float* out = p.out + (t * p.H + h) * p.D;
  if (nsplit == 0) {
    for (int64_t c = threadIdx.x; c < p.D; c += blockDim.x) out[c] = 0.0f;
    return;
  }
  const int64_t base = (tl * p.H + h) * ns;
  const float sink = p.sink[h];
  float M = sink;
  for (int s = 0; s < nsplit; ++s) M = std_max(M, part_ml[(base + s) * 2]);
  float den = expf(sink - M);
  for (int s = 0; s < nsplit; ++s) den += part_ml[(base + s) * 2 + 1] * expf(part_ml[(base + s) * 2] - M);
  for (int64_t c = threadIdx.x; c < p.D; c += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < nsplit; ++s) acc += part_o[(base + s) * p.D + c] * expf(part_ml[(base + s) * 2] - M);
    out[c] = acc / den;
  }
}

template <int NCH>
cudaError_t launch_attention_d(const PagedAttentionParams& p, int64_t t0, int64_t tc, int ns, float* part_o,
                               float* part_ml, bool tiled, cudaStream_t stream) {
  const dim3 grid(unsigned(ns), unsigned((p.H + kHeadsPerCta - 1) / kHeadsPerCta), unsigned(tc));
  if (tiled) {
    if (p.format == KvFormat::F32)
      paged_attention_tiled_kernel<NCH, false><<<grid, 32 * kHeadsPerCta, 0, stream>>>(p, t0, ns, part_o, part_ml);
    else
      paged_attention_tiled_kernel<NCH, true><<<grid, 32 * kHeadsPerCta, 0, stream>>>(p, t0, ns, part_o, part_ml);
  } else if (p.format == KvFormat::F32)
    paged_attention_partial_kernel<NCH, false><<<grid, 32 * kHeadsPerCta, 0, stream>>>(p, t0, ns, part_o, part_ml);
  else
    paged_attention_partial_kernel<NCH, true><<<grid, 32 * kHeadsPerCta, 0, stream>>>(p, t0, ns, part_o, part_ml);
  return cudaGetLastError();
}

template <int HD, bool kFp4, int HG>
cudaError_t launch_scores_kernel(const IndexerTopkParams& p, int64_t t0, int64_t tc, float* scores, int64_t stride,
                                 bool write_tail, cudaStream_t stream) {
  constexpr int kEntries = kScoreThreads / HG;
  const int64_t cols = write_tail ? stride : p.max_visible;
  const dim3 grid(unsigned((cols + kEntries - 1) / kEntries), unsigned(tc));
  const size_t smem = size_t(p.nh * HD + p.nh + kEntries * (p.nh + 1)) * 4;
  auto* kern = indexer_scores_kernel<HD, kFp4, HG>;
  if (smem > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (e != cudaSuccess) return e;
  }
  kern<<<grid, kScoreThreads, smem, stream>>>(p, t0, scores, stride, write_tail);
  return cudaGetLastError();
}

template <int HD>
cudaError_t launch_scores_hd(const IndexerTopkParams& p, int64_t t0, int64_t tc, float* scores, int64_t stride,
                             bool write_tail, cudaStream_t stream) {
  const bool groups = p.nh % 4 == 0;
  if (p.format == KeyFormat::F32)
    return groups ? launch_scores_kernel<HD, false, 4>(p, t0, tc, scores, stride, write_tail, stream)
                  : launch_scores_kernel<HD, false, 1>(p, t0, tc, scores, stride, write_tail, stream);
  return groups ? launch_scores_kernel<HD, true, 4>(p, t0, tc, scores, stride, write_tail, stream)
                : launch_scores_kernel<HD, true, 1>(p, t0, tc, scores, stride, write_tail, stream);
}

}  // namespace

cudaError_t launch_indexer_scores(const IndexerTopkParams& p, int64_t t0, int64_t tc, float* scores, int64_t stride,
                                  bool write_tail, cudaStream_t stream) {
  if (tc == 0) return cudaSuccess;
  if (!write_tail && p.max_visible == 0) return cudaSuccess;
  switch (p.hd) {
    case 32: return launch_scores_hd<32>(p, t0, tc, scores, stride, write_tail, stream);
    case 64: return launch_scores_hd<64>(p, t0, tc, scores, stride, write_tail, stream);
    default: return launch_scores_hd<128>(p, t0, tc, scores, stride, write_tail, stream);
  }
}

cudaError_t launch_indexer_select(const IndexerTopkParams& p, int64_t t0, int64_t tc, const float* scores,
                                  int64_t stride, cudaStream_t stream) {
  if (tc == 0) return cudaSuccess;
  indexer_select_kernel<<<unsigned(tc), kSelectThreads, 0, stream>>>(p, t0, scores, stride);
  return cudaGetLastError();
}

cudaError_t launch_paged_attention(const PagedAttentionParams& p, int64_t t0, int64_t tc, int64_t ns, float* scratch,
                                   bool tiled, cudaStream_t stream) {
  if (tc == 0) return cudaSuccess;
  float* part_o = scratch;
  float* part_ml = scratch + tc * p.H * ns * p.D;
  if (ns > 0) {
    cudaError_t err;
    switch (p.D) {
      case 128: err = launch_attention_d<1>(p, t0, tc, int(ns), part_o, part_ml, tiled, stream); break;
      case 256: err = launch_attention_d<2>(p, t0, tc, int(ns), part_o, part_ml, tiled, stream); break;
      case 384: err = launch_attention_d<3>(p, t0, tc, int(ns), part_o, part_ml, tiled, stream); break;
      default: err = launch_attention_d<4>(p, t0, tc, int(ns), part_o, part_ml, tiled, stream); break;
    }
    if (err != cudaSuccess) return err;
  }
  paged_attention_combine_kernel<<<dim3(unsigned(p.H), unsigned(tc)), 128, 0, stream>>>(p, t0, int(ns), part_o, part_ml);
  return cudaGetLastError();
}

}  // namespace dsv4::cuda::detail
