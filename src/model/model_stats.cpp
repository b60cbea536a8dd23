#include "model/model_stats.h"

namespace dsv4 {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_scale(const std::string& name) {
  return ends_with(name, ".scale") || ends_with(name, ".weight_scale") || ends_with(name, ".weight_scale_2") ||
         ends_with(name, ".input_scale");
}

}  // namespace

ParameterCounts count_parameters(const ModelConfig& config, const std::vector<TensorSpec>& tensors) {
  ParameterCounts c;
  const double active_fraction = double(config.num_experts_per_tok) / double(config.n_routed_experts);
  uint64_t mtp_routed = 0;
  for (const TensorSpec& t : tensors) {
    if (is_scale(t.name) || t.dtype == DType::I64 || t.dtype == DType::I32) continue;
    uint64_t n = shape_numel(t.shape);
    if (t.dtype == DType::I8 || t.dtype == DType::U8) n *= 2;  // packed FP4
    const bool routed = t.name.find(".ffn.experts.") != std::string::npos;
    if (t.name.rfind("mtp.", 0) == 0) {
      c.mtp += n;
      if (routed) mtp_routed += n;
    } else {
      c.total += n;
      if (routed) c.routed += n;
    }
  }
  c.active = c.total - c.routed + uint64_t(double(c.routed) * active_fraction + 0.5);
  c.mtp_active = c.mtp - mtp_routed + uint64_t(double(mtp_routed) * active_fraction + 0.5);
  return c;
}

DTypeBytes bytes_by_dtype(const std::vector<TensorSpec>& tensors) {
  DTypeBytes b;
  for (const TensorSpec& t : tensors) {
    const uint64_t bytes = shape_numel(t.shape) * dtype_size(t.dtype);
    const std::string name(dtype_name(t.dtype));
    b.bytes[name] += bytes;
    b.tensors[name] += 1;
    b.total += bytes;
  }
  return b;
}

CacheEstimate estimate_cache(const ModelConfig& c) {
  CacheEstimate e;
  const uint64_t hd = uint64_t(c.head_dim), ci = uint64_t(c.index_head_dim);
  const uint64_t kv_bf16 = hd * 2;
  // FP8 layout: nope dims e4m3, rope dims bf16, one UE8M0 scale per 64 nope dims, padded to 8.
  const uint64_t nope = uint64_t(c.nope_head_dim()), rope = uint64_t(c.rope_head_dim);
  const uint64_t kv_fp8 = (nope + rope * 2 + nope / 64 + 7) / 8 * 8;
  const uint64_t idx_bf16 = ci * 2;
  const uint64_t idx_fp4 = ci / 2 + ci / 32;
  const uint64_t W = uint64_t(c.sliding_window);
  for (const LayerSpec& l : c.layers) {
    e.fixed_bf16 += W * kv_bf16;
    e.fixed_fp8 += W * kv_fp8;
    if (l.compress_ratio == 0) continue;
    const uint64_t entries = 1024 / uint64_t(l.compress_ratio);
    e.per_1k_tokens_bf16 += entries * kv_bf16;
    e.per_1k_tokens_fp8 += entries * kv_fp8;
    const uint64_t coff = l.compress_ratio == 4 ? 2 : 1;
    // kv and score state, fp32: ratio 4 keeps 8 slots x 2·D_c, ratio 128 keeps 128 slots x D_c.
    const uint64_t state = uint64_t(coff * l.compress_ratio) * coff * hd * 4 * 2;
    e.fixed_bf16 += state;
    e.fixed_fp8 += state;
    if (l.has_indexer()) {
      e.per_1k_tokens_bf16 += entries * idx_bf16;
      e.per_1k_tokens_fp8 += entries * idx_fp4;
      const uint64_t istate = 8 * 2 * ci * 4 * 2;
      e.fixed_bf16 += istate;
      e.fixed_fp8 += istate;
    }
  }
  return e;
}

std::vector<TensorSpec> tensor_specs(const Checkpoint& ckpt) {
  std::vector<TensorSpec> out;
  for (const std::string& name : ckpt.names()) {
    const TensorEntry& e = ckpt.entry(name);
    out.push_back({name, e.dtype, e.shape});
  }
  return out;
}

}  // namespace dsv4
