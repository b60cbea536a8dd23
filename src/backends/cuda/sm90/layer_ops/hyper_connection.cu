// Kernels of hc_pre, hc_post and hc_head (hyper_connection.h). n = 4 streams.
#include <cuda_runtime.h>

#include "backends/cuda/sm90/layer_ops/codec.h"
#include "backends/cuda/sm90/layer_ops/kernels.h"

namespace dsv4::cuda::detail {
namespace {

using namespace dsv4::cuda::layer;

constexpr int kN = 4;
constexpr int kProjThreads = 128;  // 128 threads x float4 = 512 columns per step, 2 steps per chunk
constexpr int kRedStride = kProjThreads + 1;

// Projection partials: ws[(chunk·S + s)·(MIX+1) + i] = Σ over the chunk's columns of fn[i]·x
// (i < MIX) and Σ x² (i = MIX). Every token's sums follow the same fixed order whatever TM and S.
template <int MIX, int TM>
__global__ void __launch_bounds__(kProjThreads) hc_proj_kernel(const float* __restrict__ X,
                                                               const float* __restrict__ fn, float* ws,
                                                               int64_t S, int64_t W) {
  extern __shared__ float red[];  // [TM·(MIX+1)][kRedStride]
  constexpr int A = MIX + 1;
  const int tid = int(threadIdx.x);
  const int64_t chunk = blockIdx.x;
  const int64_t s0 = int64_t(blockIdx.y) * TM;
  float acc[TM][A];
#pragma unroll
  for (int t = 0; t < TM; ++t)
#pragma unroll
    for (int a = 0; a < A; ++a) acc[t][a] = 0.0f;
#pragma unroll
  for (int step = 0; step < kHcChunkCols / (4 * kProjThreads); ++step) {
    const int64_t col = chunk * kHcChunkCols + step * (4 * kProjThreads) + 4 * tid;
    if (col < W) {
      float4 xv[TM];
#pragma unroll
      for (int t = 0; t < TM; ++t) {
        xv[t] = s0 + t < S ? __ldg(reinterpret_cast<const float4*>(X + (s0 + t) * W + col))
                           : make_float4(0.f, 0.f, 0.f, 0.f);
        float q = acc[t][MIX];
        q = fmaf(xv[t].x, xv[t].x, q);
        q = fmaf(xv[t].y, xv[t].y, q);
        q = fmaf(xv[t].z, xv[t].z, q);
        q = fmaf(xv[t].w, xv[t].w, q);
        acc[t][MIX] = q;
      }
#pragma unroll
      for (int i = 0; i < MIX; ++i) {
        const float4 w = __ldg(reinterpret_cast<const float4*>(fn + int64_t(i) * W + col));
#pragma unroll
        for (int t = 0; t < TM; ++t) {
          float q = acc[t][i];
          q = fmaf(xv[t].x, w.x, q);
          q = fmaf(xv[t].y, w.y, q);
          q = fmaf(xv[t].z, w.z, q);
          q = fmaf(xv[t].w, w.w, q);
          acc[t][i] = q;
        }
      }
    }
  }
#pragma unroll
  for (int t = 0; t < TM; ++t)
#pragma unroll
    for (int a = 0; a < A; ++a) red[(t * A + a) * kRedStride + tid] = acc[t][a];
  __syncthreads();
  for (int v = tid; v < TM * A; v += kProjThreads) {
    const int t = v / A, a = v - t * A;
    if (s0 + t >= S) continue;
    const float* rv = red + v * kRedStride;
    float q0 = 0.f, q1 = 0.f, q2 = 0.f, q3 = 0.f;
    for (int j = 0; j < kProjThreads; j += 4) {
      q0 = add_rn(q0, rv[j]);
      q1 = add_rn(q1, rv[j + 1]);
      q2 = add_rn(q2, rv[j + 2]);
      q3 = add_rn(q3, rv[j + 3]);
    }
    ws[(chunk * S + s0 + t) * A + a] = add_rn(add_rn(q0, q1), add_rn(q2, q3));
  }
}

// Sums a token's chunk partials in chunk order into m[0..MIX] (m[MIX] = Σx²); returns rms inv.
template <int MIX>
__device__ void gather_mix(const float* ws, int64_t S, int64_t s, int64_t chunks, float* m) {
  constexpr int A = MIX + 1;
  for (int a = int(threadIdx.x); a < A; a += blockDim.x) {
    float q = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) q = add_rn(q, ws[(c * S + s) * A + a]);
    m[a] = q;
  }
}

__device__ float rms_inv(float ss, int64_t W, float eps) {
  return float(1.0 / sqrt(double(ss) / double(W) + double(eps)));
}

// CPU sinkhorn (cpu_hyper_connection.cpp) in the same fp32 steps, n = 4.
__device__ void sinkhorn4(const float* Z, float eps, int iters, float* C) {
  for (int j = 0; j < kN; ++j) {
    float mx = Z[j * kN];
    for (int k = 1; k < kN; ++k) mx = mx < Z[j * kN + k] ? Z[j * kN + k] : mx;
    float sum = 0.0f;
    for (int k = 0; k < kN; ++k) sum = add_rn(sum, C[j * kN + k] = exp_f32(sub_rn(Z[j * kN + k], mx)));
    for (int k = 0; k < kN; ++k) C[j * kN + k] = add_rn(div_rn(C[j * kN + k], sum), eps);
  }
  auto cols = [&] {
    for (int k = 0; k < kN; ++k) {
      float sum = 0.0f;
      for (int j = 0; j < kN; ++j) sum = add_rn(sum, C[j * kN + k]);
      for (int j = 0; j < kN; ++j) C[j * kN + k] = div_rn(C[j * kN + k], add_rn(sum, eps));
    }
  };
  auto rows = [&] {
    for (int j = 0; j < kN; ++j) {
      float sum = 0.0f;
      for (int k = 0; k < kN; ++k) sum = add_rn(sum, C[j * kN + k]);
      for (int k = 0; k < kN; ++k) C[j * kN + k] = div_rn(C[j * kN + k], add_rn(sum, eps));
    }
  };
  cols();
  for (int it = 1; it < iters; ++it) {
    rows();
    cols();
  }
}

// out[c] = Σ_j w[j]·x[j·d + c] in j order (acc from 0, as the CPU), float4 columns.
__device__ void collapse(const float* x, int64_t d, const float* w, float* out) {
  for (int64_t c = threadIdx.x; c < d / 4; c += blockDim.x) {
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      const float4 v = __ldg(reinterpret_cast<const float4*>(x + j * d) + c);
      acc.x = add_rn(acc.x, mul_rn(w[j], v.x));
      acc.y = add_rn(acc.y, mul_rn(w[j], v.y));
      acc.z = add_rn(acc.z, mul_rn(w[j], v.z));
      acc.w = add_rn(acc.w, mul_rn(w[j], v.w));
    }
    reinterpret_cast<float4*>(out)[c] = acc;
  }
}

