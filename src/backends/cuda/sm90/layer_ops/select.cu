// Kernels of route (MoE router) and topk_indices (row-wise top-k by radix select).
#include <cuda_runtime.h>

#include "backends/cuda/sm90/layer_ops/codec.h"
#include "backends/cuda/sm90/layer_ops/kernels.h"

namespace dsv4::cuda::detail {
namespace {

using namespace dsv4::cuda::layer;

// ---------------- route: one warp per token; expert e = lane + 32·i ----------------
template <int EPL>  // experts per lane (E <= 32·EPL)
__global__ void __launch_bounds__(256) route_kernel(RouteParams p) {
  const int64_t t = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = int(threadIdx.x & 31);
  if (t >= p.S) return;
  const int E = int(p.E), k = int(p.k);
  float sc[EPL], biased[EPL];
#pragma unroll
  for (int i = 0; i < EPL; ++i) {
    const int e = lane + 32 * i;
    sc[i] = 0.0f;
    biased[i] = 0.0f;
    if (e < E) {
      sc[i] = sqrt_softplus_f32(p.logits[t * E + e]);
      p.scores[t * E + e] = sc[i];
      biased[i] = p.bias != nullptr ? add_rn(sc[i], p.bias[e]) : sc[i];
    }
  }
  int my_id = -1;
  float my_sc = 0.0f;
  if (p.tid2eid != nullptr) {
    if (lane < k) {
      const int64_t tok = p.token_ids[t];
      int64_t e = -1;
      if (tok >= 0 && tok < p.vocab) e = p.tid2eid[tok * k + lane];
      if (e >= 0 && e < E) {
        my_id = int(e);
        my_sc = sqrt_softplus_f32(p.logits[t * E + e]);
      } else {
        my_sc = bits_to_f32(kQuietNaN);
      }
    }
  } else {
    uint32_t taken = 0;
    for (int j = 0; j < k; ++j) {
      float bv = 0.0f, bs = 0.0f;
      int be = 0x7FFFFFFF;
#pragma unroll
      for (int i = 0; i < EPL; ++i) {
        const int e = lane + 32 * i;
        if (e < E && !((taken >> i) & 1u) && (be == 0x7FFFFFFF || biased[i] > bv)) {
          bv = biased[i];
          bs = sc[i];
          be = e;
        }
      }
      for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xFFFFFFFFu, bv, o);
        const float os = __shfl_xor_sync(0xFFFFFFFFu, bs, o);
        const int oe = __shfl_xor_sync(0xFFFFFFFFu, be, o);
        const bool other_better =
            oe != 0x7FFFFFFF && (be == 0x7FFFFFFF || ov > bv || (ov == bv && oe < be));
        if (other_better) {
          bv = ov;
          bs = os;
          be = oe;
        }
      }
      if ((be & 31) == lane) taken |= 1u << (be >> 5);
      if (lane == j) {
        my_id = be;
        my_sc = bs;
      }
    }
  }
  float sum = 0.0f;
  for (int j = 0; j < k; ++j) sum = add_rn(sum, __shfl_sync(0xFFFFFFFFu, my_sc, j));
  if (lane < k) {
    p.ids[t * k + lane] = my_id;
    p.weights[t * k + lane] = my_id < 0 ? bits_to_f32(kQuietNaN) : mul_rn(div_rn(my_sc, sum), p.route_scale);
  }
}

// ---------------- topk_indices: one block per row ----------------
constexpr int kTopkThreads = 512;

