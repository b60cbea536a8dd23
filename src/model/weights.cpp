#include "model/weights.h"

#include <array>
#include <cstring>
#include <map>
#include <set>

#include "core/error.h"

namespace dsv4 {

std::vector<float> to_f32(const TensorView& t) {
  std::vector<float> out(size_t(t.numel()));
  if (t.dtype == DType::F32) {
    std::memcpy(out.data(), t.data, out.size() * sizeof(float));
  } else if (t.dtype == DType::BF16) {
    const uint16_t* p = t.as<uint16_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = bf16_to_f32(p[i]);
  } else {
    fail("to_f32: unsupported dtype {}", dtype_name(t.dtype));
  }
  return out;
}

// ---------------------------------------------------------------- the tensor manifest

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

class Manifest {
 public:
  explicit Manifest(std::vector<TensorSpec>& out) : out_(out) {}
  void add(const std::string& name, DType dtype, Shape shape) { out_.push_back({name, dtype, std::move(shape)}); }
  void fp8_linear(const std::string& name, int64_t out, int64_t in) {
    add(name + ".weight", DType::F8_E4M3, {out, in});
    add(name + ".scale", DType::F8_E8M0, {ceil_div(out, 128), ceil_div(in, 128)});
  }
  void expert_linear(const std::string& name, int64_t out, int64_t in, ExpertFormat f) {
    switch (f) {
      case ExpertFormat::MXFP4:
        add(name + ".weight", DType::I8, {out, in / 2});
        add(name + ".scale", DType::F8_E8M0, {out, in / 32});
        break;
      case ExpertFormat::NVFP4:
        add(name + ".weight", DType::U8, {out, in / 2});
        add(name + ".weight_scale", DType::F8_E4M3, {out, in / 16});
        add(name + ".weight_scale_2", DType::F32, {});
        add(name + ".input_scale", DType::F32, {});
        break;
      case ExpertFormat::FP8: fp8_linear(name, out, in); break;
      case ExpertFormat::BF16: add(name + ".weight", DType::BF16, {out, in}); break;
    }
  }

