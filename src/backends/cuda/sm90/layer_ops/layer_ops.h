// All layer ops of the CUDA backend (one header per op; this one includes them all).
#pragma once

#include "backends/cuda/sm90/layer_ops/add.h"
#include "backends/cuda/sm90/layer_ops/compress_pool.h"
#include "backends/cuda/sm90/layer_ops/embed.h"
#include "backends/cuda/sm90/layer_ops/fake_quant_fp8.h"
#include "backends/cuda/sm90/layer_ops/fake_quant_nvfp4.h"
#include "backends/cuda/sm90/layer_ops/hadamard_fp4.h"
#include "backends/cuda/sm90/layer_ops/hyper_connection.h"
#include "backends/cuda/sm90/layer_ops/rms_norm.h"
#include "backends/cuda/sm90/layer_ops/rope.h"
#include "backends/cuda/sm90/layer_ops/route.h"
#include "backends/cuda/sm90/layer_ops/swiglu.h"
#include "backends/cuda/sm90/layer_ops/topk_indices.h"
