#include "model/forward_context.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace dsv4 {

void ForwardContext::record(std::string_view scope, std::string_view stage, const float* data,
                            const Shape& shape) const {
  if (recorder == nullptr) return;
  if (ops.host_memory()) {
    recorder->record(scope, stage, data, shape);
    return;
  }
  std::vector<float> host(shape_numel(shape));
  ops.synchronize();
  ops.download(host.data(), data, host.size() * sizeof(float));
  recorder->record(scope, stage, host.data(), shape);
}

void ForwardContext::record_ints(std::string_view scope, std::string_view stage, const int32_t* data,
                                 const Shape& shape) const {
  if (recorder == nullptr) return;
  if (ops.host_memory()) {
    recorder->record_ints(scope, stage, data, shape);
    return;
  }
  std::vector<int32_t> host(shape_numel(shape));
  ops.synchronize();
  ops.download(host.data(), data, host.size() * sizeof(int32_t));
  recorder->record_ints(scope, stage, host.data(), shape);
}

ActQuant act_quant_for(const ForwardContext& ctx, const LinearWeight& w) {
  if (!ctx.official()) return ActQuant::None;
  switch (w.format) {
    case WeightFormat::NVFP4:  // ModelOpt W4A4: NVFP4 activations under input_scale
      return ActQuant::Nvfp4;
    case WeightFormat::FP8Block:
    case WeightFormat::MXFP4:  // the reference: FP8 e4m3 activations, power-of-two 1×128 scales (§9.1)
      return ActQuant::Fp8Block128;
    default:
      return ActQuant::None;
  }
}

void project(const ForwardContext& ctx, const float* x, int64_t M, const LinearWeight& w, float* y) {
  ctx.ops.linear(LinearArgs{x, M, w.in, &w, 0, w.out, y, w.out, act_quant_for(ctx, w)});
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

ParamStore::~ParamStore() {
  for (void* p : owned_) ops_.free(p);
}

const float* ParamStore::f32(const std::vector<float>& v) {
  if (v.empty()) return nullptr;
  void* p = ops_.alloc(v.size() * sizeof(float));
  owned_.push_back(p);
  ops_.upload(p, v.data(), v.size() * sizeof(float));
  return static_cast<const float*>(p);
}

const float* ParamStore::f32(const TensorView& t) {
  if (t.data == nullptr) return nullptr;
  return f32(to_f32(t));
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
