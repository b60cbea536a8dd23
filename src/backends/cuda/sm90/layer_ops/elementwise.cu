// Kernels of rms_norm, rope, swiglu, embed and compress_pool (see their headers).
#include <cuda_runtime.h>

#include "backends/cuda/sm90/layer_ops/codec.h"
#include "backends/cuda/sm90/layer_ops/kernels.h"

namespace dsv4::cuda::detail {
namespace {

using namespace dsv4::cuda::layer;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
  return v;
}

// ---------------- rms_norm ----------------
// kWarp: one warp per row (n <= 1024); else one 256-thread block per row. kVec: float4 accesses.
template <bool kWarp, bool kVec>
__global__ void __launch_bounds__(256) rms_norm_kernel(const float* __restrict__ x, float* y,
                                                       const float* __restrict__ weight, int64_t rows,
                                                       int64_t n, int64_t ld, float eps) {
  const int tid = kWarp ? int(threadIdx.x & 31) : int(threadIdx.x);
  const int nthreads = kWarp ? 32 : int(blockDim.x);
  const int64_t r = kWarp ? int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32 : int64_t(blockIdx.x);
  if (r >= rows) return;
  const float* xr = x + r * ld;
  float* yr = y + r * ld;
  double ss = 0.0;
  if (kVec) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    for (int64_t i = tid; i < n / 4; i += nthreads) {
      const float4 v = x4[i];
      ss += double(v.x) * double(v.x);
      ss += double(v.y) * double(v.y);
      ss += double(v.z) * double(v.z);
      ss += double(v.w) * double(v.w);
    }
  } else {
    for (int64_t i = tid; i < n; i += nthreads) ss += double(xr[i]) * double(xr[i]);
  }
  ss = warp_sum(ss);
  if (!kWarp) {
    __shared__ double part[8];
    if ((tid & 31) == 0) part[tid >> 5] = ss;
    __syncthreads();
    ss = 0.0;
    for (int w = 0; w < nthreads / 32; ++w) ss += part[w];
  }
  const float inv = float(1.0 / sqrt(ss / double(n) + double(eps)));
  if (kVec) {
    const float4* x4 = reinterpret_cast<const float4*>(xr);
    float4* y4 = reinterpret_cast<float4*>(yr);
    for (int64_t i = tid; i < n / 4; i += nthreads) {
      float4 v = x4[i];
      v.x = mul_rn(v.x, inv);
      v.y = mul_rn(v.y, inv);
      v.z = mul_rn(v.z, inv);
      v.w = mul_rn(v.w, inv);
      if (weight != nullptr) {
        const float4 w = reinterpret_cast<const float4*>(weight)[i];
        v.x = mul_rn(w.x, v.x);
        v.y = mul_rn(w.y, v.y);
        v.z = mul_rn(w.z, v.z);
        v.w = mul_rn(w.w, v.w);
      }
      y4[i] = v;
    }
  } else {
    for (int64_t i = tid; i < n; i += nthreads) {
      const float v = mul_rn(xr[i], inv);
      yr[i] = weight != nullptr ? mul_rn(weight[i], v) : v;
    }
  }
}

// ---------------- rope ----------------
__global__ void __launch_bounds__(256) rope_kernel(float* x, const int64_t* __restrict__ positions,
                                                   const float* __restrict__ inv_freq, int64_t vecs,
                                                   int64_t row_stride, int64_t vec_stride, int64_t offset,
                                                   int pairs, bool inverse) {
  __shared__ float cs[512], sn[512];
  const int64_t r = blockIdx.x;
  const float pos = float(positions[r]);
  for (int i = threadIdx.x; i < pairs; i += blockDim.x) {
    const float angle = mul_rn(pos, inv_freq[i]);
    double s, c;
    sincos(double(angle), &s, &c);
    cs[i] = float(c);
    sn[i] = inverse ? -float(s) : float(s);
  }
  __syncthreads();
  float* xr = x + r * row_stride + offset;
  const int64_t total = vecs * pairs;
  for (int64_t idx = threadIdx.x; idx < total; idx += blockDim.x) {
    const int64_t v = idx / pairs;
    const int i = int(idx - v * pairs);
    float* p = xr + v * vec_stride + 2 * i;
    const float a = p[0], b = p[1];
    p[0] = sub_rn(mul_rn(a, cs[i]), mul_rn(b, sn[i]));
    p[1] = add_rn(mul_rn(a, sn[i]), mul_rn(b, cs[i]));
  }
}

// ---------------- add ----------------
template <bool kVec>
__global__ void __launch_bounds__(256) add_kernel(float* y, const float* x, int64_t n, float alpha) {
  const int64_t items = kVec ? n / 4 : n;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < items; i += int64_t(gridDim.x) * blockDim.x) {
    if (kVec) {
      float4 a = reinterpret_cast<float4*>(y)[i];
      const float4 b = reinterpret_cast<const float4*>(x)[i];
      a.x = add_rn(a.x, mul_rn(alpha, b.x));
      a.y = add_rn(a.y, mul_rn(alpha, b.y));
      a.z = add_rn(a.z, mul_rn(alpha, b.z));
      a.w = add_rn(a.w, mul_rn(alpha, b.w));
      reinterpret_cast<float4*>(y)[i] = a;
    } else {
      y[i] = add_rn(y[i], mul_rn(alpha, x[i]));
    }
  }
}