constexpr int kPreMix = (2 + kN) * kN;

// Sinkhorn of one token by 16 lanes of warp 0 (lane = j·4 + k holds C[j][k]); every sum gathers
// its four terms by shuffles and adds them in the CPU's order, so the result equals sinkhorn4's.
__device__ float sinkhorn4_lanes(const float* Z, float eps, int iters) {
  const int lane = int(threadIdx.x & 31);
  const int idx = lane & 15, j = idx >> 2, k = idx & 3;
  float mx = Z[j * kN];
  for (int q = 1; q < kN; ++q) mx = mx < Z[j * kN + q] ? Z[j * kN + q] : mx;
  const float e = exp_f32(sub_rn(Z[idx], mx));
  float sum = 0.0f;
  for (int q = 0; q < kN; ++q) sum = add_rn(sum, __shfl_sync(0xFFFFFFFFu, e, j * kN + q));
  float c = add_rn(div_rn(e, sum), eps);
  auto col = [&] {
    float t = 0.0f;
    for (int q = 0; q < kN; ++q) t = add_rn(t, __shfl_sync(0xFFFFFFFFu, c, q * kN + k));
    c = div_rn(c, add_rn(t, eps));
  };
  auto row = [&] {
    float t = 0.0f;
    for (int q = 0; q < kN; ++q) t = add_rn(t, __shfl_sync(0xFFFFFFFFu, c, j * kN + q));
    c = div_rn(c, add_rn(t, eps));
  };
  col();
  for (int it = 1; it < iters; ++it) {
    row();
    col();
  }
  return c;
}

