// gather_rows on the GPU (contract: backends/ops.h GatherRowsParams): dst[i] = src[rows[i]] or
// zeros for rows[i] < 0, one thread per float, exact. The row list is read on the device; a row
// out of range (>= src_rows) writes zeros too.
#pragma once

#include <cuda_runtime_api.h>

#include "backends/ops.h"
#include "core/error.h"

namespace dsv4::cuda {

Status check_gather_rows(const GatherRowsParams& p);
Status gather_rows(const GatherRowsParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda
