// Token embedding into the n hyper-connection streams: X[t, j, :] = fp32(table[ids[t], :]) for
// j < n. Bit-exact (bf16 -> fp32 is exact). An id outside [0, vocab) writes NaN rows (a caller bug
// made visible; the kernel cannot return an error).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct EmbedParams {
  const uint16_t* table = nullptr;  // BF16 bits [vocab, d] device
  const int64_t* ids = nullptr;     // [T] device
  float* X = nullptr;               // [T, n, d] device
  int64_t T = 0;                    // >= 0 tokens
  int64_t vocab = 0;                // > 0 rows of the table
  int64_t d = 0;                    // > 0 hidden size (8-element vector path when d % 8 == 0 and aligned)
  int n = 1;                        // >= 1 streams (hc_mult)
};

#if DSV4_LAYER_OPS_HOST
Status check_embed(const EmbedParams& p);
Status embed(const EmbedParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
