// The sampling op on the GPU (contract: backends/sample_ops.h; algorithm: sample_row.h): one
// launch, a block of 512 threads per row, each row's processed logits / probabilities in the
// caller's scratch (sample_scratch_bytes(R, V) = R·V floats). No host synchronization, no
// allocation: the launch can sit in a captured graph (the engine runs it after the step's graph,
// eagerly, because the rows change every step).
//
// Host-side requirements (checked, Status): R >= 0 (< 2^31), 0 < V < 2^31, logit_rows >= 0,
// non-null logits / rows / out / scratch when R > 0 (penalties, mask ids, allowed when their
// counts are > 0). On the device a row whose parameters point outside the arrays reports
// SampleStatus::BadRow.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backends/sample_ops.h"
#include "core/error.h"

namespace dsv4::cuda {

size_t sample_scratch_bytes(int64_t R, int64_t V);

Status check_sample(const SampleArgs& a, const void* scratch, size_t scratch_bytes);
Status sample(const SampleArgs& a, void* scratch, size_t scratch_bytes, cudaStream_t stream);

}  // namespace dsv4::cuda
