// The CUDA backend (Hopper, sm_90a): the ops interface over device memory, every op queued on the
// backend's stream (no synchronization inside an op, so a step can be captured into a CUDA
// graph). Weights are copied to the device once in their checkpoint formats; activations come
// from the caller's workspace; the cache pools are device allocations.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "backends/ops.h"

namespace dsv4::cuda {

// Progress of weight uploads (bytes and tensors so far), for loaders that show it.
using UploadProgress = std::function<void(uint64_t bytes, int64_t tensors)>;

// The backend on device `device` (0-based). Throws dsv4::Error when no usable device exists.
std::unique_ptr<Ops> make_cuda_ops(int device = 0, UploadProgress progress = {});

// The stream a CudaOps queues on (for graph capture by the runner); null if `ops` is not CUDA.
void* cuda_stream(Ops& ops);

}  // namespace dsv4::cuda
