// Compressor (spec §7.3): pools windows of `ratio` tokens into compressed KV entries, then
// RMSNorm → RoPE at the window's first position → quantization point (official numerics:
// FP8 fake-quant of the no-rope dims for attention entries; Hadamard + FP4 for indexer keys).
#pragma once

#include "model/block_params.h"

namespace dsv4 {

enum class CompressorRole { Attention, Indexer };

// Entries of every complete window of the call's S tokens (prefill from position 0):
// returns [S / ratio, D_c]. x [S, d] is the attn-normed hidden state.
Floats compress_prefill(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role,
                        const RopeFrequencies& rope, const float* x, int64_t S);

}  // namespace dsv4
