// What every stage of the forward pass needs: the config, the ops backend, the numerics mode and
// the (optional) recorder of named intermediates; plus the projection helper that applies the
// official numerics' activation quantization in front of FP8/FP4-weight GEMMs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "backends/ops.h"
#include "model/config.h"
#include "model/numerics.h"
#include "model/recorder.h"
#include "model/weights.h"

namespace dsv4 {

using Floats = std::vector<float>;

struct ForwardContext {
  const ModelConfig& config;
  Ops& ops;
  Numerics numerics = Numerics::Exact;
  Recorder* recorder = nullptr;

  bool official() const { return numerics == Numerics::Official; }
  bool recording() const { return recorder != nullptr; }
  void record(std::string_view scope, std::string_view stage, const float* data, const Shape& shape) const {
    if (recorder != nullptr) recorder->record(scope, stage, data, shape);
  }
  void record_ints(std::string_view scope, std::string_view stage, const int32_t* data, const Shape& shape) const {
    if (recorder != nullptr) recorder->record_ints(scope, stage, data, shape);
  }
};

// y[M, w.out] = x[M, w.in] · Wᵀ. Official numerics: if W is FP8/FP4 (block-scaled), x is first
// quantized to FP8 e4m3 with power-of-two 1×128 scales (on a copy; x is untouched).
void project(const ForwardContext& ctx, const float* x, int64_t M, const LinearWeight& w, float* y);

// A BF16/F32 checkpoint matrix [out, in] used as a plain linear weight (compressor, router, head…).
LinearWeight plain_linear(const TensorView& t, const std::string& name);

// A small parameter (norm weight, mHC fn/base/scale, sink, ape, bias) as fp32; empty if absent.
Floats param_f32(const TensorView& t);

// RoPE frequencies of a layer (spec §2.4): base^(-2i/rope_dim) in fp32, with the YaRN ramp on
// compressed layers.
RopeFrequencies rope_frequencies(const RopeSpec& spec, int rope_dim);

}  // namespace dsv4
