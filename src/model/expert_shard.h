// A rank's share of a routed expert under tensor-parallel experts (model/parallel.h): the slice
// [i0, i0 + n) of its intermediate dimension — rows of w1 and w3 (views into the checkpoint, no
// copy) and the same columns of w2 (gathered row by row from the checkpoint into host memory the
// ParamStore owns, so only the share's bytes are read). Slices must not split a scale block
// (FP8: 128 rows/columns, MXFP4: 32 columns, NVFP4: 16 columns).
#pragma once

#include <cstdint>

#include "model/forward_context.h"

namespace dsv4 {

// Rows [r0, r0 + n) of w (a view). Throws when r0 or n splits a scale block.
LinearWeight weight_rows(const LinearWeight& w, int64_t r0, int64_t n);

// Columns [c0, c0 + n) of w, copied into host memory owned by `store` (w must be in host memory:
// a checkpoint mmap or the CPU backend's memory). Throws when c0 or n splits a scale block.
LinearWeight weight_columns(const LinearWeight& w, int64_t c0, int64_t n, ParamStore& store);

// The expert's intermediate slice [i0, i0 + n): w1, w3 rows and w2 columns (not yet prepared
// for the backend).
ExpertWeights expert_slice(const ExpertWeights& e, int64_t i0, int64_t n, ParamStore& store);

}  // namespace dsv4
