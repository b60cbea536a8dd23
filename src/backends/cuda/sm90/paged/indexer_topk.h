// The lightning indexer over paged keys on the GPU (contract: backends/paged_ops.h, spec §7.4).
//
// Two kernels per chunk of tokens:
//  1. scores: a CTA per (token, 32 entries); 4 threads per entry (head groups of nh/4 when
//     nh % 4 == 0, else 1 thread over all heads), the key (F32 or Mxfp4, decoded exactly) in
//     registers, q[t] and wts[t] in shared memory; the terms wts·max(q_h·k, 0), each dot in the
//     reference order (16 fused lanes + the AVX2 hsum tree, cpu_paged.h ref_dot), are summed in
//     increasing h by one thread, all with explicitly rounded fp32 operations: the scores are
//     bit-identical to cpu_indexer_topk's, hence so is the selection.
//  2. top-k: one CTA per token; an exact radix select on the 64-bit key (score, then smaller w)
//     finds the k-th entry, the k winners are compacted and bitonic-sorted: sel = the CPU's
//     selection (same slots, same order; ties by smaller w), count = k.
// Scores go to p.scores when given (score_stride >= max_visible; all tokens in one pass), else to
// the caller's scratch: rows of max_visible floats, tokens processed in chunks of
// scratch_bytes / (4·max_visible) (at least one row needed). indexer_topk_scratch_bytes(T,
// max_visible) is the size that does all T in one pass; any smaller multiple of a row works.
// 1M context: max_visible = 262144 entries = 1 MiB per token row.
//
// Requirements: hd ∈ {32, 64, 128}; nh·hd <= 16384 (q row in shared memory); 0 <= topk <= 2048;
// max_visible >= 0 and < 2^31; entries_per_block > 0; q, wts 16-byte aligned; key_pool 16-byte
// aligned; non-null pointers when T > 0. On the device: visible[t] is clamped to max_visible; a
// seg / table entry out of range gives that entry the score −inf.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backends/paged_ops.h"
#include "core/error.h"

namespace dsv4::cuda {

size_t indexer_topk_scratch_bytes(int64_t T, int64_t max_visible);

Status check_indexer_topk(const IndexerTopkParams& p);
Status indexer_topk(const IndexerTopkParams& p, cudaStream_t stream);

}  // namespace dsv4::cuda
