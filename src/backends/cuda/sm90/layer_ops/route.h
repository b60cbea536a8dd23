// MoE router (spec §8.1–8.2), CpuOps::route with hash routing taken from the tid2eid table:
//   scores[t, e] = sqrt(softplus(logits[t, e]))
//   ids[t, :k]   = top-k of scores + bias (bias null = none), descending, ties -> smaller expert
//                  id (std::partial_sort with the CPU's comparator), or, with tid2eid,
//                  ids[t, j] = tid2eid[token_ids[t], j] (hash layers)
//   weights      = scores[ids] / Σ_j scores[ids[j]] · route_scale (sum in j order, fp32)
// One warp per token. An out-of-range token id or table entry writes id -1 and weight NaN.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct RouteParams {
  const float* logits = nullptr;     // [S, E] device
  const float* bias = nullptr;       // [E] or null (ignored with tid2eid, as the CPU)
  const int64_t* tid2eid = nullptr;  // I64 [vocab, k] device, or null (score routing)
  const int64_t* token_ids = nullptr;  // [S] device; required with tid2eid
  int64_t vocab = 0;                 // rows of tid2eid
  int64_t S = 0;                     // >= 0
  int64_t E = 0;                     // 1..1024 experts
  int64_t k = 0;                     // 1..min(E, 32)
  float route_scale = 1.0f;
  float* scores = nullptr;           // [S, E] out
  int32_t* ids = nullptr;            // [S, k] out
  float* weights = nullptr;          // [S, k] out
};

#if DSV4_LAYER_OPS_HOST
Status check_route(const RouteParams& p);
Status route(const RouteParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