 private:
  std::vector<TensorSpec>& out_;
};

void block_tensors(Manifest& m, const ModelConfig& c, const LayerSpec& spec, const std::string& p, ExpertFormat experts,
                   const WeightShare& share) {
  const int64_t d = c.hidden_size, n = c.hc_mult, hd = c.head_dim, H = c.num_heads;
  const int64_t mix = (2 + n) * n;
  m.add(p + "attn_norm.weight", DType::BF16, {d});
  m.add(p + "ffn_norm.weight", DType::BF16, {d});
  for (const char* which : {"attn", "ffn"}) {
    m.add(p + "hc_" + which + "_fn", DType::F32, {mix, n * d});
    m.add(p + "hc_" + which + "_base", DType::F32, {mix});
    m.add(p + "hc_" + which + "_scale", DType::F32, {3});
  }
  const int64_t Hr = share.head_count >= 0 ? share.head_count : H;  // the heads held
  const int64_t Gr = share.head_count >= 0 ? share.group_count : c.o_groups;
  m.add(p + "attn.attn_sink", DType::F32, {Hr});
  m.add(p + "attn.q_norm.weight", DType::BF16, {c.q_lora_rank});
  m.add(p + "attn.kv_norm.weight", DType::BF16, {hd});
  m.fp8_linear(p + "attn.wq_a", c.q_lora_rank, d);
  m.fp8_linear(p + "attn.wq_b", Hr * hd, c.q_lora_rank);
  m.fp8_linear(p + "attn.wkv", hd, d);
  m.fp8_linear(p + "attn.wo_a", Gr * c.o_lora_rank, (H / c.o_groups) * hd);
  m.fp8_linear(p + "attn.wo_b", d, Gr * c.o_lora_rank);
  if (spec.has_compressor()) {
    const int64_t coff = spec.compress_ratio == 4 ? 2 : 1;
    m.add(p + "attn.compressor.wkv.weight", DType::BF16, {coff * hd, d});
    m.add(p + "attn.compressor.wgate.weight", DType::BF16, {coff * hd, d});
    m.add(p + "attn.compressor.ape", DType::F32, {spec.compress_ratio, coff * hd});
    m.add(p + "attn.compressor.norm.weight", DType::BF16, {hd});
  }
  if (spec.has_indexer()) {
    const int64_t ci = c.index_head_dim, ni = c.index_n_heads;
    m.fp8_linear(p + "attn.indexer.wq_b", ni * ci, c.q_lora_rank);
    m.add(p + "attn.indexer.weights_proj.weight", DType::BF16, {ni, d});
    m.add(p + "attn.indexer.compressor.wkv.weight", DType::BF16, {2 * ci, d});
    m.add(p + "attn.indexer.compressor.wgate.weight", DType::BF16, {2 * ci, d});
    m.add(p + "attn.indexer.compressor.ape", DType::F32, {4, 2 * ci});
    m.add(p + "attn.indexer.compressor.norm.weight", DType::BF16, {ci});
  }
  m.add(p + "ffn.gate.weight", DType::BF16, {c.n_routed_experts, d});
  if (spec.hash_routed)
    m.add(p + "ffn.gate.tid2eid", DType::I64, {c.vocab_size, c.num_experts_per_tok});
  else
    m.add(p + "ffn.gate.bias", DType::F32, {c.n_routed_experts});
  const int64_t I = c.moe_intermediate_size, Ir = share.slice_size >= 0 ? share.slice_size : I;
  for (int e = 0; e < c.n_routed_experts; ++e) {
    if (!share.holds(e)) continue;
    const std::string ep = fmt::format("{}ffn.experts.{}.", p, e);
    m.expert_linear(ep + "w1", Ir, d, experts);
    m.expert_linear(ep + "w2", d, Ir, experts);
    m.expert_linear(ep + "w3", Ir, d, experts);
  }
  if (c.n_shared_experts > 0) {
    m.fp8_linear(p + "ffn.shared_experts.w1", I, d);
    m.fp8_linear(p + "ffn.shared_experts.w2", d, I);
    m.fp8_linear(p + "ffn.shared_experts.w3", I, d);
  }
}

}  // namespace

std::vector<TensorSpec> expected_tensors(const ModelConfig& c, ExpertFormat experts, const WeightShare& share) {
  std::vector<TensorSpec> out;
  Manifest m(out);
  const int64_t d = c.hidden_size, n = c.hc_mult;
  m.add("embed.weight", DType::BF16, {c.vocab_size, d});
  m.add("head.weight", DType::BF16, {c.vocab_size, d});
  m.add("norm.weight", DType::BF16, {d});
  m.add("hc_head_fn", DType::F32, {n, n * d});
  m.add("hc_head_base", DType::F32, {n});
  m.add("hc_head_scale", DType::F32, {1});
  for (int l = 0; l < c.num_layers; ++l) block_tensors(m, c, c.layers[size_t(l)], fmt::format("layers.{}.", l), experts, share);
  for (int i = 0; i < c.num_mtp_layers; ++i) {
    const std::string p = fmt::format("mtp.{}.", i);
    block_tensors(m, c, c.mtp_layer(i), p, experts, share);
    m.fp8_linear(p + "e_proj", d, d);
    m.fp8_linear(p + "h_proj", d, d);
    m.add(p + "enorm.weight", DType::BF16, {d});
    m.add(p + "hnorm.weight", DType::BF16, {d});
    m.add(p + "norm.weight", DType::BF16, {d});
    m.add(p + "hc_head_fn", DType::F32, {n, n * d});
    m.add(p + "hc_head_base", DType::F32, {n});
    m.add(p + "hc_head_scale", DType::F32, {1});
  }
  return out;
}

// ---------------------------------------------------------------- binding

