// Sparse attention with sink over paged keys on the GPU (contract: backends/paged_ops.h, §7.6).
//
// Split-KV (flash-decoding) layout: token t's key list (window Wn entries, then comp_count[t]
// compressed ones) is cut into splits of kPagedAttentionSplit list entries. One CTA per (split,
// group of 8 heads, token): warp w owns head 8·g + w, lane L the channels 128·i + 4L .. +3; each
// key is loaded once per CTA (L1 serves the other warps) and decoded on the fly (F32, or Fp8Ds:
// e4m3 × UE8M0 scale for the no-rope part, bf16 for the rope part); fp32 online softmax. A second
// kernel merges the splits with the sink term. The split boundaries depend only on Wn and the
// token's own comp_count, and every sum runs in a fixed order, so a token's output is bitwise
// independent of the other tokens, of T and of how the launcher chunks the tokens.
//
// Scratch: the partials of every split, paged_attention_scratch_bytes(T, H, D, Wn, comp_stride)
// bytes to do all tokens in one pass; less (at least one token's share,
// paged_attention_scratch_bytes(1, ...)) makes the launcher loop over token chunks.
//
// Requirements: D ∈ {128, 256, 384, 512}; rope_dim even, D − rope_dim a multiple of 64 (Fp8Ds);
// H > 0; Wn >= 0; comp_stride >= 0; q, out, pools, call_kv 16-byte aligned (F32) / 8-byte (Fp8Ds
// pools); non-null pointers where used. On the device, a slot or call row out of range is skipped
// like -1, and comp_count[t] is clamped to [0, comp_stride].
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "backends/paged_ops.h"
#include "core/error.h"

namespace dsv4::cuda {

inline constexpr int kPagedAttentionSplit = 64;

size_t paged_attention_scratch_bytes(int64_t T, int64_t H, int64_t D, int64_t Wn, int64_t comp_stride);

// kTiled: each CTA decodes 16 keys at a time into shared memory once for its 8 heads (the
// faster one for Fp8Ds: 1.7-2.2x per-warp on the H200). kPerWarp: every warp loads and decodes
// each key itself (faster for F32 at T >= 8). kAuto (the default) picks by format only (Fp8Ds:
// tiled, F32: per-warp), never by T, so a token's bits do not depend on the batch. Both are
// deterministic; they differ from each other (not from the CPU: ~1e-6) by where the running max
// is updated. bench/results/2026-12-02-cuda-paged.md has the numbers.
enum class PagedAttentionKernel : uint8_t { kAuto, kTiled, kPerWarp };

Status check_paged_attention(const PagedAttentionParams& p);
Status paged_attention(const PagedAttentionParams& p, cudaStream_t stream,
                       PagedAttentionKernel kernel = PagedAttentionKernel::kAuto);

}  // namespace dsv4::cuda
