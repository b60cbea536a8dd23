// The layer-op headers declare their Status launchers for host C++ only: nvcc (C++17) cannot
// compile core/error.h's fmt, so the .cu files see the parameter structs alone and the checking
// launchers live in layer_ops.cpp (the pattern of weights/dequant.h).
#pragma once

#if defined(__CUDACC__)
#define DSV4_LAYER_OPS_HOST 0
#else
#define DSV4_LAYER_OPS_HOST 1
#include "core/error.h"
#endif
