// Kernels of the paged stores / loads (kv_store.h), of the compressor ops (compress_pool.h) and
// of gather_rows (gather_rows.h).
#include <cstdint>
#include <limits>

#include "backends/cuda/sm90/paged/paged_codec.h"
#include "backends/cuda/sm90/paged/paged_kernels.h"

namespace dsv4::cuda::detail {
namespace {

using namespace dsv4::cuda::paged;

constexpr int kThreads = 256;

unsigned grid_for(int64_t work, int threads) {
  const int64_t blocks = (work + threads - 1) / threads;
  return unsigned(blocks < 65535 * 64 ? (blocks < 1 ? 1 : blocks) : 65535 * 64);
}

__device__ __forceinline__ bool slot_ok(int32_t s, int64_t pool_slots) { return s >= 0 && int64_t(s) < pool_slots; }

// ---- F32 copies (KV and keys) ----
__global__ void store_f32_kernel(const float* __restrict__ src, const int32_t* __restrict__ slots, int64_t n,
                                 int64_t width, float* __restrict__ pool, int64_t pool_slots) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n * width;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / width, c = idx % width;
    const int32_t s = slots[i];
    if (slot_ok(s, pool_slots)) pool[int64_t(s) * width + c] = src[idx];
  }
}

__global__ void load_f32_kernel(const float* __restrict__ pool, const int32_t* __restrict__ slots, int64_t n,
                                int64_t width, float* __restrict__ out, int64_t pool_slots) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n * width;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / width, c = idx % width;
    const int32_t s = slots[i];
    out[idx] = slot_ok(s, pool_slots) ? pool[int64_t(s) * width + c] : 0.0f;
  }
}

__device__ __forceinline__ float warp_max(float a) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) a = fmaxf(a, __shfl_xor_sync(0xFFFFFFFFu, a, o));
  return a;
}

// ---- Fp8Ds: one CTA per vector; warp w encodes 64-channel blocks w, w + 8, ... ----
__global__ void kv_store_fp8_kernel(const float* __restrict__ vecs, const int32_t* __restrict__ slots, int D,
                                    int rd, int64_t bytes, uint8_t* __restrict__ pool, int64_t pool_slots) {
  const int64_t i = blockIdx.x;
  const int32_t slot = slots[i];
  if (!slot_ok(slot, pool_slots)) return;
  const float* v = vecs + i * D;
  uint8_t* o = pool + int64_t(slot) * bytes;
  const int nope = D - rd, nb = nope / 64, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int b = warp; b < nb; b += blockDim.x / 32) {
    const float x0 = v[b * 64 + 2 * lane], x1 = v[b * 64 + 2 * lane + 1];
    const float a = warp_max(std_max(std_max(0.0f, fabs_(x0)), fabs_(x1)));  // NaN ignored, as the CPU
    const float s = fp8_scale(a);
    const uint32_t c0 = fp8_code(x0, s), c1 = fp8_code(x1, s);
    *reinterpret_cast<uint16_t*>(o + b * 64 + 2 * lane) = uint16_t(c0 | (c1 << 8));
    if (lane == 0) o[nope + 2 * rd + b] = scale_byte(s);
  }
  for (int c = threadIdx.x; c < rd; c += blockDim.x)
    *reinterpret_cast<uint16_t*>(o + nope + 2 * c) = enc_bf16(v[nope + c]);
  for (int64_t c = nope + 2 * rd + nb + threadIdx.x; c < bytes; c += blockDim.x) o[c] = 0;
}

__global__ void kv_load_fp8_kernel(const uint8_t* __restrict__ pool, const int32_t* __restrict__ slots, int64_t n,
                                   int D, int rd, int64_t bytes, float* __restrict__ out, int64_t pool_slots) {
  const int nope = D - rd;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n * D;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / D;
    const int c = int(idx % D);
    const int32_t s = slots[i];
    float v = 0.0f;
    if (slot_ok(s, pool_slots)) {
      const uint8_t* o = pool + int64_t(s) * bytes;
      v = c < nope ? fp8_value(o[c], o[nope + 2 * rd + c / 64])
                   : dec_bf16(*reinterpret_cast<const uint16_t*>(o + nope + 2 * (c - nope)));
    }
    out[idx] = v;
  }
}

