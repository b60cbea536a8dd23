// NVFP4 activation quantize-dequantize (ModelOpt W4A4), bit-exact with CpuOps::fake_quant_nvfp4 /
// core/quant.h quant_dequant_nvfp4: per 1×16 block, sf = e4m3(amax / 6 / input_scale), each element
// e2m1(x / (sf·input_scale))·sf·input_scale (a block whose sf is 0 becomes 0).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/cuda/sm90/layer_ops/status.h"

namespace dsv4::cuda {

struct FakeQuantNvfp4Params {
  float* x = nullptr;         // [rows, n] contiguous, in place; device
  int64_t rows = 0;           // >= 0
  int64_t n = 0;              // >= 0 (blocks of 16 restart at every row; the last may be partial)
  float input_scale = 1.0f;   // > 0 and finite (the checkpoint's input_scale)
};

#if DSV4_LAYER_OPS_HOST
Status check_fake_quant_nvfp4(const FakeQuantNvfp4Params& p);
Status fake_quant_nvfp4(const FakeQuantNvfp4Params& p, cudaStream_t stream);
#endif

}  // namespace dsv4::cuda
