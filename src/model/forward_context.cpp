#include "model/forward_context.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace dsv4 {

void project(const ForwardContext& ctx, const float* x, int64_t M, const LinearWeight& w, float* y) {
  const bool quantized_weight = w.format == WeightFormat::FP8Block || w.format == WeightFormat::MXFP4 ||
                                w.format == WeightFormat::NVFP4;
  if (ctx.official() && quantized_weight) {
    Floats xq(x, x + M * w.in);
    if (w.format == WeightFormat::NVFP4)  // ModelOpt W4A4: NVFP4 activations under input_scale
      ctx.ops.fake_quant_nvfp4(xq.data(), M, w.in, w.input_scale);
    else  // the reference: FP8 e4m3 activations, power-of-two 1×128 scales (spec §9.1)
      ctx.ops.fake_quant_fp8(xq.data(), M, w.in, 0, w.in, 128, /*bf16_out=*/false);
    ctx.ops.linear(xq.data(), M, w.in, w, 0, w.out, y, w.out);
  } else {
    ctx.ops.linear(x, M, w.in, w, 0, w.out, y, w.out);
  }
}

LinearWeight plain_linear(const TensorView& t, const std::string& name) {
  if (t.ndim() != 2 || (t.dtype != DType::BF16 && t.dtype != DType::F32))
    fail("{}: expected a 2-D BF16/F32 matrix, got {} {}", name, dtype_name(t.dtype), shape_str(t.shape));
  LinearWeight w;
  w.format = t.dtype == DType::BF16 ? WeightFormat::BF16 : WeightFormat::F32;
  w.out = t.dim(0);
  w.in = t.dim(1);
  w.weight = t;
  w.name = name;
  return w;
}

Floats param_f32(const TensorView& t) {
  if (t.data == nullptr) return {};
  return to_f32(t);
}

RopeFrequencies rope_frequencies(const RopeSpec& spec, int rope_dim) {
  RopeFrequencies f;
  const int pairs = rope_dim / 2;
  f.inv_freq.resize(size_t(pairs));
  const float base = float(spec.base);
  for (int i = 0; i < pairs; ++i)
    f.inv_freq[size_t(i)] = 1.0f / std::pow(base, float(2 * i) / float(rope_dim));
  if (!spec.yarn) return f;
  const double two_pi = 2.0 * std::numbers::pi;
  auto corr = [&](double rotations) {
    return rope_dim * std::log(double(spec.original_max_positions) / (rotations * two_pi)) / (2.0 * std::log(spec.base));
  };
  const double low = std::max(std::floor(corr(spec.beta_fast)), 0.0);
  double high = std::min(std::ceil(corr(spec.beta_slow)), double(rope_dim - 1));
  if (high == low) high += 0.001;
  const float factor = float(spec.factor);
  for (int i = 0; i < pairs; ++i) {
    const float ramp = std::clamp((float(i) - float(low)) / float(high - low), 0.0f, 1.0f);
    const float smooth = 1.0f - ramp;
    const float fi = f.inv_freq[size_t(i)];
    f.inv_freq[size_t(i)] = fi / factor * (1.0f - smooth) + fi * smooth;
  }
  return f;
}

}  // namespace dsv4
