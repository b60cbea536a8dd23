#include "model/expert_shard.h"

#include <cstring>

#include "core/error.h"

namespace dsv4 {

namespace {

// Scale block of a format along the rows (out) and the columns (in).
int64_t row_block(WeightFormat f) { return f == WeightFormat::FP8Block ? 128 : 1; }
int64_t col_block(WeightFormat f) {
  switch (f) {
    case WeightFormat::FP8Block: return 128;
    case WeightFormat::MXFP4: return 32;
    case WeightFormat::NVFP4: return 16;
    default: return 1;
  }
}
bool has_scale(WeightFormat f) { return f == WeightFormat::FP8Block || f == WeightFormat::MXFP4 || f == WeightFormat::NVFP4; }

void check_range(const LinearWeight& w, const char* what, int64_t begin, int64_t n, int64_t extent, int64_t block) {
  if (begin < 0 || n <= 0 || begin + n > extent)
    fail("{}: {} [{}, {}) outside [0, {})", w.name, what, begin, begin + n, extent);
  if (begin % block != 0 || (n % block != 0 && begin + n != extent))
    fail("{}: {} [{}, {}) would split its {} scale blocks of {} (slice a multiple of {})", w.name, what, begin,
         begin + n, weight_format_name(w.format), block, block);
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The bytes of one row of t ([rows, ...]).
int64_t row_bytes(const TensorView& t) { return t.dim(0) > 0 ? int64_t(t.nbytes()) / t.dim(0) : 0; }

}  // namespace

LinearWeight weight_rows(const LinearWeight& w, int64_t r0, int64_t n) {
  check_range(w, "rows", r0, n, w.out, row_block(w.format));
  LinearWeight s = w;
  s.out = n;
  s.weight.data = w.weight.bytes() + r0 * row_bytes(w.weight);
  s.weight.shape[0] = n;
  if (has_scale(w.format)) {
    const int64_t rb = row_block(w.format), b0 = r0 / rb, bn = ceil_div(r0 + n, rb) - b0;
    s.scale.data = w.scale.bytes() + b0 * row_bytes(w.scale);
    s.scale.shape[0] = bn;
  }
  return s;
}

LinearWeight weight_columns(const LinearWeight& w, int64_t c0, int64_t n, ParamStore& store) {
  check_range(w, "columns", c0, n, w.in, col_block(w.format));
  if (w.weight.device != Device::Host || (has_scale(w.format) && w.scale.device != Device::Host))
    fail("{}: slicing columns needs the weight in host memory (a checkpoint or the CPU backend)", w.name);
  LinearWeight s = w;
  s.in = n;
  // The weight: each row's bytes of columns [c0, c0 + n) (packed FP4: two columns a byte).
  {
    const int64_t rb = row_bytes(w.weight);
    if ((c0 * rb) % w.in != 0 || (n * rb) % w.in != 0) fail("{}: columns [{}, {}) split a byte", w.name, c0, c0 + n);
    const int64_t b0 = c0 * rb / w.in, bn = n * rb / w.in;
    auto* dst = store.host_bytes(size_t(w.out * bn));
    for (int64_t r = 0; r < w.out; ++r) std::memcpy(dst + r * bn, w.weight.bytes() + r * rb + b0, size_t(bn));
    s.weight.data = dst;
    s.weight.shape.back() = w.weight.shape.back() * n / w.in;
  }
  if (has_scale(w.format)) {
    const int64_t cb = col_block(w.format), k0 = c0 / cb, kn = ceil_div(c0 + n, cb) - k0;
    const int64_t rows = w.scale.dim(0), cols = w.scale.dim(1), es = int64_t(dtype_size(w.scale.dtype));
    auto* dst = store.host_bytes(size_t(rows * kn * es));
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(dst + r * kn * es, w.scale.bytes() + (r * cols + k0) * es, size_t(kn * es));
    s.scale.data = dst;
    s.scale.shape = {rows, kn};
  }
  return s;
}

ExpertWeights expert_slice(const ExpertWeights& e, int64_t i0, int64_t n, ParamStore& store) {
  return {weight_rows(e.w1, i0, n), weight_columns(e.w2, i0, n, store), weight_rows(e.w3, i0, n)};
}

}  // namespace dsv4
