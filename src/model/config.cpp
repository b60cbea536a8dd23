#include "model/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/json_util.h"

namespace dsv4 {

using nlohmann::json;

const char* attention_kind_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::SlidingWindow: return "sliding";
    case AttentionKind::CompressedSparse: return "csa";
    case AttentionKind::HeavilyCompressed: return "hca";
  }
  return "?";
}

const char* expert_format_name(ExpertFormat f) {
  switch (f) {
    case ExpertFormat::MXFP4: return "mxfp4";
    case ExpertFormat::NVFP4: return "nvfp4";
    case ExpertFormat::FP8: return "fp8";
    case ExpertFormat::BF16: return "bf16";
  }
  return "?";
}

std::optional<ExpertFormat> parse_expert_format(const std::string& name) {
  for (ExpertFormat f : {ExpertFormat::MXFP4, ExpertFormat::NVFP4, ExpertFormat::FP8, ExpertFormat::BF16})
    if (name == expert_format_name(f)) return f;
  return std::nullopt;
}

namespace {

// Reads typed keys from a JSON object, collecting every problem instead of stopping at the first.
class Reader {
 public:
  Reader(const json& j, std::vector<std::string>& problems) : j_(j), problems_(problems) {}

  template <typename T>
  void required(const char* key, T& out, T min_value, T max_value) {
    read(key, out, min_value, max_value, /*required=*/true);
  }
  template <typename T>
  void optional(const char* key, T& out, T min_value, T max_value) {
    read(key, out, min_value, max_value, /*required=*/false);
  }
  void required_string(const char* key, std::string& out) { read_string(key, out, true); }
  void optional_string(const char* key, std::string& out) { read_string(key, out, false); }
  void optional_bool(const char* key, bool& out) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return;
    if (!it->is_boolean()) {
      problems_.push_back(fmt::format("'{}' must be true or false, got {}", key, describe_json(*it)));
      return;
    }
    out = it->get<bool>();
  }

 private:
  template <typename T>
  void read(const char* key, T& out, T min_value, T max_value, bool is_required) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (is_required) problems_.push_back(fmt::format("missing required key '{}'", key));
      return;
    }
    if constexpr (std::is_integral_v<T>) {
      if (!it->is_number_integer() && !(it->is_number_float() && std::floor(it->get<double>()) == it->get<double>())) {
        problems_.push_back(fmt::format("'{}' must be an integer, got {}", key, describe_json(*it)));
        return;
      }
      const double v = it->get<double>();
      if (v < double(min_value) || v > double(max_value)) {
        problems_.push_back(fmt::format("'{}' = {} is out of range [{}, {}]", key, describe_json(*it), min_value, max_value));
        return;
      }
      out = T(it->get<int64_t>());
    } else {
      if (!it->is_number()) {
        problems_.push_back(fmt::format("'{}' must be a number, got {}", key, describe_json(*it)));
        return;
      }
      const double v = it->get<double>();
      if (!(v >= double(min_value) && v <= double(max_value))) {
        problems_.push_back(fmt::format("'{}' = {} is out of range [{}, {}]", key, v, min_value, max_value));
        return;
      }
      out = T(v);
    }
  }
  void read_string(const char* key, std::string& out, bool is_required) {
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) {
      if (is_required) problems_.push_back(fmt::format("missing required key '{}'", key));
      return;
    }
    if (!it->is_string()) {
      problems_.push_back(fmt::format("'{}' must be a string, got {}", key, describe_json(*it)));
      return;
    }
    out = it->get<std::string>();
  }

  const json& j_;
  std::vector<std::string>& problems_;
};

constexpr int64_t kBig = int64_t(1) << 40;

}  // namespace

