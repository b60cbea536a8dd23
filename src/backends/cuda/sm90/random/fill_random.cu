// RandomFill on the GPU (backends/random_fill.h): one thread per element (per byte for MXFP4),
// the same arithmetic as the CPU, so random weights are bit-identical on both backends.
#include <cuda_runtime.h>

#include "backends/cuda/sm90/random/fill_random.h"

namespace dsv4::cuda {

namespace {

__global__ void fill_kernel(RandomFillParams p, float s) {
  using namespace random_fill;
  const int64_t n = p.kind == RandomFill::Mxfp4 ? p.rows * p.cols / 2 : p.rows * p.cols;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    switch (p.kind) {
      case RandomFill::F32: static_cast<float*>(p.data)[i] = value_of(p, uint64_t(i)); break;
      case RandomFill::Bf16:
        static_cast<uint16_t*>(p.data)[i] = bf16_rne_not_nan(f32_to_bits(value_of(p, uint64_t(i))));
        break;
      case RandomFill::Fp8Block: static_cast<uint8_t*>(p.data)[i] = e4m3_code(value_of(p, uint64_t(i)), s); break;
      case RandomFill::Mxfp4:
        static_cast<uint8_t*>(p.data)[i] = uint8_t(e2m1_code(value_of(p, uint64_t(2 * i)), s) |
                                                   (e2m1_code(value_of(p, uint64_t(2 * i + 1)), s) << 4));
        break;
    }
  }
}

int grid_for(int64_t n) { return int(n / 256 + 1 < 132 * 32 ? n / 256 + 1 : 132 * 32); }

}  // namespace

cudaError_t launch_fill_random(const RandomFillParams& p, cudaStream_t stream) {
  using namespace random_fill;
  const bool mx = p.kind == RandomFill::Mxfp4;
  const float s = p.kind == RandomFill::Fp8Block ? fp8_scale(p) : mx ? fp4_scale(p) : 1.0f;
  const int64_t n = mx ? p.rows * p.cols / 2 : p.rows * p.cols;
  if (n > 0) fill_kernel<<<grid_for(n), 256, 0, stream>>>(p, s);
  if (p.kind == RandomFill::Fp8Block || mx) {
    const int64_t ns = mx ? p.rows * (p.cols / 32) : ((p.rows + 127) / 128) * ((p.cols + 127) / 128);
    const cudaError_t e = cudaMemsetAsync(p.scale, e8m0_of(s), size_t(ns), stream);
    if (e != cudaSuccess) return e;
  }
  return cudaGetLastError();
}

}  // namespace dsv4::cuda