// kParallel: the coefficients by 24 lanes and Sinkhorn by 16 lanes of warp 0 (same bits as the
// serial thread-0 version, which the tests compare it with).
template <bool kParallel>
__global__ void __launch_bounds__(256) hc_pre_finish_kernel(HcPreParams p, const float* ws, int64_t chunks) {
  __shared__ float m[kPreMix + 1];
  __shared__ float pre[kN];
  __shared__ float Zs[kN * kN];
  const int64_t s = blockIdx.x;
  const int64_t W = int64_t(kN) * p.d;
  gather_mix<kPreMix>(ws, p.S, s, chunks, m);
  __syncthreads();
  if (kParallel) {
    if (threadIdx.x < 32) {
      const int lane = int(threadIdx.x);
      const float r = rms_inv(m[kPreMix], W, p.norm_eps);
      if (lane < kPreMix) {
        const float mix = mul_rn(m[lane], r);
        if (lane < kN)
          pre[lane] = add_rn(sigmoid_f32(add_rn(mul_rn(mix, p.scale[0]), p.base[lane])), p.hc_eps);
        else if (lane < 2 * kN)
          p.post[s * kN + (lane - kN)] = mul_rn(2.0f, sigmoid_f32(add_rn(mul_rn(mix, p.scale[1]), p.base[lane])));
        else
          Zs[lane - 2 * kN] = add_rn(mul_rn(mix, p.scale[2]), p.base[lane]);
      }
      __syncwarp();
      const float c = sinkhorn4_lanes(Zs, p.hc_eps, p.sinkhorn_iters);
      if (lane < kN * kN) p.comb[s * kN * kN + lane] = c;
    }
  } else if (threadIdx.x == 0) {
    const float r = rms_inv(m[kPreMix], W, p.norm_eps);
    float mix[kPreMix];
    for (int i = 0; i < kPreMix; ++i) mix[i] = mul_rn(m[i], r);
    for (int j = 0; j < kN; ++j)
      pre[j] = add_rn(sigmoid_f32(add_rn(mul_rn(mix[j], p.scale[0]), p.base[j])), p.hc_eps);
    for (int j = 0; j < kN; ++j)
      p.post[s * kN + j] = mul_rn(2.0f, sigmoid_f32(add_rn(mul_rn(mix[kN + j], p.scale[1]), p.base[kN + j])));
    float Z[kN * kN], C[kN * kN];
    for (int i = 0; i < kN * kN; ++i) Z[i] = add_rn(mul_rn(mix[2 * kN + i], p.scale[2]), p.base[2 * kN + i]);
    sinkhorn4(Z, p.hc_eps, p.sinkhorn_iters, C);
    for (int i = 0; i < kN * kN; ++i) p.comb[s * kN * kN + i] = C[i];
  }
  __syncthreads();
  collapse(p.X + s * W, p.d, pre, p.a_in + s * p.d);
}

__global__ void __launch_bounds__(256) hc_head_finish_kernel(HcHeadParams p, const float* ws, int64_t chunks) {
  __shared__ float m[kN + 1];
  __shared__ float w[kN];
  const int64_t s = blockIdx.x;
  const int64_t W = int64_t(kN) * p.d;
  gather_mix<kN>(ws, p.S, s, chunks, m);
  __syncthreads();
  if (threadIdx.x == 0) {
    const float r = rms_inv(m[kN], W, p.norm_eps);
    for (int j = 0; j < kN; ++j)
      w[j] = add_rn(sigmoid_f32(add_rn(mul_rn(mul_rn(m[j], r), p.scale[0]), p.base[j])), p.hc_eps);
  }
  __syncthreads();
  collapse(p.X + s * W, p.d, w, p.y + s * p.d);
}