ModelConfig ModelConfig::from_json(const json& j, const std::string& label) {
  std::vector<std::string> problems;
  ModelConfig c;
  if (!j.is_object()) fail("{}: config must be a JSON object, got {}", label, j.type_name());
  Reader r(j, problems);

  std::string model_type;
  r.required_string("model_type", model_type);
  if (!model_type.empty() && model_type != "deepseek_v4")
    problems.push_back(fmt::format("model_type '{}' is not supported (expected 'deepseek_v4')", model_type));

  r.required("vocab_size", c.vocab_size, int64_t(1), kBig);
  r.required("hidden_size", c.hidden_size, int64_t(1), int64_t(1) << 20);
  r.required("num_hidden_layers", c.num_layers, 1, 4096);
  r.required("num_attention_heads", c.num_heads, 1, 4096);
  r.optional("num_key_value_heads", c.num_kv_heads, 1, 4096);
  r.required("head_dim", c.head_dim, 1, 65536);
  r.required("qk_rope_head_dim", c.rope_head_dim, 2, 65536);
  r.required("q_lora_rank", c.q_lora_rank, int64_t(1), int64_t(1) << 20);
  r.required("o_groups", c.o_groups, 1, 4096);
  r.required("o_lora_rank", c.o_lora_rank, int64_t(1), int64_t(1) << 20);
  r.required("sliding_window", c.sliding_window, 1, 1 << 20);
  r.required("index_n_heads", c.index_n_heads, 1, 4096);
  r.required("index_head_dim", c.index_head_dim, 1, 65536);
  r.required("index_topk", c.index_topk, 1, 1 << 24);
  r.required("n_routed_experts", c.n_routed_experts, 1, 1 << 16);
  r.optional("n_shared_experts", c.n_shared_experts, 0, 16);
  r.required("num_experts_per_tok", c.num_experts_per_tok, 1, 1 << 16);
  r.required("moe_intermediate_size", c.moe_intermediate_size, int64_t(1), int64_t(1) << 20);
  r.optional("num_hash_layers", c.num_hash_layers, 0, 4096);
  r.required_string("scoring_func", c.scoring_func);
  r.optional_string("topk_method", c.topk_method);
  r.optional_bool("norm_topk_prob", c.norm_topk_prob);
  r.required("routed_scaling_factor", c.routed_scaling_factor, 0.0, 1e6);
  r.required("swiglu_limit", c.swiglu_limit, 0.0, 1e9);
  r.optional_string("hidden_act", c.hidden_act);
  r.required("hc_mult", c.hc_mult, 1, 64);
  r.required("hc_sinkhorn_iters", c.hc_sinkhorn_iters, 1, 1000);
  r.optional("hc_eps", c.hc_eps, 0.0, 1.0);
  r.required("rms_norm_eps", c.rms_norm_eps, 0.0, 1.0);
  r.required("rope_theta", c.rope_theta, 1.0, 1e12);
  r.required("compress_rope_theta", c.compress_rope_theta, 1.0, 1e12);
  r.required("max_position_embeddings", c.max_position_embeddings, int64_t(1), kBig);
  r.optional("num_nextn_predict_layers", c.num_mtp_layers, 0, 16);
  r.optional_bool("tie_word_embeddings", c.tie_word_embeddings);
  r.optional("bos_token_id", c.bos_token_id, int64_t(0), kBig);
  r.optional("eos_token_id", c.eos_token_id, int64_t(0), kBig);
  r.optional_string("torch_dtype", c.torch_dtype);

  if (!c.hidden_act.empty() && c.hidden_act != "silu")
    problems.push_back(fmt::format("hidden_act '{}' is not supported (expected 'silu')", c.hidden_act));
  if (!c.scoring_func.empty() && c.scoring_func != "sqrtsoftplus")
    problems.push_back(fmt::format("scoring_func '{}' is not supported (expected 'sqrtsoftplus')", c.scoring_func));
  if (!c.topk_method.empty() && c.topk_method != "noaux_tc")
    problems.push_back(fmt::format("topk_method '{}' is not supported (expected 'noaux_tc')", c.topk_method));
  if (c.num_kv_heads != 1)
    problems.push_back(fmt::format("num_key_value_heads = {}: DeepSeek-V4 shares one K=V head (expected 1)", c.num_kv_heads));
  if (c.tie_word_embeddings) problems.push_back("tie_word_embeddings = true: DeepSeek-V4 has an untied head");

  // rope_scaling (YaRN)
  c.yarn.base = c.compress_rope_theta;
  c.yarn.yarn = false;
  if (auto rs = j.find("rope_scaling"); rs != j.end() && !rs->is_null()) {
    if (!rs->is_object()) {
      problems.push_back(fmt::format("'rope_scaling' must be an object, got {}", describe_json(*rs)));
    } else {
      std::vector<std::string> sub;
      Reader rr(*rs, sub);
      std::string type;
      rr.optional_string("type", type);
      if (type.empty()) rr.optional_string("rope_type", type);
      if (type != "yarn") sub.push_back(fmt::format("type '{}' is not supported (expected 'yarn')", type));
      rr.required("factor", c.yarn.factor, 1.0, 1e6);
      rr.required("original_max_position_embeddings", c.yarn.original_max_positions, int64_t(1), kBig);
      rr.optional("beta_fast", c.yarn.beta_fast, 0.0, 1e6);
      rr.optional("beta_slow", c.yarn.beta_slow, 0.0, 1e6);
      for (auto& s : sub) problems.push_back("rope_scaling: " + s);
      c.yarn.yarn = true;
    }
  }

  // quantization_config: fp8 e4m3, 128x128 blocks, ue8m0; NVFP4 experts via moe_quant_algo.
  bool nvfp4 = false;
  if (auto q = j.find("quantization_config"); q != j.end() && !q->is_null()) {
    if (!q->is_object()) {
      problems.push_back("'quantization_config' must be an object");
    } else {
      std::vector<std::string> sub;
      Reader qr(*q, sub);
      std::string method, fmt_name, algo;
      qr.optional_string("quant_method", method);
      qr.optional_string("fmt", fmt_name);
      qr.optional_string("scale_fmt", c.scale_fmt);
      qr.optional_string("moe_quant_algo", algo);
      if (!method.empty() && method != "fp8") sub.push_back(fmt::format("quant_method '{}' is not supported (expected 'fp8')", method));
      if (!fmt_name.empty() && fmt_name != "e4m3") sub.push_back(fmt::format("fmt '{}' is not supported (expected 'e4m3')", fmt_name));
      if (!c.scale_fmt.empty() && c.scale_fmt != "ue8m0")
        sub.push_back(fmt::format("scale_fmt '{}' is not supported (expected 'ue8m0')", c.scale_fmt));
      if (auto bs = q->find("weight_block_size"); bs != q->end()) {
        if (!bs->is_array() || bs->size() != 2 || !(*bs)[0].is_number_integer() || (*bs)[0] != (*bs)[1] || (*bs)[0] != 128)
          sub.push_back(fmt::format("weight_block_size {} is not supported (expected [128, 128])", describe_json(*bs)));
      }
      if (!algo.empty()) {
        if (algo == "NVFP4") nvfp4 = true;
        else sub.push_back(fmt::format("moe_quant_algo '{}' is not supported (expected 'NVFP4')", algo));
      }
      for (auto& s : sub) problems.push_back("quantization_config: " + s);
    }
  }
  std::string expert_dtype;
  r.optional_string("expert_dtype", expert_dtype);
  c.expert_format_declared = nvfp4 || !expert_dtype.empty();
  if (!expert_dtype.empty() && expert_dtype != "fp4" && expert_dtype != "fp8" && expert_dtype != "bf16") {
    problems.push_back(fmt::format("expert_dtype '{}' is not supported (expected fp4, fp8 or bf16)", expert_dtype));
  } else if (nvfp4) {
    c.expert_format = ExpertFormat::NVFP4;
  } else if (expert_dtype.empty() || expert_dtype == "fp4") {
    c.expert_format = ExpertFormat::MXFP4;
  } else if (expert_dtype == "fp8") {
    c.expert_format = ExpertFormat::FP8;
  } else {
    c.expert_format = ExpertFormat::BF16;
  }

  // compress_ratios: num_hidden_layers + num_nextn_predict_layers entries of 0, 4 or 128.
  if (auto cr = j.find("compress_ratios"); cr == j.end()) {
    problems.push_back("missing required key 'compress_ratios'");
  } else if (!cr->is_array()) {
    problems.push_back(fmt::format("'compress_ratios' must be a list, got {}", describe_json(*cr)));
  } else {
    for (size_t i = 0; i < cr->size(); ++i) {
      const json& v = (*cr)[i];
      if (!v.is_number_integer() || (v.get<int64_t>() != 0 && v.get<int64_t>() != 4 && v.get<int64_t>() != 128)) {
        problems.push_back(fmt::format("compress_ratios[{}] = {}: only ratios 0, 4 and 128 exist", i, describe_json(v)));
        c.compress_ratios.push_back(0);
      } else {
        c.compress_ratios.push_back(int(v.get<int64_t>()));
      }
    }
    const size_t want = size_t(c.num_layers) + 1;
    if (c.compress_ratios.size() != want)
      problems.push_back(fmt::format(
          "compress_ratios has {} entries; it must have num_hidden_layers + 1 = {} (the last one is the MTP layer)",
          c.compress_ratios.size(), want));
  }

  // Structural constraints of the architecture and of the checkpoint format.
  if (c.head_dim > 0 && c.rope_head_dim > 0) {
    if (c.rope_head_dim >= c.head_dim)
      problems.push_back(fmt::format("qk_rope_head_dim {} must be smaller than head_dim {}", c.rope_head_dim, c.head_dim));
    else if ((c.head_dim - c.rope_head_dim) % 64 != 0)
      problems.push_back(fmt::format("head_dim - qk_rope_head_dim = {} must be divisible by 64 (FP8 KV blocks)",
                                     c.head_dim - c.rope_head_dim));
    if (c.rope_head_dim % 2 != 0) problems.push_back(fmt::format("qk_rope_head_dim {} must be even", c.rope_head_dim));
  }
  if (c.o_groups > 0 && c.num_heads % c.o_groups != 0)
    problems.push_back(fmt::format("num_attention_heads {} must be divisible by o_groups {}", c.num_heads, c.o_groups));
  if (c.index_head_dim > 0 && ((c.index_head_dim & (c.index_head_dim - 1)) != 0 || c.index_head_dim % 32 != 0))
    problems.push_back(fmt::format("index_head_dim {} must be a power of two divisible by 32 (Hadamard, FP4 blocks)",
                                   c.index_head_dim));
  if (c.index_head_dim > 0 && c.rope_head_dim > c.index_head_dim)
    problems.push_back(fmt::format("qk_rope_head_dim {} exceeds index_head_dim {}", c.rope_head_dim, c.index_head_dim));
  if (c.num_experts_per_tok > c.n_routed_experts)
    problems.push_back(fmt::format("num_experts_per_tok {} exceeds n_routed_experts {}", c.num_experts_per_tok,
                                   c.n_routed_experts));
  if (c.num_hash_layers > c.num_layers)
    problems.push_back(fmt::format("num_hash_layers {} exceeds num_hidden_layers {}", c.num_hash_layers, c.num_layers));
  if (c.n_shared_experts != 1 && c.n_shared_experts != 0)
    problems.push_back(fmt::format("n_shared_experts {} is not supported (expected 1)", c.n_shared_experts));
  if (c.expert_format == ExpertFormat::MXFP4 && c.hidden_size % 32 != 0)
    problems.push_back(fmt::format("hidden_size {} must be divisible by 32 for FP4 experts", c.hidden_size));
  if (c.expert_format == ExpertFormat::MXFP4 && c.moe_intermediate_size % 32 != 0)
    problems.push_back(fmt::format("moe_intermediate_size {} must be divisible by 32 for FP4 experts", c.moe_intermediate_size));
  if (c.expert_format == ExpertFormat::NVFP4 && (c.hidden_size % 16 != 0 || c.moe_intermediate_size % 16 != 0))
    problems.push_back("hidden_size and moe_intermediate_size must be divisible by 16 for NVFP4 experts");

  if (!problems.empty()) {
    std::string msg = fmt::format("{}: invalid DeepSeek-V4 config ({} problem{}):", label, problems.size(),
                                  problems.size() == 1 ? "" : "s");
    for (const auto& p : problems) msg += "\n  - " + p;
    throw Error(msg);
  }

  // Derived per-layer schedule.
  const int n_blocks = c.num_layers + c.num_mtp_layers;
  for (int i = 0; i < n_blocks; ++i) {
    LayerSpec s;
    s.index = i;
    s.is_mtp = i >= c.num_layers;
    s.compress_ratio = c.compress_ratios[size_t(std::min(i, int(c.compress_ratios.size()) - 1))];
    s.attention = s.compress_ratio == 0   ? AttentionKind::SlidingWindow
                  : s.compress_ratio == 4 ? AttentionKind::CompressedSparse
                                          : AttentionKind::HeavilyCompressed;
    s.hash_routed = !s.is_mtp && i < c.num_hash_layers;
    if (s.compress_ratio == 0) {
      s.rope.base = c.rope_theta;
      s.rope.yarn = false;
    } else {
      s.rope = c.yarn;
      s.rope.base = c.compress_rope_theta;
    }
    c.layers.push_back(s);
  }
  return c;
}