ExpertFormat detect_expert_format(const Checkpoint& ckpt, const ModelConfig& c, int64_t expert) {
  const std::string base = fmt::format("layers.0.ffn.experts.{}.w1.", expert);
  if (c.num_layers == 0 || !ckpt.contains(base + "weight")) return c.expert_format;
  if (ckpt.contains(base + "weight_scale_2") || ckpt.contains(base + "weight_scale")) return ExpertFormat::NVFP4;
  switch (ckpt.entry(base + "weight").dtype) {
    case DType::I8:
    case DType::U8: return ExpertFormat::MXFP4;
    case DType::F8_E4M3: return ExpertFormat::FP8;
    case DType::BF16: return ExpertFormat::BF16;
    default: return c.expert_format;
  }
}

namespace {

class Binder {
 public:
  Binder(const Checkpoint& ckpt, const ModelConfig& c, const WeightShare& share) : ckpt_(ckpt), c_(c), share_(share) {}

  TensorView tensor(const std::string& name) { return ckpt_.get(name); }
  TensorView tensor_if(const std::string& name) { return ckpt_.contains(name) ? ckpt_.get(name) : TensorView{}; }

  LinearWeight fp8(const std::string& name, int64_t out, int64_t in) {
    LinearWeight w;
    w.format = WeightFormat::FP8Block;
    w.out = out;
    w.in = in;
    w.name = name;
    w.weight = tensor(name + ".weight");
    w.scale = tensor(name + ".scale");
    return w;
  }

  LinearWeight expert(const std::string& name, int64_t out, int64_t in, ExpertFormat f) {
    LinearWeight w;
    w.out = out;
    w.in = in;
    w.name = name;
    switch (f) {
      case ExpertFormat::MXFP4:
        w.format = WeightFormat::MXFP4;
        w.weight = tensor(name + ".weight");
        w.scale = tensor(name + ".scale");
        break;
      case ExpertFormat::NVFP4:
        w.format = WeightFormat::NVFP4;
        w.weight = tensor(name + ".weight");
        w.scale = tensor(name + ".weight_scale");
        w.global_scale = *tensor(name + ".weight_scale_2").as<float>();
        w.input_scale = *tensor(name + ".input_scale").as<float>();
        break;
      case ExpertFormat::FP8: return fp8(name, out, in);
      case ExpertFormat::BF16:
        w.format = WeightFormat::BF16;
        w.weight = tensor(name + ".weight");
        break;
    }
    return w;
  }

  CompressorWeights compressor(const std::string& p, int ratio, int head_dim) {
    CompressorWeights cw;
    cw.ratio = ratio;
    cw.head_dim = head_dim;
    cw.wkv = tensor(p + "wkv.weight");
    cw.wgate = tensor(p + "wgate.weight");
    cw.ape = tensor(p + "ape");
    cw.norm = tensor(p + "norm.weight");
    return cw;
  }

  HyperConnectionWeights hc(const std::string& p) { return {tensor(p + "_fn"), tensor(p + "_base"), tensor(p + "_scale")}; }

