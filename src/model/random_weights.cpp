#include "model/random_weights.h"

#include <map>
#include <numeric>
#include <random>

#include "core/error.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/weights.h"

namespace dsv4 {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (char c : name) h = (h ^ uint8_t(c)) * 1099511628211ull;
  return random_fill::mix(seed ^ h);
}

// Where a routed expert's slice lies in the whole tensor (zeros: not a slice).
struct SliceOf {
  int64_t row0 = 0, col0 = 0, full_cols = 0;
};
SliceOf slice_of(const std::string& prefix, const WeightShare& share, const ModelConfig& c) {
  if (share.slice_size >= 0 && prefix.find(".ffn.experts.") != std::string::npos) {
    if (ends_with(prefix, ".w1") || ends_with(prefix, ".w3")) return {share.slice_begin, 0, 0};
    if (ends_with(prefix, ".w2")) return {0, share.slice_begin, c.moe_intermediate_size};
  }
  if (share.head_count >= 0) {  // a head share: wq_b rows, attn_sink entries, wo_a rows, wo_b columns
    const int64_t orank = c.o_lora_rank;
    if (ends_with(prefix, ".attn.wq_b")) return {share.head_begin * c.head_dim, 0, 0};
    if (ends_with(prefix, ".attn.attn_sink")) return {0, share.head_begin, c.num_heads};
    if (ends_with(prefix, ".attn.wo_a")) return {share.group_begin * orank, 0, 0};
    if (ends_with(prefix, ".attn.wo_b")) return {0, share.group_begin * orank, int64_t(c.o_groups) * orank};
  }
  return {};
}

// Memory of the tensors: backend allocations and host vectors, freed together.
struct Owner {
  Ops* ops = nullptr;
  std::vector<void*> device;
  std::vector<std::vector<uint8_t>> host;
  ~Owner() {
    for (void* p : device) ops->free(p);
  }
};

}  // namespace

RandomModel make_random_model(const RandomWeightsOptions& o, Ops& ops) {
  PresetOverrides ov;
  if (o.layers > 0) ov.layers = o.layers;
  if (o.experts > 0) ov.experts = o.experts;
  ov.expert_format = ExpertFormat::MXFP4;
  RandomModel m;
  m.config = preset_config(o.shape, ov);
  const ModelConfig& c = m.config;
  auto owner = std::make_shared<Owner>();
  owner->ops = &ops;
  const std::vector<TensorSpec> specs = expected_tensors(c, ExpertFormat::MXFP4, o.share);
  std::map<std::string, const TensorSpec*> by_name;
  for (const TensorSpec& s : specs) by_name[s.name] = &s;
  const Device where = ops.host_memory() ? Device::Host : Device::Cuda;
  std::vector<Checkpoint::MemoryTensor> tensors;
  auto device_tensor = [&](const TensorSpec& s) {
    const size_t bytes = size_t(shape_numel(s.shape) * dtype_size(s.dtype));
    void* p = ops.alloc(bytes);
    owner->device.push_back(p);
    m.device_bytes += bytes;
    tensors.push_back({s.name, TensorView{p, s.dtype, s.shape, where}});
    return p;
  };
  auto host_tensor = [&](const TensorSpec& s) {
    owner->host.emplace_back(size_t(shape_numel(s.shape) * dtype_size(s.dtype)));
    m.host_bytes += owner->host.back().size();
    tensors.push_back({s.name, TensorView{owner->host.back().data(), s.dtype, s.shape, Device::Host}});
    return owner->host.back().data();
  };
  for (const TensorSpec& s : specs) {
    if (ends_with(s.name, ".scale")) continue;  // made with its weight
    const int64_t cols = s.shape.empty() ? 1 : s.shape.back();
    const int64_t rows = cols > 0 ? int64_t(shape_numel(s.shape)) / cols : 0;
    const std::string prefix = ends_with(s.name, ".weight") ? s.name.substr(0, s.name.size() - 7) : s.name;
    // A rank's part of a tensor (o.share: an expert's intermediate slice, an attention head
    // share): the whole tensor's values at its rows or columns, with the whole tensor's fan-in.
    const SliceOf slice = slice_of(prefix, o.share, c);
    const int64_t elements = s.dtype == DType::I8 ? 2 * cols : cols;  // per row (packed FP4: two a byte)
    const RandomInit init = random_init(prefix, c, slice.full_cols > 0 ? slice.full_cols : elements);
    RandomFillParams p;
    p.rows = rows;
    p.cols = cols;
    p.row0 = slice.row0;
    p.col0 = slice.col0;
    p.full_cols = slice.full_cols;
    p.mean = init.mean;
    p.stddev = init.stddev;
    p.seed = name_seed(o.seed, s.name);
    const auto scale = by_name.find(prefix + ".scale");
    if (s.dtype == DType::F8_E4M3 && scale != by_name.end()) {
      p.kind = RandomFill::Fp8Block;
      p.data = device_tensor(s);
      p.scale = device_tensor(*scale->second);
      ops.fill_random(p);
    } else if (s.dtype == DType::I8 && scale != by_name.end()) {
      p.kind = RandomFill::Mxfp4;
      p.cols = 2 * cols;  // packed codes: two per byte
      p.data = device_tensor(s);
      p.scale = device_tensor(*scale->second);
      ops.fill_random(p);
    } else if (s.dtype == DType::BF16 && s.shape.size() == 2) {
      p.kind = RandomFill::Bf16;
      p.data = device_tensor(s);
      ops.fill_random(p);
    } else if (init.tid2eid) {  // rows of k distinct experts
      auto* out = reinterpret_cast<int64_t*>(host_tensor(s));
      std::mt19937_64 rng(p.seed);
      std::vector<int64_t> perm(static_cast<size_t>(c.n_routed_experts));
      for (int64_t r = 0; r < rows; ++r) {
        std::iota(perm.begin(), perm.end(), 0);
        for (int64_t j = 0; j < cols; ++j) {
          std::swap(perm[size_t(j)], perm[size_t(j) + size_t(rng() % (perm.size() - size_t(j)))]);
          out[r * cols + j] = perm[size_t(j)];
        }
      }
    } else if (s.dtype == DType::F32 || s.dtype == DType::BF16) {  // small tensors, on the host
      p.kind = s.dtype == DType::F32 ? RandomFill::F32 : RandomFill::Bf16;
      p.data = host_tensor(s);
      cpu_ops().fill_random(p);
    } else {
      fail("random weights: no generator for {} tensor {}", dtype_name(s.dtype), s.name);
    }
  }
  ops.synchronize();
  m.checkpoint = std::make_unique<Checkpoint>("random-weights:" + o.shape, std::move(tensors), owner);
  return m;
}

}  // namespace dsv4