ModelConfig ModelConfig::from_file(const std::string& path) {
  const std::string text = read_file(path, "config");
  std::vector<std::string> duplicates;
  json j = parse_json_checked(text.data(), text.data() + text.size(), &duplicates);
  if (j.is_discarded()) fail("{}: not valid JSON", path);
  if (!duplicates.empty()) fail("{}: key '{}' appears more than once in one object", path, duplicates.front());
  return from_json(j, path);
}

json ModelConfig::to_json() const {
  json j;
  j["architectures"] = {"DeepseekV4ForCausalLM"};
  j["model_type"] = "deepseek_v4";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["head_dim"] = head_dim;
  j["qk_rope_head_dim"] = rope_head_dim;
  j["q_lora_rank"] = q_lora_rank;
  j["o_groups"] = o_groups;
  j["o_lora_rank"] = o_lora_rank;
  j["sliding_window"] = sliding_window;
  j["compress_ratios"] = compress_ratios;
  j["index_n_heads"] = index_n_heads;
  j["index_head_dim"] = index_head_dim;
  j["index_topk"] = index_topk;
  j["n_routed_experts"] = n_routed_experts;
  j["n_shared_experts"] = n_shared_experts;
  j["num_experts_per_tok"] = num_experts_per_tok;
  j["moe_intermediate_size"] = moe_intermediate_size;
  j["num_hash_layers"] = num_hash_layers;
  j["scoring_func"] = scoring_func;
  j["topk_method"] = topk_method;
  j["norm_topk_prob"] = norm_topk_prob;
  j["routed_scaling_factor"] = routed_scaling_factor;
  j["swiglu_limit"] = swiglu_limit;
  j["hidden_act"] = hidden_act.empty() ? "silu" : hidden_act;
  j["hc_mult"] = hc_mult;
  j["hc_sinkhorn_iters"] = hc_sinkhorn_iters;
  j["hc_eps"] = hc_eps;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["compress_rope_theta"] = compress_rope_theta;
  if (yarn.yarn)
    j["rope_scaling"] = {{"type", "yarn"}, {"factor", yarn.factor},
                         {"original_max_position_embeddings", yarn.original_max_positions},
                         {"beta_fast", yarn.beta_fast}, {"beta_slow", yarn.beta_slow}};
  j["max_position_embeddings"] = max_position_embeddings;
  j["num_nextn_predict_layers"] = num_mtp_layers;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  j["torch_dtype"] = torch_dtype.empty() ? "bfloat16" : torch_dtype;
  json q = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
            {"scale_fmt", "ue8m0"}, {"weight_block_size", {128, 128}}};
  switch (expert_format) {
    case ExpertFormat::MXFP4: j["expert_dtype"] = "fp4"; break;
    case ExpertFormat::FP8: j["expert_dtype"] = "fp8"; break;
    case ExpertFormat::BF16: j["expert_dtype"] = "bf16"; break;
    case ExpertFormat::NVFP4:
      q["quant_algo"] = "MIXED_PRECISION";
      q["moe_quant_algo"] = "NVFP4";
      q["group_size"] = 16;
      q["ignore"] = {"*.attn.*", "*.ffn.shared_experts.*", "head", "mtp.*"};
      break;
  }
  j["quantization_config"] = q;
  return j;
}

}  // namespace dsv4
