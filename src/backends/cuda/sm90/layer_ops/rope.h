// Interleaved-pair RoPE on the GPU, the same arithmetic as CpuOps::rope (backends/ops.h): pair i of
// channels (offset + 2i, offset + 2i + 1) of every vector rotates by angle = fp32(pos) · inv_freq[i].
// cos/sin are evaluated in double and rounded once to float (glibc's cosf/sinf are within half an
// ulp, so this nearly always equals the CPU; the test reports the max difference); the rotation
// itself is the CPU's four multiplies and one add/sub, without FMA contraction.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct RopeParams {
  float* x = nullptr;                  // in place: x[r, v, :] at x + r·row_stride + v·vec_stride; device
  const int64_t* positions = nullptr;  // [rows] device
  const float* inv_freq = nullptr;     // [rope_dim / 2] device (RopeFrequencies::inv_freq)
  int64_t rows = 0;                    // >= 0
  int64_t vecs = 0;                    // >= 0 vectors per row (heads)
  int64_t row_stride = 0;              // floats
  int64_t vec_stride = 0;              // floats; >= offset + rope_dim when vecs > 1
  int64_t offset = 0;                  // >= 0: first rotated channel
  int rope_dim = 0;                    // even, 2..1024
  bool inverse = false;                // conjugate rotation (sin -> -sin)
};

#if DSV4_LAYER_OPS_HOST
Status check_rope(const RopeParams& p);
Status rope(const RopeParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
