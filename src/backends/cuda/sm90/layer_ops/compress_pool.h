// Compressor pooling (spec §7.3), CpuOps::compress_pool over contiguous kv/gate: per window w and
// channel, a softmax over the window's slots (8 with overlap: A-halves of window w-1 and B-halves of
// window w) of gate + ape weighting kv, E [S / ratio, Dc]. Same fp32 steps as the CPU (exp rounded
// once from double). One thread per (window, channel): simple, used by tests.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct DenseCompressPoolParams {
  const float* kv = nullptr;    // [S, coff·Dc] device (coff = 2 with overlap)
  const float* gate = nullptr;  // [S, coff·Dc]
  const float* ape = nullptr;   // [ratio, coff·Dc]
  float* E = nullptr;           // [S / ratio, Dc]
  int64_t S = 0;                // >= 0 (only complete windows are emitted)
  int64_t Dc = 0;               // > 0
  int ratio = 4;                // > 0
  bool overlap = false;
};

#if DSV4_LAYER_OPS_HOST
Status check_compress_pool(const DenseCompressPoolParams& p);
Status compress_pool(const DenseCompressPoolParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
