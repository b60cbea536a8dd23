#include "model/presets.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace dsv4 {

namespace {

// The real configs' compress_ratios pattern: two leading layers of `lead`, then 4,128,4,128,...
// starting at layer 2, and 0 for the MTP layer.
std::vector<int> ratio_pattern(int layers, int lead) {
  std::vector<int> r;
  for (int l = 0; l < layers; ++l) r.push_back(l < 2 ? lead : ((l - 2) % 2 == 0 ? 4 : 128));
  r.push_back(0);
  return r;
}

nlohmann::json common_json() {
  return {
      {"model_type", "deepseek_v4"},
      {"num_key_value_heads", 1},
      {"head_dim", 512},
      {"qk_rope_head_dim", 64},
      {"sliding_window", 128},
      {"index_head_dim", 128},
      {"n_shared_experts", 1},
      {"num_experts_per_tok", 6},
      {"num_hash_layers", 3},
      {"scoring_func", "sqrtsoftplus"},
      {"topk_method", "noaux_tc"},
      {"norm_topk_prob", true},
      {"swiglu_limit", 10.0},
      {"hidden_act", "silu"},
      {"hc_mult", 4},
      {"hc_sinkhorn_iters", 20},
      {"hc_eps", 1e-6},
      {"rms_norm_eps", 1e-6},
      {"rope_theta", 10000},
      {"compress_rope_theta", 160000},
      {"rope_scaling",
       {{"type", "yarn"}, {"factor", 16}, {"original_max_position_embeddings", 65536}, {"beta_fast", 32}, {"beta_slow", 1}}},
      {"max_position_embeddings", 1048576},
      {"num_nextn_predict_layers", 1},
      {"tie_word_embeddings", false},
      {"bos_token_id", 0},
      {"eos_token_id", 1},
      {"torch_dtype", "bfloat16"},
      {"vocab_size", 129280},
      {"expert_dtype", "fp4"},
      {"quantization_config",
       {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"}, {"scale_fmt", "ue8m0"},
        {"weight_block_size", {128, 128}}}},
  };
}

}  // namespace

ModelConfig preset_config(const std::string& shape, const PresetOverrides& o) {
  nlohmann::json j = common_json();
  int lead = 0;
  if (shape == "flash") {
    j.update({{"hidden_size", 4096}, {"num_hidden_layers", 43}, {"num_attention_heads", 64}, {"q_lora_rank", 1024},
              {"o_groups", 8}, {"o_lora_rank", 1024}, {"index_n_heads", 64}, {"index_topk", 512},
              {"n_routed_experts", 256}, {"moe_intermediate_size", 2048}, {"routed_scaling_factor", 1.5}});
    lead = 0;
  } else if (shape == "pro") {
    j.update({{"hidden_size", 7168}, {"num_hidden_layers", 61}, {"num_attention_heads", 128}, {"q_lora_rank", 1536},
              {"o_groups", 16}, {"o_lora_rank", 1024}, {"index_n_heads", 64}, {"index_topk", 1024},
              {"n_routed_experts", 384}, {"moe_intermediate_size", 3072}, {"routed_scaling_factor", 2.5}});
    lead = 128;
  } else if (shape == "tiny") {
    // golden-a's shape (every layer kind, both compressors, hash and routed MoE, MTP) with the
    // real vocabulary so the real tokenizer fits it.
    j.update({{"hidden_size", 256}, {"num_hidden_layers", 6}, {"num_attention_heads", 8}, {"q_lora_rank", 128},
              {"o_groups", 2}, {"o_lora_rank", 128}, {"index_n_heads", 16}, {"index_topk", 16},
              {"n_routed_experts", 16}, {"moe_intermediate_size", 256}, {"routed_scaling_factor", 1.5},
              {"num_hash_layers", 2}});
    lead = 0;
  } else {
    fail("unknown model shape '{}' (expected tiny, flash or pro)", shape);
  }
  if (o.layers) j["num_hidden_layers"] = *o.layers;
  if (o.experts) {
    j["n_routed_experts"] = *o.experts;
    j["num_experts_per_tok"] = std::min(6, *o.experts);
  }
  if (o.vocab) j["vocab_size"] = *o.vocab;
  const int layers = j["num_hidden_layers"].get<int>();
  j["num_hash_layers"] = std::min(j["num_hash_layers"].get<int>(), layers);
  j["compress_ratios"] = ratio_pattern(layers, lead);
  if (shape == "tiny" && layers == 6) j["compress_ratios"] = {0, 4, 128, 4, 128, 4, 0};
  if (o.expert_format) {
    switch (*o.expert_format) {
      case ExpertFormat::MXFP4: j["expert_dtype"] = "fp4"; break;
      case ExpertFormat::FP8: j["expert_dtype"] = "fp8"; break;
      case ExpertFormat::BF16: j["expert_dtype"] = "bf16"; break;
      case ExpertFormat::NVFP4:
        j.erase("expert_dtype");
        j["quantization_config"]["quant_algo"] = "MIXED_PRECISION";
        j["quantization_config"]["moe_quant_algo"] = "NVFP4";
        j["quantization_config"]["group_size"] = 16;
        break;
    }
  }
  return ModelConfig::from_json(j, "preset '" + shape + "'");
}

}  // namespace dsv4
