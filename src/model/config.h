// ModelConfig: a DeepSeek-V4 config.json (model_type "deepseek_v4"), parsed and validated once,
// plus the derived per-layer schedule (spec §2).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace dsv4 {

// Attention kind of a layer, from its compression ratio (spec §2.3).
enum class AttentionKind : uint8_t {
  SlidingWindow,      // ratio 0: window only ("SWA")
  CompressedSparse,   // ratio 4: overlapping compressor + lightning indexer top-k ("CSA")
  HeavilyCompressed,  // ratio 128: every compressed entry ("HCA")
};
const char* attention_kind_name(AttentionKind kind);  // "sliding", "csa", "hca"

// Storage format of the routed experts in the checkpoint.
enum class ExpertFormat : uint8_t {
  MXFP4,  // official: packed e2m1 (I8 [out, in/2]) + e8m0 scale per 1x32 ([out, in/32])
  NVFP4,  // NVIDIA ModelOpt: packed e2m1 (U8) + e4m3 scale per 1x16 + f32 global scales
  FP8,    // e4m3 + e8m0 128x128 blocks (the "Base" checkpoints / convert.py --expert-dtype fp8)
  BF16,   // plain bf16
};
const char* expert_format_name(ExpertFormat f);  // "mxfp4", "nvfp4", "fp8", "bf16"
std::optional<ExpertFormat> parse_expert_format(const std::string& name);

// RoPE parameters of one layer (spec §2.4). YaRN is applied only on compressed layers.
struct RopeSpec {
  double base = 10000.0;
  bool yarn = false;
  double factor = 1.0;                   // YaRN scale factor (16)
  int64_t original_max_positions = 0;    // 65536
  double beta_fast = 32.0;
  double beta_slow = 1.0;
};

// One block of the schedule: the L decoder layers, then the MTP block(s) (is_mtp).
struct LayerSpec {
  int index = 0;            // 0..L-1 for decoder layers, L + i for MTP block i
  bool is_mtp = false;
  int compress_ratio = 0;   // 0, 4 or 128
  AttentionKind attention = AttentionKind::SlidingWindow;
  bool hash_routed = false; // MoE routed through tid2eid (layers < num_hash_layers; never MTP)
  RopeSpec rope;
  bool has_compressor() const { return compress_ratio != 0; }
  bool has_indexer() const { return attention == AttentionKind::CompressedSparse; }
};

struct ModelConfig {
  // Sizes (HF config.json key in comments where it differs).
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;            // d
  int num_layers = 0;                 // num_hidden_layers
  int num_heads = 0;                  // num_attention_heads (H)
  int num_kv_heads = 1;               // num_key_value_heads (must be 1: shared K=V)
  int head_dim = 0;                   // 512
  int rope_head_dim = 0;              // qk_rope_head_dim (64)
  int64_t q_lora_rank = 0;
  int o_groups = 0;
  int64_t o_lora_rank = 0;
  int sliding_window = 0;             // W
  std::vector<int> compress_ratios;   // num_layers + num_mtp_layers entries
  int index_n_heads = 0;
  int index_head_dim = 0;
  int index_topk = 0;
  int n_routed_experts = 0;
  int n_shared_experts = 0;
  int num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  int num_hash_layers = 0;
  std::string scoring_func;           // "sqrtsoftplus"
  std::string topk_method;            // "noaux_tc"
  bool norm_topk_prob = true;
  double routed_scaling_factor = 1.0;
  double swiglu_limit = 0.0;
  std::string hidden_act;             // "silu"
  int hc_mult = 0;
  int hc_sinkhorn_iters = 0;
  double hc_eps = 1e-6;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  double compress_rope_theta = 160000.0;
  RopeSpec yarn;                      // rope_scaling (type yarn)
  int64_t max_position_embeddings = 0;
  int num_mtp_layers = 0;             // num_nextn_predict_layers
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 1;
  std::string torch_dtype;
  // Quantization of the non-expert linear weights: FP8 e4m3 with 128x128 UE8M0 block scales.
  int weight_block_size = 128;
  std::string scale_fmt;              // "ue8m0"
  // Routed-expert format declared by the config (expert_dtype / moe_quant_algo); the weight binder
  // confirms it against the checkpoint's tensors.
  ExpertFormat expert_format = ExpertFormat::MXFP4;
  bool expert_format_declared = false;

  std::vector<LayerSpec> layers;      // num_layers decoder layers followed by num_mtp_layers MTP blocks

  // Parses and validates; `label` (usually the file path) prefixes every error. Reports every
  // problem found at once.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& label);
  static ModelConfig from_file(const std::string& path);
  // Writes the HF-style config.json keys back (used by make-model).
  nlohmann::json to_json() const;

  int nope_head_dim() const { return head_dim - rope_head_dim; }  // 448
  int64_t q_dim() const { return int64_t(num_heads) * head_dim; }
  int heads_per_group() const { return num_heads / o_groups; }
  const LayerSpec& mtp_layer(int i = 0) const { return layers.at(size_t(num_layers + i)); }
};

}  // namespace dsv4