// ---------------- swiglu ----------------
__device__ __forceinline__ float swiglu_elem(float gv, float uv, float limit, float rw) {
  if (limit > 0.0f) {
    gv = limit < gv ? limit : gv;  // std::min(gv, limit)
    uv = clamp_sym(uv, limit);
  }
  const float silu = div_rn(gv, add_rn(1.0f, exp_f32(-gv)));
  return mul_rn(mul_rn(silu, uv), rw);
}

template <bool kVec>
__global__ void __launch_bounds__(256) swiglu_kernel(const float* g, const float* u, const float* row_weight,
                                                     float* h, int64_t M, int64_t I, float limit) {
  const int64_t per_row = kVec ? I / 4 : I;
  const int64_t total = M * per_row;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t m = idx / per_row;
    const float rw = row_weight != nullptr ? row_weight[m] : 1.0f;
    if (kVec) {
      const float4 gv = reinterpret_cast<const float4*>(g)[idx];
      const float4 uv = reinterpret_cast<const float4*>(u)[idx];
      float4 o;
      o.x = swiglu_elem(gv.x, uv.x, limit, rw);
      o.y = swiglu_elem(gv.y, uv.y, limit, rw);
      o.z = swiglu_elem(gv.z, uv.z, limit, rw);
      o.w = swiglu_elem(gv.w, uv.w, limit, rw);
      reinterpret_cast<float4*>(h)[idx] = o;
    } else {
      h[idx] = swiglu_elem(g[idx], u[idx], limit, rw);
    }
  }
}

// ---------------- embed ----------------
template <bool kVec>
__global__ void __launch_bounds__(256) embed_kernel(const uint16_t* __restrict__ table,
                                                    const int64_t* __restrict__ ids, float* X, int64_t T,
                                                    int64_t vocab, int64_t d, int n) {
  const int64_t per_row = kVec ? d / 8 : d;
  const int64_t total = T * per_row;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = idx / per_row;
    const int64_t c = idx - t * per_row;
    const int64_t id = ids[t];
    const bool ok = id >= 0 && id < vocab;
    if (kVec) {
      float o[8];
      if (ok) {
        const uint4 q = reinterpret_cast<const uint4*>(table + id * d)[c];
        const uint32_t w[4] = {q.x, q.y, q.z, q.w};
        for (int e = 0; e < 4; ++e) {
          o[2 * e] = bits_to_f32(w[e] << 16);
          o[2 * e + 1] = bits_to_f32(w[e] & 0xFFFF0000u);
        }
      } else {
        for (int e = 0; e < 8; ++e) o[e] = bits_to_f32(kQuietNaN);
      }
      for (int j = 0; j < n; ++j) {
        float4* dst = reinterpret_cast<float4*>(X + (t * n + j) * d) + 2 * c;
        dst[0] = make_float4(o[0], o[1], o[2], o[3]);
        dst[1] = make_float4(o[4], o[5], o[6], o[7]);
      }
    } else {
      const float v = ok ? bits_to_f32(uint32_t(table[id * d + c]) << 16) : bits_to_f32(kQuietNaN);
      for (int j = 0; j < n; ++j) X[(t * n + j) * d + c] = v;
    }
  }
}

// ---------------- compress_pool ----------------
__global__ void __launch_bounds__(256) compress_pool_kernel(const float* __restrict__ kv,
                                                            const float* __restrict__ gate,
                                                            const float* __restrict__ ape, float* E,
                                                            int64_t entries, int64_t Dc, int ratio, bool overlap) {
  const int64_t total = entries * Dc;
  const int64_t width = overlap ? 2 * Dc : Dc;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = idx / Dc, ch = idx - w * Dc;
    const int64_t c = ratio;
    // pass 1: max logit, in the CPU's slot order
    float mx = -__int_as_float(0x7F800000);
    if (overlap && w > 0)
      for (int64_t s = 0; s < c; ++s) {
        const int64_t t = (w - 1) * c + s;
        const float l = add_rn(gate[t * width + ch], ape[s * width + ch]);
        mx = mx < l ? l : mx;
      }
    const int64_t half = overlap ? Dc : 0;
    for (int64_t s = 0; s < c; ++s) {
      const int64_t t = w * c + s;
      const float l = add_rn(gate[t * width + half + ch], ape[s * width + half + ch]);
      mx = mx < l ? l : mx;
    }
    float den = 0.0f, num = 0.0f;
    if (overlap && w > 0)
      for (int64_t s = 0; s < c; ++s) {
        const int64_t t = (w - 1) * c + s;
        const float e = exp_f32(sub_rn(add_rn(gate[t * width + ch], ape[s * width + ch]), mx));
        den = add_rn(den, e);
        num = add_rn(num, mul_rn(e, kv[t * width + ch]));
      }
    for (int64_t s = 0; s < c; ++s) {
      const int64_t t = w * c + s;
      const float e = exp_f32(sub_rn(add_rn(gate[t * width + half + ch], ape[s * width + half + ch]), mx));
      den = add_rn(den, e);
      num = add_rn(num, mul_rn(e, kv[t * width + half + ch]));
    }
    E[idx] = div_rn(num, den);
  }
}

