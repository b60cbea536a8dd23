// The compressor across calls (spec §7.3, §11.1): the kv/gate projections of each token go into
// the sequence's state ring; entry w is emitted once token (w+1)·c − 1 has been processed, pooled
// over the same slots as in the prefill (ratio 4: A-halves of window w−1 and B-halves of window
// w), normed, rotated at w·c and quantized, and appended to the cache.
#pragma once

#include "model/kv_cache.h"
#include "model/compressor.h"

namespace dsv4 {

// One segment: x [S, d] (attn-normed) at positions p0 .. p0+S-1 of `seq` in `layer`. Writes the
// partial state and the entries emitted by this call (w in [p0/c, (p0+S)/c)) to the cache and
// returns them ([n, D_c]).
Floats compress_cached(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role,
                       const RopeFrequencies& rope, const float* x, int64_t S, int64_t p0, SequenceId seq, int layer,
                       KvCache& cache);

}  // namespace dsv4
