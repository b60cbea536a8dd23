// The CPU communicator's reduction: elementwise over the ranks' contributions, in rank order, so
// that the result does not depend on which message arrived first.
#pragma once

#include <cstddef>
#include <span>

#include "core/dtype.h"
#include "dist/communicator.h"

namespace dsv4::dist {

// out[i] = inputs[0][i] op inputs[1][i] op ... (left to right). F32 sums in fp32; BF16 sums in fp32
// and rounds once at the end (RNE); I32 sums wrap around (two's complement). Max propagates NaN.
// `out` may be one of the inputs (each element is read before it is written).
void reduce_in_rank_order(std::span<const void* const> inputs, void* out, size_t count, DType type, ReduceOp op);

}  // namespace dsv4::dist
