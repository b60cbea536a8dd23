// Compressor (spec §7.3): pools windows of `ratio` tokens into compressed KV entries, then
// RMSNorm → RoPE at the window's first position → quantization point (official numerics:
// FP8 fake-quant of the no-rope dims for attention entries; Hadamard + FP4 for indexer keys).
#pragma once

#include "model/block_params.h"

namespace dsv4 {

enum class CompressorRole { Attention, Indexer };

// The compressor's per-token projections kv, gate [S, coff·D_c] (fp32, never quantized).
void compressor_project(const ForwardContext& ctx, const CompressorParams& p, const float* x, int64_t S, float* kv,
                        float* gate);

// Oracle (prefill from position 0, host memory): the entries of every complete window of the
// call's S tokens, [S / ratio, D_c] from the workspace (entries = S / ratio).
float* compress_prefill(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role,
                        const RopeTable& rope, const float* x, int64_t S, int64_t& entries);

// Post-processing of pooled entries in place (E [entries, D_c]): RMSNorm, RoPE at first_pos
// [entries] (w·ratio, backend memory), the role's quantization point under official numerics.
void finish_entries(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role,
                    const RopeTable& rope, float* E, const int64_t* first_pos, int64_t entries);

}  // namespace dsv4
