// The raw launches of the paged ops (no checks: paged.cpp checks first). Internal.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/ops.h"
#include "backends/paged_ops.h"

namespace dsv4::cuda::detail {

cudaError_t launch_kv_store(const KvStoreParams& p, cudaStream_t stream);
cudaError_t launch_key_store(const KeyStoreParams& p, cudaStream_t stream);
cudaError_t launch_kv_load(const KvLoadParams& p, cudaStream_t stream);
cudaError_t launch_key_load(const KeyLoadParams& p, cudaStream_t stream);
cudaError_t launch_compress_pool_paged(const CompressPoolParams& p, cudaStream_t stream);
cudaError_t launch_ring_store(const RingStoreParams& p, cudaStream_t stream);
cudaError_t launch_gather_rows(const GatherRowsParams& p, cudaStream_t stream);

// Tokens [t0, t0 + tc): scores into `scores` (rows `stride` floats apart, row 0 = token t0);
// write_tail: also write −inf for visible[t] <= w < stride (the caller's score output).
cudaError_t launch_indexer_scores(const IndexerTopkParams& p, int64_t t0, int64_t tc, float* scores,
                                  int64_t stride, bool write_tail, cudaStream_t stream);
cudaError_t launch_indexer_select(const IndexerTopkParams& p, int64_t t0, int64_t tc, const float* scores,
                                  int64_t stride, cudaStream_t stream);

// Tokens [t0, t0 + tc), partials in `scratch` ([tc, H, ns, D] then [tc, H, ns, 2] floats).
cudaError_t launch_paged_attention(const PagedAttentionParams& p, int64_t t0, int64_t tc, int64_t ns,
                                   float* scratch, bool tiled, cudaStream_t stream);

}  // namespace dsv4::cuda::detail
