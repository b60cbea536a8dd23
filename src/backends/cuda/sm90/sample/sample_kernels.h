// The raw launch of the sampling op (no checks: sample.cpp checks first). Internal.
#pragma once

#include <cuda_runtime_api.h>

#include "backends/sample_ops.h"

namespace dsv4::cuda::detail {

constexpr int kSampleThreads = 512;

// Grid = a.R blocks; scratch [R, V] floats.
cudaError_t launch_sample(const SampleArgs& a, float* scratch, cudaStream_t stream);

}  // namespace dsv4::cuda::detail