// ---- Mxfp4 keys: one CTA per key; warp w encodes 32-element blocks w, w + 4, ... ----
__global__ void key_store_fp4_kernel(const float* __restrict__ keys, const int32_t* __restrict__ slots, int hd,
                                     int64_t bytes, uint8_t* __restrict__ pool, int64_t pool_slots) {
  const int64_t i = blockIdx.x;
  const int32_t slot = slots[i];
  if (!slot_ok(slot, pool_slots)) return;
  const float* k = keys + i * hd;
  uint8_t* o = pool + int64_t(slot) * bytes;
  const int nb = hd / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int b = warp; b < nb; b += blockDim.x / 32) {
    const float x = k[b * 32 + lane];
    const float s = fp4_scale(warp_max(std_max(0.0f, fabs_(x))));
    const uint32_t code = fp4_code(x, s);
    const uint32_t hi = __shfl_down_sync(0xFFFFFFFFu, code, 1);
    if ((lane & 1) == 0) o[(b * 32 + lane) / 2] = uint8_t(code | (hi << 4));
    if (lane == 0) o[hd / 2 + b] = scale_byte(s);
  }
  for (int64_t c = hd / 2 + nb + threadIdx.x; c < bytes; c += blockDim.x) o[c] = 0;
}

__global__ void key_load_fp4_kernel(const uint8_t* __restrict__ pool, const int32_t* __restrict__ slots, int64_t n,
                                    int hd, int64_t bytes, float* __restrict__ out, int64_t pool_slots) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < n * hd;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / hd;
    const int c = int(idx % hd);
    const int32_t s = slots[i];
    float v = 0.0f;
    if (slot_ok(s, pool_slots)) {
      const uint8_t* o = pool + int64_t(s) * bytes;
      v = fp4_value((o[c / 2] >> (4 * (c & 1))) & 0xFu, o[hd / 2 + c / 32]);
    }
    out[idx] = v;
  }
}

// ---- compressor pooling: one thread per (entry, channel) ----
__global__ void compress_pool_kernel(CompressPoolParams p, int64_t W, int L) {
  const int64_t e = blockIdx.y;
  const int64_t ch = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (ch >= p.Dc) return;
  const bool overlap = p.ratio == 4;
  const int c = p.ratio;
  const int32_t* src = p.src + e * L;
  auto locate = [&](int j, const float** kv, const float** gt, int64_t* col, int64_t* arow) -> bool {
    const int32_t s = src[j];
    if (s == std::numeric_limits<int32_t>::min()) return false;
    if (s >= 0) {
      if (s >= p.T) return false;
      *kv = p.kv + int64_t(s) * W;
      *gt = p.gate + int64_t(s) * W;
    } else {
      const int64_t r = int64_t(-1) - s;
      if (r >= p.ring_rows) return false;
      *kv = p.ring_kv + r * W;
      *gt = p.ring_gate + r * W;
    }
    const bool prev = overlap && j < c;
    *col = overlap && !prev ? p.Dc + ch : ch;
    *arow = overlap && !prev ? j - c : j;
    return true;
  };
  float mx = -INFINITY;
  for (int j = 0; j < L; ++j) {
    const float *kv, *gt;
    int64_t col, arow;
    if (!locate(j, &kv, &gt, &col, &arow)) continue;
    mx = std_max(mx, __fadd_rn(gt[col], p.ape[arow * W + col]));
  }
  float den = 0.0f, num = 0.0f;
  for (int j = 0; j < L; ++j) {
    const float *kv, *gt;
    int64_t col, arow;
    if (!locate(j, &kv, &gt, &col, &arow)) continue;
    const float ex = expf(__fsub_rn(__fadd_rn(gt[col], p.ape[arow * W + col]), mx));
    den = __fadd_rn(den, ex);
    num = __fadd_rn(num, __fmul_rn(ex, kv[col]));
  }
  p.out[e * p.Dc + ch] = __fdiv_rn(num, den);
}

__global__ void ring_store_kernel(RingStoreParams p) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < p.n * p.W;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / p.W, c = idx % p.W;
    const int32_t r = p.rows[i], d = p.dst[i];
    if (r < 0 || r >= p.T || d < 0 || d >= p.ring_rows) continue;
    p.ring_kv[int64_t(d) * p.W + c] = p.kv[int64_t(r) * p.W + c];
    p.ring_gate[int64_t(d) * p.W + c] = p.gate[int64_t(r) * p.W + c];
  }
}