  BlockWeights block(const LayerSpec& spec, const std::string& p, ExpertFormat experts) {
    const int64_t d = c_.hidden_size, hd = c_.head_dim, H = c_.num_heads, I = c_.moe_intermediate_size;
    BlockWeights b;
    b.layer = spec.index;
    b.attn_norm = tensor(p + "attn_norm.weight");
    b.ffn_norm = tensor(p + "ffn_norm.weight");
    b.hc_attn = hc(p + "hc_attn");
    b.hc_ffn = hc(p + "hc_ffn");
    AttentionWeights& a = b.attn;
    a.attn_sink = tensor(p + "attn.attn_sink");
    a.q_norm = tensor(p + "attn.q_norm.weight");
    a.kv_norm = tensor(p + "attn.kv_norm.weight");
    a.wq_a = fp8(p + "attn.wq_a", c_.q_lora_rank, d);
    a.sliced = share_.head_count >= 0;
    const int64_t Hr = a.sliced ? share_.head_count : H, Gr = a.sliced ? share_.group_count : c_.o_groups;
    a.wq_b = fp8(p + "attn.wq_b", Hr * hd, c_.q_lora_rank);
    a.wkv = fp8(p + "attn.wkv", hd, d);
    a.wo_a = fp8(p + "attn.wo_a", Gr * c_.o_lora_rank, (H / c_.o_groups) * hd);
    a.wo_b = fp8(p + "attn.wo_b", d, Gr * c_.o_lora_rank);
    if (spec.has_compressor()) {
      a.has_compressor = true;
      a.compressor = compressor(p + "attn.compressor.", spec.compress_ratio, c_.head_dim);
    }
    if (spec.has_indexer()) {
      a.has_indexer = true;
      a.indexer.wq_b = fp8(p + "attn.indexer.wq_b", int64_t(c_.index_n_heads) * c_.index_head_dim, c_.q_lora_rank);
      a.indexer.weights_proj = tensor(p + "attn.indexer.weights_proj.weight");
      a.indexer.compressor = compressor(p + "attn.indexer.compressor.", 4, c_.index_head_dim);
    }
    MoEWeights& f = b.ffn;
    f.gate = tensor(p + "ffn.gate.weight");
    f.gate_bias = tensor_if(p + "ffn.gate.bias");
    f.tid2eid = tensor_if(p + "ffn.gate.tid2eid");
    f.expert0 = share_.count < 0 ? 0 : share_.begin;
    f.sliced = share_.slice_size >= 0;
    const int64_t Ir = f.sliced ? share_.slice_size : I;
    for (int e = 0; e < c_.n_routed_experts; ++e) {
      if (!share_.holds(e)) continue;
      const std::string ep = fmt::format("{}ffn.experts.{}.", p, e);
      f.experts.push_back({expert(ep + "w1", Ir, d, experts), expert(ep + "w2", d, Ir, experts),
                           expert(ep + "w3", Ir, d, experts)});
    }
    if (c_.n_shared_experts > 0)
      f.shared = {fp8(p + "ffn.shared_experts.w1", I, d), fp8(p + "ffn.shared_experts.w2", d, I),
                  fp8(p + "ffn.shared_experts.w3", I, d)};
    return b;
  }

 private:
  const Checkpoint& ckpt_;
  const ModelConfig& c_;
  WeightShare share_;  // as the checkpoint holds it (slice_size < 0: whole experts)
};

}  // namespace

