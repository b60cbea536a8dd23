// dsv4 make-model: writes a complete checkpoint in the official format with seeded random
// weights at the real shapes (flash, pro) or a tiny one.
#include <chrono>

#include "core/error.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "tools/commands.h"
#include "tools/format.h"

namespace dsv4::tools {

namespace {

struct MakeModelArgs {
  std::string shape = "tiny";
  int layers = 0;
  int experts = 0;
  int64_t vocab = 0;
  uint64_t seed = 0;
  std::string expert_format = "mxfp4";
  std::string out;
  double shard_gb = 4.0;
  int threads = 0;
};

void run_make_model(const MakeModelArgs& a) {
  PresetOverrides o;
  if (a.layers > 0) o.layers = a.layers;
  if (a.experts > 0) o.experts = a.experts;
  if (a.vocab > 0) o.vocab = a.vocab;
  const auto fmt_opt = parse_expert_format(a.expert_format);
  if (!fmt_opt) fail("--expert-format '{}' is not one of mxfp4, nvfp4, fp8, bf16", a.expert_format);
  o.expert_format = *fmt_opt;
  const ModelConfig config = preset_config(a.shape, o);
  RandomCheckpointOptions opts;
  opts.seed = a.seed;
  opts.max_shard_bytes = uint64_t(a.shard_gb * double(1ull << 30));
  if (opts.max_shard_bytes == 0) fail("--shard-gb must be positive");
  opts.threads = a.threads;
  opts.progress = true;
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t bytes = write_random_checkpoint(config, a.out, opts);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("wrote {} checkpoint ({} layers, {} experts {}, seed {}) to {}: {} in {:.1f} s\n", a.shape,
             config.num_layers, config.n_routed_experts, a.expert_format, a.seed, a.out, human_bytes(bytes), s);
}

}  // namespace

void add_make_model_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-model", "Write a checkpoint with seeded random weights (official format)");
  auto a = std::make_shared<MakeModelArgs>();
  cmd->add_option("--shape", a->shape, "tiny | flash | pro")->check(CLI::IsMember({"tiny", "flash", "pro"}));
  cmd->add_option("--layers", a->layers, "Number of decoder layers (default: the shape's)")->check(CLI::Range(1, 4096));
  cmd->add_option("--experts", a->experts, "Routed experts per layer (default: the shape's)")->check(CLI::Range(1, 65536));
  cmd->add_option("--vocab", a->vocab, "Vocabulary size (default: the shape's, 129280)")->check(CLI::Range(2, 1 << 24));
  cmd->add_option("--seed", a->seed, "Random seed");
  cmd->add_option("--expert-format", a->expert_format, "mxfp4 | nvfp4 | fp8 | bf16")
      ->check(CLI::IsMember({"mxfp4", "nvfp4", "fp8", "bf16"}));
  cmd->add_option("--shard-gb", a->shard_gb, "Largest shard size in GiB (default 4)");
  cmd->add_option("--threads", a->threads, "Generator threads (default: all cores)");
  cmd->add_option("--out", a->out, "Output directory")->required();
  cmd->callback([a] { with_context("make-model", [&] { run_make_model(*a); }); });
}

}  // namespace dsv4::tools