// Xout[s, k, :] = post[s, k]·f[s, :] + Σ_j comb[s, j, k]·X[s, j, :]
__global__ void __launch_bounds__(256) hc_post_kernel(HcPostParams p) {
  const int64_t d4 = p.d / 4;
  const int64_t total = p.S * d4;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t s = idx / d4, c = idx - s * d4;
    const float4 fv = __ldg(reinterpret_cast<const float4*>(p.f + s * p.d) + c);
    float4 xv[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) xv[j] = __ldg(reinterpret_cast<const float4*>(p.X + (s * kN + j) * p.d) + c);
    const float* cm = p.comb + s * kN * kN;
#pragma unroll
    for (int k = 0; k < kN; ++k) {
      const float pk = p.post[s * kN + k];
      float4 acc;
      acc.x = mul_rn(pk, fv.x);
      acc.y = mul_rn(pk, fv.y);
      acc.z = mul_rn(pk, fv.z);
      acc.w = mul_rn(pk, fv.w);
#pragma unroll
      for (int j = 0; j < kN; ++j) {
        const float cj = cm[j * kN + k];
        acc.x = add_rn(acc.x, mul_rn(cj, xv[j].x));
        acc.y = add_rn(acc.y, mul_rn(cj, xv[j].y));
        acc.z = add_rn(acc.z, mul_rn(cj, xv[j].z));
        acc.w = add_rn(acc.w, mul_rn(cj, xv[j].w));
      }
      reinterpret_cast<float4*>(p.Xout + (s * kN + k) * p.d)[c] = acc;
    }
  }
}

template <int MIX, int TM>
cudaError_t launch_proj(const float* X, const float* fn, float* ws, int64_t S, int64_t W, cudaStream_t stream) {
  const size_t smem = size_t(TM) * (MIX + 1) * kRedStride * sizeof(float);
  static const cudaError_t attr =
      cudaFuncSetAttribute(hc_proj_kernel<MIX, TM>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  if (attr != cudaSuccess) return attr;
  const dim3 grid(unsigned(hc_chunks(W)), unsigned((S + TM - 1) / TM));
  hc_proj_kernel<MIX, TM><<<grid, kProjThreads, smem, stream>>>(X, fn, ws, S, W);
  return cudaGetLastError();
}

// Token tile by S only: the per-token arithmetic is the same for every tile size.
template <int MIX>
cudaError_t launch_proj_any(const float* X, const float* fn, float* ws, int64_t S, int64_t W, cudaStream_t stream) {
  return S >= 32 ? launch_proj<MIX, 4>(X, fn, ws, S, W, stream) : launch_proj<MIX, 1>(X, fn, ws, S, W, stream);
}

}  // namespace

cudaError_t launch_hc_pre(const HcPreParams& p, cudaStream_t stream) {
  const int64_t W = int64_t(kN) * p.d;
  float* ws = static_cast<float*>(p.workspace);
  if (cudaError_t e = launch_proj_any<kPreMix>(p.X, p.fn, ws, p.S, W, stream); e != cudaSuccess) return e;
  if (p.parallel_sinkhorn)
    hc_pre_finish_kernel<true><<<unsigned(p.S), 256, 0, stream>>>(p, ws, hc_chunks(W));
  else
    hc_pre_finish_kernel<false><<<unsigned(p.S), 256, 0, stream>>>(p, ws, hc_chunks(W));
  return cudaGetLastError();
}

cudaError_t launch_hc_head(const HcHeadParams& p, cudaStream_t stream) {
  const int64_t W = int64_t(kN) * p.d;
  float* ws = static_cast<float*>(p.workspace);
  if (cudaError_t e = launch_proj_any<kN>(p.X, p.fn, ws, p.S, W, stream); e != cudaSuccess) return e;
  hc_head_finish_kernel<<<unsigned(p.S), 256, 0, stream>>>(p, ws, hc_chunks(W));
  return cudaGetLastError();
}

cudaError_t launch_hc_post(const HcPostParams& p, cudaStream_t stream) {
  const int64_t items = p.S * (p.d / 4);
  int64_t blocks = (items + 255) / 256;
  if (blocks > (int64_t(1) << 20)) blocks = int64_t(1) << 20;
  hc_post_kernel<<<unsigned(blocks), 256, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace dsv4::cuda::detail
