// What every stage of the forward pass needs: the config, the ops backend, the numerics mode,
// the workspace its activations come from and the (optional) recorder of named intermediates;
// plus the projection helper that puts the official numerics' activation quantization in front
// of FP8/FP4-weight GEMMs, and the preparation of parameters in backend memory.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backends/ops.h"
#include "model/config.h"
#include "model/numerics.h"
#include "model/parallel.h"
#include "model/recorder.h"
#include "model/weights.h"
#include "model/workspace.h"

namespace dsv4 {

using Floats = std::vector<float>;

struct ForwardContext {
  const ModelConfig& config;
  Ops& ops;
  Workspace& ws;
  Numerics numerics = Numerics::Exact;
  Recorder* recorder = nullptr;
  // This rank's share of a model laid out over several ranks (model/parallel.h); null = one rank.
  const Parallel* parallel = nullptr;

  bool official() const { return numerics == Numerics::Official; }
  bool recording() const { return recorder != nullptr; }
  // Publishes a stage (data in backend memory; copied to the host only when recording).
  void record(std::string_view scope, std::string_view stage, const float* data, const Shape& shape) const;
  void record_ints(std::string_view scope, std::string_view stage, const int32_t* data, const Shape& shape) const;
};

// The activation quantization official numerics put in front of a GEMM with weight w.
ActQuant act_quant_for(const ForwardContext& ctx, const LinearWeight& w);

// y[M, w.out] = q(x[M, w.in]) · Wᵀ, q = act_quant_for(ctx, w).
void project(const ForwardContext& ctx, const float* x, int64_t M, const LinearWeight& w, float* y);

// A BF16/F32 checkpoint matrix [out, in] used as a plain linear weight (compressor, router, head…).
LinearWeight plain_linear(const TensorView& t, const std::string& name);

// Parameters in backend memory, owned for the model's lifetime.
class ParamStore {
 public:
  explicit ParamStore(Ops& ops) : ops_(ops) {}
  ~ParamStore();
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;
  Ops& ops() const { return ops_; }
  // A small parameter (norm weight, mHC fn/base/scale, sink, ape, bias) as fp32; null if absent.
  const float* f32(const TensorView& t);
  const float* f32(const std::vector<float>& v);
  // A checkpoint weight in backend memory (the backend decides whether it copies).
  LinearWeight weight(const LinearWeight& w) { return ops_.prepare_weight(w); }
  TensorView tensor(const TensorView& t) { return ops_.prepare_tensor(t); }
  // Host memory for a rank's re-laid-out share of a checkpoint tensor (model/expert_shard.h),
  // before prepare_weight; owned for the model's lifetime.
  uint8_t* host_bytes(size_t bytes) { return host_.emplace_back(bytes).data(); }

 private:
  Ops& ops_;
  std::vector<void*> owned_;
  std::vector<std::vector<uint8_t>> host_;
};

// RoPE frequencies of a layer (spec §2.4): base^(-2i/rope_dim) in fp32, with the YaRN ramp on
// compressed layers.
RopeFrequencies rope_frequencies(const RopeSpec& spec, int rope_dim);

}  // namespace dsv4