ModelWeights bind_weights(const Checkpoint& ckpt, const ModelConfig& c, const WeightShare& share) {
  const int64_t first = share.count < 0 ? 0 : share.begin;
  const ExpertFormat experts = detect_expert_format(ckpt, c, first);
  // The checkpoint's tensors decide; a config that declares a format (expert_dtype,
  // moe_quant_algo) must agree with them. The Flash HF config declares none.
  if (c.expert_format_declared && experts != c.expert_format)
    fail("checkpoint {}: config declares {} routed experts but the tensors are {}", ckpt.dir(),
         expert_format_name(c.expert_format), expert_format_name(experts));
  if (share.count >= 0 && (share.begin < 0 || share.count == 0 || share.begin + share.count > c.n_routed_experts))
    fail("checkpoint {}: routed experts [{}, {}) to bind are outside the config's {}", ckpt.dir(), share.begin,
         share.begin + share.count, c.n_routed_experts);
  if (share.slice_size >= 0 &&
      (share.slice_begin < 0 || share.slice_size == 0 || share.slice_begin + share.slice_size > c.moe_intermediate_size))
    fail("checkpoint {}: intermediate slice [{}, {}) to bind is outside moe_intermediate_size {}", ckpt.dir(),
         share.slice_begin, share.slice_begin + share.slice_size, c.moe_intermediate_size);
  // A share-only checkpoint holds the slices alone; a whole one whole experts (the model cuts them).
  WeightShare held = share;
  if (share.slice_size >= 0) {
    const std::string w1 = fmt::format("layers.0.ffn.experts.{}.w1.weight", first);
    const bool sliced = share.slice_size != c.moe_intermediate_size && c.num_layers > 0 && ckpt.contains(w1) &&
                        !ckpt.entry(w1).shape.empty() && ckpt.entry(w1).shape[0] == share.slice_size;
    if (!sliced) {
      held.slice_begin = 0;
      held.slice_size = -1;
    }
  }
  if (share.head_count >= 0) {
    if (share.head_begin < 0 || share.head_count == 0 || share.head_begin + share.head_count > c.num_heads ||
        share.group_begin < 0 || share.group_count <= 0 || share.group_begin + share.group_count > c.o_groups)
      fail("checkpoint {}: attention heads [{}, {}) / output groups [{}, {}) to bind are outside the config's {} / {}",
           ckpt.dir(), share.head_begin, share.head_begin + share.head_count, share.group_begin,
           share.group_begin + share.group_count, c.num_heads, c.o_groups);
    const std::string wq_b = "layers.0.attn.wq_b.weight";
    const bool sliced = share.head_count != c.num_heads && c.num_layers > 0 && ckpt.contains(wq_b) &&
                        !ckpt.entry(wq_b).shape.empty() && ckpt.entry(wq_b).shape[0] == share.head_count * c.head_dim;
    if (!sliced) {
      held.head_begin = held.group_begin = 0;
      held.head_count = held.group_count = -1;
    }
  }
  const std::vector<TensorSpec> expected = expected_tensors(c, experts, held);

  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> expected_names;
  if (share.count >= 0)  // the other ranks' experts may be there too
    for (const TensorSpec& s : expected_tensors(c, experts)) expected_names.insert(s.name);
  for (const TensorSpec& s : expected) {
    expected_names.insert(s.name);
    if (!ckpt.contains(s.name)) {
      missing.push_back(fmt::format("{} ({} {})", s.name, dtype_name(s.dtype), shape_str(s.shape)));
      continue;
    }
    const TensorEntry& e = ckpt.entry(s.name);
    const bool dtype_ok = e.dtype == s.dtype || (s.dtype == DType::I8 && e.dtype == DType::U8);
    if (!dtype_ok || e.shape != s.shape)
      mismatched.push_back(fmt::format("{}: expected {} {}, found {} {}", s.name, dtype_name(s.dtype),
                                       shape_str(s.shape), dtype_name(e.dtype), shape_str(e.shape)));
  }
  for (const std::string& name : ckpt.names())
    if (!expected_names.count(name)) unexpected.push_back(name);

  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::string msg = fmt::format("checkpoint {} does not match its config ({} experts): {} missing, {} mismatched, {} unexpected",
                                  ckpt.dir(), expert_format_name(experts), missing.size(), mismatched.size(), unexpected.size());
    auto list = [&msg](const char* title, const std::vector<std::string>& items) {
      if (items.empty()) return;
      msg += fmt::format("\n{}:", title);
      for (size_t i = 0; i < items.size() && i < 40; ++i) msg += "\n  - " + items[i];
      if (items.size() > 40) msg += fmt::format("\n  ... and {} more", items.size() - 40);
    };
    list("missing tensors", missing);
    list("dtype/shape mismatches", mismatched);
    list("unexpected tensors", unexpected);
    throw Error(msg);
  }

  Binder b(ckpt, c, held);
  ModelWeights w;
  w.expert_format = experts;
  w.embed = b.tensor("embed.weight");
  w.head = b.tensor("head.weight");
  w.norm = b.tensor("norm.weight");
  w.hc_head = b.hc("hc_head");
  for (int l = 0; l < c.num_layers; ++l)
    w.layers.push_back(b.block(c.layers[size_t(l)], fmt::format("layers.{}.", l), experts));
  for (int i = 0; i < c.num_mtp_layers; ++i) {
    const std::string p = fmt::format("mtp.{}.", i);
    MTPWeights m;
    m.block = b.block(c.mtp_layer(i), p, experts);
    m.e_proj = b.fp8(p + "e_proj", c.hidden_size, c.hidden_size);
    m.h_proj = b.fp8(p + "h_proj", c.hidden_size, c.hidden_size);
    m.enorm = b.tensor(p + "enorm.weight");
    m.hnorm = b.tensor(p + "hnorm.weight");
    m.norm = b.tensor(p + "norm.weight");
    m.hc_head = b.hc(p + "hc_head");
    w.mtp.push_back(std::move(m));
  }
  return w;
}

}  // namespace dsv4