unsigned grid_for(int64_t items, int threads) {
  const int64_t blocks = (items + threads - 1) / threads;
  return unsigned(blocks < 1 ? 1 : (blocks > (int64_t(1) << 20) ? (int64_t(1) << 20) : blocks));
}

}  // namespace

cudaError_t launch_rms_norm(const RmsNormParams& p, cudaStream_t stream) {
  const bool vec = p.n % 4 == 0 && p.ld % 4 == 0 && aligned16(p.x) && aligned16(p.y) &&
                   (p.weight == nullptr || aligned16(p.weight));
  if (p.n <= 1024) {
    const unsigned blocks = unsigned((p.rows + 7) / 8);
    if (vec)
      rms_norm_kernel<true, true><<<blocks, 256, 0, stream>>>(p.x, p.y, p.weight, p.rows, p.n, p.ld, p.eps);
    else
      rms_norm_kernel<true, false><<<blocks, 256, 0, stream>>>(p.x, p.y, p.weight, p.rows, p.n, p.ld, p.eps);
  } else {
    const unsigned blocks = unsigned(p.rows);
    if (vec)
      rms_norm_kernel<false, true><<<blocks, 256, 0, stream>>>(p.x, p.y, p.weight, p.rows, p.n, p.ld, p.eps);
    else
      rms_norm_kernel<false, false><<<blocks, 256, 0, stream>>>(p.x, p.y, p.weight, p.rows, p.n, p.ld, p.eps);
  }
  return cudaGetLastError();
}

cudaError_t launch_rope(const RopeParams& p, cudaStream_t stream) {
  const int pairs = p.rope_dim / 2;
  const int64_t work = p.vecs * pairs;
  const int threads = work >= 256 ? 256 : (work >= 128 ? 128 : 64);
  rope_kernel<<<unsigned(p.rows), threads, 0, stream>>>(p.x, p.positions, p.inv_freq, p.vecs, p.row_stride,
                                                         p.vec_stride, p.offset, pairs, p.inverse);
  return cudaGetLastError();
}

cudaError_t launch_add(const AddParams& p, cudaStream_t stream) {
  const bool vec = p.n % 4 == 0 && aligned16(p.x) && aligned16(p.y);
  if (vec)
    add_kernel<true><<<grid_for(p.n / 4, 256), 256, 0, stream>>>(p.y, p.x, p.n, p.alpha);
  else
    add_kernel<false><<<grid_for(p.n, 256), 256, 0, stream>>>(p.y, p.x, p.n, p.alpha);
  return cudaGetLastError();
}

cudaError_t launch_swiglu(const SwigluParams& p, cudaStream_t stream) {
  const bool vec = p.I % 4 == 0 && aligned16(p.g) && aligned16(p.u) && aligned16(p.h);
  const int64_t items = vec ? p.M * (p.I / 4) : p.M * p.I;
  if (vec)
    swiglu_kernel<true><<<grid_for(items, 256), 256, 0, stream>>>(p.g, p.u, p.row_weight, p.h, p.M, p.I, p.limit);
  else
    swiglu_kernel<false><<<grid_for(items, 256), 256, 0, stream>>>(p.g, p.u, p.row_weight, p.h, p.M, p.I, p.limit);
  return cudaGetLastError();
}

cudaError_t launch_embed(const EmbedParams& p, cudaStream_t stream) {
  const bool vec = p.d % 8 == 0 && aligned16(p.table) && aligned16(p.X);
  const int64_t items = vec ? p.T * (p.d / 8) : p.T * p.d;
  if (vec)
    embed_kernel<true><<<grid_for(items, 256), 256, 0, stream>>>(p.table, p.ids, p.X, p.T, p.vocab, p.d, p.n);
  else
    embed_kernel<false><<<grid_for(items, 256), 256, 0, stream>>>(p.table, p.ids, p.X, p.T, p.vocab, p.d, p.n);
  return cudaGetLastError();
}

cudaError_t launch_compress_pool(const DenseCompressPoolParams& p, cudaStream_t stream) {
  const int64_t entries = p.S / p.ratio;
  compress_pool_kernel<<<grid_for(entries * p.Dc, 256), 256, 0, stream>>>(p.kv, p.gate, p.ape, p.E, entries, p.Dc,
                                                                          p.ratio, p.overlap);
  return cudaGetLastError();
}

}  // namespace dsv4::cuda::detail