__global__ void gather_rows_kernel(GatherRowsParams p) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < p.n * p.W;
       idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx / p.W, c = idx % p.W;
    const int32_t r = p.rows[i];
    p.dst[idx] = r >= 0 && int64_t(r) < p.src_rows ? p.src[int64_t(r) * p.W + c] : 0.0f;
  }
}

}  // namespace

cudaError_t launch_kv_store(const KvStoreParams& p, cudaStream_t stream) {
  if (p.format == KvFormat::F32) {
    store_f32_kernel<<<grid_for(p.n * p.D, kThreads), kThreads, 0, stream>>>(
        p.vecs, p.slots, p.n, p.D, static_cast<float*>(p.pool), p.pool_slots);
  } else {
    kv_store_fp8_kernel<<<unsigned(p.n), 256, 0, stream>>>(p.vecs, p.slots, int(p.D), int(p.rope_dim),
                                                          kv_slot_bytes(p.format, p.D, p.rope_dim),
                                                          static_cast<uint8_t*>(p.pool), p.pool_slots);
  }
  return cudaGetLastError();
}

cudaError_t launch_key_store(const KeyStoreParams& p, cudaStream_t stream) {
  if (p.format == KeyFormat::F32) {
    store_f32_kernel<<<grid_for(p.n * p.hd, kThreads), kThreads, 0, stream>>>(
        p.keys, p.slots, p.n, p.hd, static_cast<float*>(p.pool), p.pool_slots);
  } else {
    key_store_fp4_kernel<<<unsigned(p.n), 128, 0, stream>>>(p.keys, p.slots, int(p.hd), key_slot_bytes(p.format, p.hd),
                                                           static_cast<uint8_t*>(p.pool), p.pool_slots);
  }
  return cudaGetLastError();
}

cudaError_t launch_kv_load(const KvLoadParams& p, cudaStream_t stream) {
  if (p.format == KvFormat::F32)
    load_f32_kernel<<<grid_for(p.n * p.D, kThreads), kThreads, 0, stream>>>(
        static_cast<const float*>(p.pool), p.slots, p.n, p.D, p.out, p.pool_slots);
  else
    kv_load_fp8_kernel<<<grid_for(p.n * p.D, kThreads), kThreads, 0, stream>>>(
        static_cast<const uint8_t*>(p.pool), p.slots, p.n, int(p.D), int(p.rope_dim),
        kv_slot_bytes(p.format, p.D, p.rope_dim), p.out, p.pool_slots);
  return cudaGetLastError();
}

cudaError_t launch_key_load(const KeyLoadParams& p, cudaStream_t stream) {
  if (p.format == KeyFormat::F32)
    load_f32_kernel<<<grid_for(p.n * p.hd, kThreads), kThreads, 0, stream>>>(
        static_cast<const float*>(p.pool), p.slots, p.n, p.hd, p.out, p.pool_slots);
  else
    key_load_fp4_kernel<<<grid_for(p.n * p.hd, kThreads), kThreads, 0, stream>>>(
        static_cast<const uint8_t*>(p.pool), p.slots, p.n, int(p.hd), key_slot_bytes(p.format, p.hd), p.out,
        p.pool_slots);
  return cudaGetLastError();
}

cudaError_t launch_compress_pool_paged(const CompressPoolParams& p, cudaStream_t stream) {
  const bool overlap = p.ratio == 4;
  const int64_t W = (overlap ? 2 : 1) * p.Dc;
  const int L = (overlap ? 2 : 1) * p.ratio;
  const dim3 grid(unsigned((p.Dc + 127) / 128), unsigned(p.n_emit));
  compress_pool_kernel<<<grid, 128, 0, stream>>>(p, W, L);
  return cudaGetLastError();
}

cudaError_t launch_ring_store(const RingStoreParams& p, cudaStream_t stream) {
  ring_store_kernel<<<grid_for(p.n * p.W, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t launch_gather_rows(const GatherRowsParams& p, cudaStream_t stream) {
  gather_rows_kernel<<<grid_for(p.n * p.W, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace dsv4::cuda::detail
