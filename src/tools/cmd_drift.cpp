// dsv4 drift (MODEL_DIR | --random-weights SHAPE ...) --ids 1,2,3 [--numerics exact|official] [--device cuda]
// The same tokens through the same forward pass on the CPU reference and on another backend:
// per layer and stage (attn_out, ffn_out, hidden_streams, router scores, expert ids / weights,
// hc_head_out, final_norm_out, logits), the max absolute and relative difference, and the first
// stage whose difference jumps (10x the largest before it, or above 1e-2 relative) — where to
// look when the GPU drifts from the reference.
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "cache/paged_kv_cache.h"
#include "core/error.h"
#include "tools/backend.h"
#include "tools/commands.h"
#include "tools/random_model_options.h"
#include "tools/token_ids.h"

namespace dsv4::tools {

namespace {

struct DriftArgs {
  ModelSource model;
  std::string ids, numerics = "exact", device = "cuda";
};

struct Run {
  MemoryRecorder stages;
  std::vector<float> logits;
};

Run run_on(const DriftArgs& a, Ops& ops, Numerics numerics, const std::vector<int64_t>& ids) {
  const std::unique_ptr<Transformer> model = load_model(a.model, ops);
  const CacheFormat format = ops.host_memory() || numerics == Numerics::Exact ? CacheFormat::Reference : CacheFormat::Fp8;
  const CacheLayout layout = CacheLayout::from_config(model->config(), format);
  Cache cache(model->config(), ops, cache_bytes_for(layout, int64_t(ids.size()), 1), 1, format);
  cache.manager.admit(1, int64_t(ids.size()));
  Run r;
  ForwardOptions opts;
  opts.numerics = numerics;
  opts.recorder = &r.stages;
  opts.streams = false;
  r.logits = model->forward({Segment{1, 0, ids, true}}, cache.storage, opts).logits;
  return r;
}

void run_drift(const DriftArgs& a) {
  const std::vector<int64_t> ids = parse_token_ids(a.ids, "--ids");
  if (ids.empty()) fail("--ids: no token ids");
  const auto numerics = parse_numerics(a.numerics);
  if (!numerics) fail("--numerics must be exact or official, not '{}'", a.numerics);
  Backend other = make_backend(a.device);
  const Run ref = run_on(a, cpu_ops(), *numerics, ids);
  const Run got = run_on(a, *other.ops, *numerics, ids);
  std::printf("drift: %zu tokens, %s numerics, cpu (reference) vs %s\n", ids.size(), numerics_name(*numerics),
              other.ops->name());
  std::printf("%-36s %12s %12s %12s\n", "stage", "max |d|", "max |ref|", "rel");
  double worst_before = 0;
  bool flagged = false;
  auto report = [&](const std::string& name, const std::vector<float>& x, const std::vector<float>& y) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      const double d = std::fabs(double(x[i]) - double(y[i]));
      md = std::isnan(d) ? std::numeric_limits<double>::infinity() : std::max(md, d);
      mr = std::max(mr, std::fabs(double(y[i])));
    }
    const double rel = md / std::max(mr, 1e-30);
    const bool jump = !flagged && (rel > 1e-2 || (worst_before > 0 && rel > 10 * worst_before) || std::isinf(md));
    std::printf("%-36s %12.3g %12.3g %12.3g%s\n", name.c_str(), md, mr, rel, jump ? "   <-- first jump" : "");
    if (x.size() != y.size()) std::printf("  (sizes differ: %zu vs %zu)\n", x.size(), y.size());
    flagged |= jump;
    worst_before = std::max(worst_before, rel);
  };
  for (const auto& e : ref.stages.entries()) {
    const auto* g = got.stages.find(e.name);
    if (g == nullptr) {
      std::printf("%-36s missing on %s\n", e.name.c_str(), other.ops->name());
      continue;
    }
    report(e.name, g->values, e.values);
  }
  report("logits", got.logits, ref.logits);
  if (!flagged) std::printf("no stage jumps\n");
}

}  // namespace

void add_drift_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("drift", "Compare the forward pass on a backend with the CPU reference, stage by stage");
  auto a = std::make_shared<DriftArgs>();
  cmd->add_option("MODEL_DIR", a->model.dir, "Checkpoint directory (or --random-weights)");
  add_random_weights_options(cmd, a->model);
  cmd->add_option("--ids", a->ids, "Token ids, e.g. 0,15,27")->required();
  cmd->add_option("--numerics", a->numerics, "exact (default) or official")->check(CLI::IsMember({"exact", "official"}));
  cmd->add_option("--device", a->device, "The backend compared with the CPU (default cuda)");
  cmd->callback([a] { with_context("drift", [&] { run_drift(*a); }); });
}

}  // namespace dsv4::tools
