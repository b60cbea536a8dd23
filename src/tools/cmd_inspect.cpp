// dsv4 inspect MODEL_DIR: config summary, layer schedule, tensors and bytes per dtype, parameter
// counts, and memory estimates. Binds every weight, so it also validates the checkpoint.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/safetensors.h"
#include "model/config.h"
#include "model/model_stats.h"
#include "model/weights.h"
#include "tools/commands.h"
#include "tools/format.h"

namespace dsv4::tools {

namespace {

std::string rope_desc(const RopeSpec& r) {
  if (!r.yarn) return fmt::format("theta {:g}", r.base);
  return fmt::format("theta {:g} yarn x{:g}", r.base, r.factor);
}

std::string layer_name(const ModelConfig& c, const LayerSpec& l) {
  return l.is_mtp ? fmt::format("mtp.{}", l.index - c.num_layers) : fmt::format("{}", l.index);
}

void run_inspect(const std::string& dir, bool as_json) {
  const ModelConfig c = ModelConfig::from_file((std::filesystem::path(dir) / "config.json").string());
  const Checkpoint ckpt(dir);
  const ModelWeights weights = bind_weights(ckpt, c);  // validates names, dtypes and shapes
  const std::vector<TensorSpec> specs = tensor_specs(ckpt);
  const ParameterCounts params = count_parameters(c, specs);
  const DTypeBytes bytes = bytes_by_dtype(specs);
  const CacheEstimate cache = estimate_cache(c);

  if (as_json) {
    nlohmann::json j;
    j["model_dir"] = dir;
    j["config"] = c.to_json();
    j["expert_format"] = expert_format_name(weights.expert_format);
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerSpec& l : c.layers)
      layers.push_back({{"layer", layer_name(c, l)}, {"attention", attention_kind_name(l.attention)},
                        {"compress_ratio", l.compress_ratio}, {"rope_theta", l.rope.base}, {"yarn", l.rope.yarn},
                        {"moe", l.hash_routed ? "hash" : "routed"}});
    j["layers"] = layers;
    j["tensors"] = {{"count", specs.size()}, {"shards", ckpt.shard_count()}, {"bytes", bytes.total},
                    {"bytes_by_dtype", bytes.bytes}, {"count_by_dtype", bytes.tensors}};
    j["parameters"] = {{"total", params.total}, {"active", params.active}, {"routed", params.routed},
                       {"mtp", params.mtp}, {"mtp_active", params.mtp_active}};
    j["cache"] = {{"per_1k_tokens_bf16", cache.per_1k_tokens_bf16}, {"per_1k_tokens_fp8", cache.per_1k_tokens_fp8},
                  {"fixed_per_sequence_bf16", cache.fixed_bf16}, {"fixed_per_sequence_fp8", cache.fixed_fp8}};
    fmt::print("{}\n", j.dump(2));
    return;
  }

  fmt::print("model     {}\n", dir);
  fmt::print("config    deepseek_v4: hidden {}, {} layers + {} MTP, {} heads x {} (rope {}), q_lora {}, "
             "o_groups {} x {}, window {}, vocab {}\n",
             c.hidden_size, c.num_layers, c.num_mtp_layers, c.num_heads, c.head_dim, c.rope_head_dim, c.q_lora_rank,
             c.o_groups, c.o_lora_rank, c.sliding_window, c.vocab_size);
  fmt::print("          indexer {} heads x {}, top-k {}; MoE {} routed (top-{}) + {} shared, intermediate {}, "
             "{} hash layers, {} x{:g}, swiglu limit {:g}\n",
             c.index_n_heads, c.index_head_dim, c.index_topk, c.n_routed_experts, c.num_experts_per_tok,
             c.n_shared_experts, c.moe_intermediate_size, c.num_hash_layers, c.scoring_func, c.routed_scaling_factor,
             c.swiglu_limit);
  fmt::print("          mHC {} streams, {} Sinkhorn iterations; RoPE {} (window layers), {} (compressed layers)\n",
             c.hc_mult, c.hc_sinkhorn_iters, rope_desc(c.layers.front().rope.yarn ? c.layers.front().rope : RopeSpec{c.rope_theta}),
             rope_desc([&] {
               RopeSpec r = c.yarn;
               r.base = c.compress_rope_theta;
               return r;
             }()));
  fmt::print("          weights FP8 e4m3 128x128 UE8M0; routed experts {}\n\n", expert_format_name(weights.expert_format));

  fmt::print("layer schedule\n  {:<7} {:<9} {:>5}  {:<22} {}\n", "layer", "attention", "ratio", "rope", "moe");
  int n_kind[3] = {0, 0, 0};
  for (const LayerSpec& l : c.layers) {
    fmt::print("  {:<7} {:<9} {:>5}  {:<22} {}\n", layer_name(c, l), attention_kind_name(l.attention), l.compress_ratio,
               rope_desc(l.rope), l.hash_routed ? "hash (tid2eid)" : "routed (sqrt-softplus)");
    if (!l.is_mtp) ++n_kind[int(l.attention)];
  }
  fmt::print("  totals: {} sliding, {} csa, {} hca\n\n", n_kind[0], n_kind[1], n_kind[2]);

  fmt::print("tensors   {} in {} shard(s), {}\n", specs.size(), ckpt.shard_count(), human_bytes(bytes.total));
  for (const auto& [name, b] : bytes.bytes)
    fmt::print("  {:<8} {:>6} tensors  {:>12}\n", name, bytes.tensors.at(name), human_bytes(b));
  fmt::print("\nparameters  total {} ({}), active {} per token (routed experts {}/{}); MTP {} (active {})\n",
             human_count(params.total), params.total, human_count(params.active), c.num_experts_per_tok,
             c.n_routed_experts, human_count(params.mtp), human_count(params.mtp_active));
  fmt::print("memory      weights {} as stored (mmapped, dequantized per tile)\n", human_bytes(bytes.total));
  fmt::print("            cache per sequence: {} per 1K tokens + {} fixed (reference bf16 layout); "
             "{} per 1K tokens + {} fixed (FP8/FP4 layout)\n",
             human_bytes(cache.per_1k_tokens_bf16), human_bytes(cache.fixed_bf16), human_bytes(cache.per_1k_tokens_fp8),
             human_bytes(cache.fixed_fp8));
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Summarize and validate a checkpoint directory");
  auto dir = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  cmd->add_option("MODEL_DIR", *dir, "Checkpoint directory (config.json + safetensors)")->required();
  cmd->add_flag("--json", *as_json, "Print one JSON object instead of text");
  cmd->callback([dir, as_json] { with_context("inspecting " + *dir, [&] { run_inspect(*dir, *as_json); }); });
}

}  // namespace dsv4::tools
