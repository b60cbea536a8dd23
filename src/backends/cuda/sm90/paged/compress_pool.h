// The compressor's cache-side ops on the GPU (contract: backends/paged_ops.h, spec §7.3, §11.1).
//
// compress_pool_paged: out[e, c] = the per-channel softmax pooling of entry e's L source tokens
//   (rows of this step's kv/gate or absolute rows of the ring), one thread per (entry, channel),
//   in the CPU's order (max, then Σ exp and Σ exp·kv in source order). Equal to
//   cpu_compress_pool_paged up to expf vs std::exp (a few ulp; relative ~1e-6).
// ring_store: ring[dst[i]] = (kv[rows[i]], gate[rows[i]]), exact.
//
// Requirements: ratio > 0 (4 = overlap, W = 2·Dc; else W = Dc); Dc > 0; pointers non-null when
// there is work; rows/dst/src are read on the device and out-of-range ones are skipped (a source
// out of range counts as missing, a ring row out of range is not written).
#pragma once

#include <cuda_runtime_api.h>

#include "backends/paged_ops.h"
#include "core/error.h"

namespace dsv4::cuda {

Status check_compress_pool_paged(const CompressPoolParams& p);
Status check_ring_store(const RingStoreParams& p);

Status compress_pool_paged(const CompressPoolParams& p, cudaStream_t stream);
Status ring_store(const RingStoreParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda
