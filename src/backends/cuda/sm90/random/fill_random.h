// RandomFill on the GPU: the params of backends/random_fill.h, queued on `stream`.
#pragma once

#include <cuda_runtime_api.h>

#include "backends/random_fill.h"

namespace dsv4::cuda {

// data / scale are device pointers; MXFP4 needs cols % 32 == 0 (checked by the caller).
cudaError_t launch_fill_random(const RandomFillParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda
