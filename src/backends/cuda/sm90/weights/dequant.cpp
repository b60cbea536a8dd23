// The checking launchers of dequant.h: shapes and alignment first, then the raw launch.
#include "backends/cuda/sm90/weights/dequant.h"

#include <fmt/format.h>

#include "backends/cuda/sm90/weights/dequant_kernels.h"

namespace dsv4::cuda {
namespace {

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Checks shared by both formats; `group` is the column multiple the kernel needs.
Status check_common(const char* what, const uint8_t* weight, const uint8_t* scale, const uint16_t* out,
                    int64_t rows, int64_t cols, int64_t group, const char* why_group) {
  if (rows < 0 || cols < 0)
    return Status::error(fmt::format("{}: negative shape [{}, {}]", what, rows, cols));
  if (cols % group != 0)
    return Status::error(fmt::format("{}: cols % {} != 0 (cols = {}): {}", what, group, cols, why_group));
  if (rows == 0 || cols == 0) return Status::ok();
  if (weight == nullptr || scale == nullptr || out == nullptr)
    return Status::error(fmt::format("{}: null pointer (weight {}, scale {}, out {})", what,
                                     static_cast<const void*>(weight), static_cast<const void*>(scale),
                                     static_cast<const void*>(out)));
  if (!aligned16(weight))
    return Status::error(fmt::format("{}: weight pointer {} is not 16-byte aligned (16-byte loads)", what,
                                     static_cast<const void*>(weight)));
  if (!aligned16(out))
    return Status::error(fmt::format("{}: out pointer {} is not 16-byte aligned (16-byte stores)", what,
                                     static_cast<const void*>(out)));
  // The kernels index 16-byte chunks (16 FP8 or 32 FP4 codes) with 32-bit integers.
  const int64_t chunks_per_row = cols / group;  // group = codes per 16-byte chunk
  if (rows > ((int64_t(1) << 32) - 1) / chunks_per_row)
    return Status::error(fmt::format("{}: [{}, {}] has 2^32 or more 16-byte chunks; split it into row ranges",
                                     what, rows, cols));
  return Status::ok();
}

// The variant the public launchers use (bench/cuda compares the others).
detail::KernelVariant default_variant(DequantPath path) {
  detail::KernelVariant v;
  v.packed = path == DequantPath::kPacked;
  v.staged_stores = true;
  v.chunks_per_thread = 2;
  return v;
}

Status launched(const char* what, cudaError_t err) {
  if (err != cudaSuccess)
    return Status::error(fmt::format("{}: launch failed: {} ({})", what, cudaGetErrorString(err),
                                     cudaGetErrorName(err)));
  return Status::ok();
}

}  // namespace

Status check_fp8_block_dequant(const Fp8BlockDequantParams& p) {
  return check_common("dequant_fp8_block_to_bf16", p.weight, p.scale, p.out, p.rows, p.cols, 16,
                      "each thread reads 16 e4m3 codes at once");
}

Status check_mxfp4_dequant(const Mxfp4DequantParams& p) {
  return check_common("dequant_mxfp4_to_bf16", p.weight, p.scale, p.out, p.rows, p.cols, 32,
                      "MXFP4 has one scale per 32 elements");
}

Status dequant_fp8_block_to_bf16(const Fp8BlockDequantParams& p, cudaStream_t stream) {
  if (Status st = check_fp8_block_dequant(p); !st) return st;
  if (p.rows == 0 || p.cols == 0) return Status::ok();
  return launched("dequant_fp8_block_to_bf16",
                  detail::launch_fp8_block_dequant(p.weight, p.scale, p.out, p.rows, p.cols,
                                                   default_variant(p.path), stream));
}

Status dequant_mxfp4_to_bf16(const Mxfp4DequantParams& p, cudaStream_t stream) {
  if (Status st = check_mxfp4_dequant(p); !st) return st;
  if (p.rows == 0 || p.cols == 0) return Status::ok();
  return launched("dequant_mxfp4_to_bf16",
                  detail::launch_mxfp4_dequant(p.weight, p.scale, p.out, p.rows, p.cols,
                                               default_variant(p.path), stream));
}

}  // namespace dsv4::cuda
