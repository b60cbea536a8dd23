// The sampling kernel: sample_row.h's per-row algorithm on a CUDA block (warp shuffles, fixed-order
// reductions and scans, shared-memory histograms).
#include <cuda_runtime.h>

#include "backends/cuda/sm90/sample/sample_kernels.h"
#include "backends/cuda/sm90/sample/sample_row.h"

namespace dsv4::cuda::detail {
namespace {

using namespace dsv4::cuda::sample;

struct DeviceBlock {
  Shared& s;
  unsigned long long* red;  // [32] shared slots for the per-warp partials

  __device__ int tid() const { return int(threadIdx.x); }
  __device__ int threads() const { return int(blockDim.x); }
  __device__ void sync() const { __syncthreads(); }
  __device__ Shared& sh() const { return s; }

  // Warp butterfly, then every thread combines the warp partials in warp order (deterministic).
  template <class T, class Op>
  __device__ T reduce(T v, Op op) const {
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xFFFFFFFFu, v, o));
    T* buf = reinterpret_cast<T*>(red);
    const int warp = tid() >> 5, lane = tid() & 31, warps = threads() >> 5;
    if (lane == 0) buf[warp] = v;
    __syncthreads();
    T r = buf[0];
    for (int w = 1; w < warps; ++w) r = op(r, buf[w]);
    __syncthreads();
    return r;
  }
  // Exclusive prefix sum in thread order; *total = the sum over the block.
  template <class T>
  __device__ T exclusive_scan(T v, T* total) const {
    const int warp = tid() >> 5, lane = tid() & 31, warps = threads() >> 5;
    T inc = v;
    for (int o = 1; o < 32; o <<= 1) {
      const T n = __shfl_up_sync(0xFFFFFFFFu, inc, o);
      if (lane >= o) inc = inc + n;
    }
    T ex = __shfl_up_sync(0xFFFFFFFFu, inc, 1);
    if (lane == 0) ex = T(0);
    T* buf = reinterpret_cast<T*>(red);
    if (lane == 31) buf[warp] = inc;
    __syncthreads();
    T before = T(0), all = T(0);
    for (int w = 0; w < warps; ++w) {
      if (w < warp) before = before + buf[w];
      all = all + buf[w];
    }
    __syncthreads();
    *total = all;
    return before + ex;
  }
  __device__ uint32_t atomic_add(uint32_t* p, uint32_t v) const { return atomicAdd(p, v); }
  __device__ int32_t atomic_add(int32_t* p, int32_t v) const { return atomicAdd(p, v); }
  __device__ unsigned long long atomic_add(unsigned long long* p, unsigned long long v) const {
    return atomicAdd(p, v);
  }
};

__global__ void __launch_bounds__(kSampleThreads) sample_kernel(SampleArgs a, float* scratch) {
  __shared__ Shared s;
  __shared__ unsigned long long red[32];
  DeviceBlock blk{s, red};
  sample_row(blk, a, int64_t(blockIdx.x), scratch + int64_t(blockIdx.x) * a.V);
}

}  // namespace

cudaError_t launch_sample(const SampleArgs& a, float* scratch, cudaStream_t stream) {
  sample_kernel<<<unsigned(a.R), kSampleThreads, 0, stream>>>(a, scratch);
  return cudaGetLastError();
}

}  // namespace dsv4::cuda::detail
