// Row-wise top-k indices (CpuOps::topk_indices): sel[t, :k] = the indices of the k largest
// score[t, :] in descending order, ties -> the smaller index, entries whose score is -inf written as
// -1. -0 and +0 are equal (as the CPU's comparisons). NaN scores are not supported (the CPU's order
// with NaN is unspecified). One block per row: an 11/11/10-bit radix select of the k-th key, one
// collecting pass (in index order for the ties), a bitonic sort of the k winners.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct TopkIndicesParams {
  const float* score = nullptr;  // [S, Ne] device
  int32_t* sel = nullptr;        // [S, k] device
  int64_t S = 0;                 // >= 0 rows
  int64_t Ne = 0;                // candidates per row, k <= Ne < 2^31
  int64_t k = 0;                 // 0..1024
  // Issue 8 loads per thread per loop step (the passes are load-latency bound: ~0.9 ms for one
  // row of 262144 on the H200 without). Same results by construction; on by default since
  // LayerOps.TopkIndicesMatchCpu (both paths) passed on the H200 (2026-12-02, commit 7718e10).
  bool batched_loads = true;
};

#if DSV4_LAYER_OPS_HOST
Status check_topk_indices(const TopkIndicesParams& p);
Status topk_indices(const TopkIndicesParams& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