// U: loads per thread issued together (1 = the path run on the H200 on 2026-12-02; 8 = opt-in,
// the same per-element steps in the same index order, only the loads hoisted).
template <int U>
__global__ void __launch_bounds__(kTopkThreads) topk_kernel(const float* __restrict__ score, int32_t* sel,
                                                            int64_t Ne, int k) {
  __shared__ uint32_t hist[2048];
  __shared__ unsigned long long cand[1024];
  __shared__ uint32_t warp_tot[kTopkThreads / 32];
  __shared__ uint32_t s_digit, s_above, s_cnt_gt;
  const int tid = int(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const float* row = score + int64_t(blockIdx.x) * Ne;

  uint32_t prefix = 0, mask = 0;
  uint32_t remaining = uint32_t(k);
  const int shifts[3] = {21, 10, 0};
  const int widths[3] = {11, 11, 10};
  for (int pass = 0; pass < 3; ++pass) {
    const int shift = shifts[pass];
    const int nb = 1 << widths[pass];
    for (int b = tid; b < nb; b += kTopkThreads) hist[b] = 0;
    __syncthreads();
    for (int64_t base0 = 0; base0 < Ne; base0 += int64_t(kTopkThreads) * U) {
      float v[U];
#pragma unroll
      for (int q = 0; q < U; ++q) {
        const int64_t i = base0 + q * kTopkThreads + tid;
        v[q] = i < Ne ? row[i] : 0.0f;
      }
#pragma unroll
      for (int q = 0; q < U; ++q) {
        const int64_t i = base0 + q * kTopkThreads + tid;
        bool in = false;
        uint32_t digit = 0;
        if (i < Ne) {
          const uint32_t u = order_key(v[q]);
          in = (u & mask) == prefix;
          digit = (u >> shift) & uint32_t(nb - 1);
        }
        const uint32_t active = __ballot_sync(0xFFFFFFFFu, in);
        if (in) {
          const uint32_t peers = __match_any_sync(active, digit);
          if ((__ffs(peers) - 1) == lane) atomicAdd(&hist[digit], uint32_t(__popc(peers)));
        }
      }
    }
    __syncthreads();
    // Warp 0 finds the digit of the remaining-th largest: lane l owns bins [nb - (l+1)C, nb - lC).
    if (warp == 0) {
      const int C = nb / 32;
      const int hi = nb - lane * C;  // exclusive
      uint32_t mine = 0;
      for (int b = hi - 1; b >= hi - C; --b) mine += hist[b];
      uint32_t incl = mine;
      for (int o = 1; o < 32; o <<= 1) {
        const uint32_t v = __shfl_up_sync(0xFFFFFFFFu, incl, o);
        if (lane >= o) incl += v;
      }
      const uint32_t excl = incl - mine;
      const bool here = excl < remaining && incl >= remaining;
      if (here) {
        uint32_t cum = excl;
        for (int b = hi - 1; b >= hi - C; --b) {
          const uint32_t c = hist[b];
          if (cum + c >= remaining) {
            s_digit = uint32_t(b);
            s_above = cum;
            break;
          }
          cum += c;
        }
      }
    }
    __syncthreads();
    prefix |= s_digit << shift;
    mask |= uint32_t(nb - 1) << shift;
    remaining -= s_above;
    __syncthreads();
  }
  // prefix = the k-th largest key T; `remaining` copies of T are taken (smallest indices first).
  const uint32_t T = prefix;
  const uint32_t G = uint32_t(k) - remaining;
  if (tid == 0) s_cnt_gt = 0;
  __syncthreads();
  uint32_t taken = 0;
  for (int64_t base0 = 0; base0 < Ne; base0 += int64_t(kTopkThreads) * U) {
    float v[U];
#pragma unroll
    for (int q = 0; q < U; ++q) {
      const int64_t i = base0 + q * kTopkThreads + tid;
      v[q] = i < Ne ? row[i] : 0.0f;
    }
#pragma unroll
    for (int q = 0; q < U; ++q) {  // sub-tiles in index order
      const int64_t base = base0 + q * kTopkThreads;
      const int64_t i = base + tid;
      uint32_t u = 0;
      if (i < Ne) u = order_key(v[q]);
      const bool gt = i < Ne && u > T;
      const bool eq = i < Ne && u == T && taken < remaining;
      if (gt) {
        const uint32_t pos = atomicAdd(&s_cnt_gt, 1u);
        cand[pos] = (static_cast<unsigned long long>(u) << 32) | (0xFFFFFFFFu - uint32_t(i));
      }
      if (taken < remaining) {  // uniform across the block
        const uint32_t bal = __ballot_sync(0xFFFFFFFFu, eq);
        if (lane == 0) warp_tot[warp] = __popc(bal);
        __syncthreads();
        uint32_t before = taken;
        for (int w = 0; w < warp; ++w) before += warp_tot[w];
        before += __popc(bal & ((1u << lane) - 1u));
        if (eq && before < remaining)
          cand[G + before] = (static_cast<unsigned long long>(T) << 32) | (0xFFFFFFFFu - uint32_t(i));
        uint32_t tile = 0;
        for (int w = 0; w < kTopkThreads / 32; ++w) tile += warp_tot[w];
        taken += tile;
        __syncthreads();
      }
    }
  }
  // Bitonic sort (descending) of the k candidates padded to a power of two with 0 keys.
  int P = 1;
  while (P < k) P <<= 1;
  for (int j = k + tid; j < P; j += kTopkThreads) cand[j] = 0ull;
  __syncthreads();
  for (int size = 2; size <= P; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      for (int t = tid; t < P / 2; t += kTopkThreads) {
        const int lo = 2 * t - (t & (stride - 1));
        const int hi = lo + stride;
        const bool desc = (lo & size) == 0;
        const unsigned long long a = cand[lo], b = cand[hi];
        if ((a < b) == desc) {
          cand[lo] = b;
          cand[hi] = a;
        }
      }
      __syncthreads();
    }
  }
  int32_t* out = sel + int64_t(blockIdx.x) * k;
  for (int j = tid; j < k; j += kTopkThreads) {
    const unsigned long long c = cand[j];
    const uint32_t u = uint32_t(c >> 32);
    out[j] = u == kKeyNegInf ? -1 : int32_t(0xFFFFFFFFu - uint32_t(c & 0xFFFFFFFFu));
  }
}

}  // namespace

cudaError_t launch_route(const RouteParams& p, cudaStream_t stream) {
  const unsigned blocks = unsigned((p.S + 7) / 8);
  if (p.E <= 32)
    route_kernel<1><<<blocks, 256, 0, stream>>>(p);
  else if (p.E <= 128)
    route_kernel<4><<<blocks, 256, 0, stream>>>(p);
  else if (p.E <= 256)
    route_kernel<8><<<blocks, 256, 0, stream>>>(p);
  else if (p.E <= 384)
    route_kernel<12><<<blocks, 256, 0, stream>>>(p);
  else
    route_kernel<32><<<blocks, 256, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launch_topk_indices(const TopkIndicesParams& p, cudaStream_t stream) {
  if (p.batched_loads)
    topk_kernel<8><<<unsigned(p.S), kTopkThreads, 0, stream>>>(p.score, p.sel, p.Ne, int(p.k));
  else
    topk_kernel<1><<<unsigned(p.S), kTopkThreads, 0, stream>>>(p.score, p.sel, p.Ne, int(p.k));
  return cudaGetLastError();
}

}  // namespace dsv4::cuda::detail
