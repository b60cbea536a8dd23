// dsv4 logits MODEL_DIR --ids 1,2,3 | --ids-file F [--numerics exact|official] [--device D] [--out FILE]
// One prefill of the token ids through the batched, paged forward pass (one segment at position
// 0) on the chosen backend: writes the all-position logits as F32 [S, vocab] (tensor "logits")
// and prints the top-5 next tokens with their logits.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/safetensors.h"
#include "cache/paged_kv_cache.h"
#include "model/transformer.h"
#include "tools/backend.h"
#include "tools/commands.h"
#include "tools/token_ids.h"

namespace dsv4::tools {

namespace {

struct LogitsArgs {
  std::string dir, ids, ids_file, numerics = "exact", out, device = "cpu";
};

void run_logits(const LogitsArgs& a) {
  const std::vector<int64_t> ids = a.ids_file.empty() ? parse_token_ids(a.ids, "--ids") : read_token_ids_file(a.ids_file);
  if (ids.empty()) fail("{}: no token ids", a.ids_file.empty() ? "--ids" : a.ids_file);
  const auto numerics = parse_numerics(a.numerics);
  if (!numerics) fail("--numerics must be exact or official, not '{}'", a.numerics);

  const auto t0 = std::chrono::steady_clock::now();
  const Backend backend = make_backend(a.device);
  const Transformer model(a.dir, backend.ops);
  const CacheFormat format = backend.ops->host_memory() || *numerics == Numerics::Exact ? CacheFormat::Reference
                                                                                          : CacheFormat::Fp8;
  const CacheLayout layout = CacheLayout::from_config(model.config(), format);
  Cache cache(model.config(), *backend.ops, cache_bytes_for(layout, int64_t(ids.size()), 1), 1, format);
  cache.manager.admit(1, int64_t(ids.size()));
  const auto t1 = std::chrono::steady_clock::now();
  ForwardOptions opts;
  opts.numerics = *numerics;
  opts.streams = false;
  const BatchResult r = model.forward({Segment{1, 0, ids, true}}, cache.storage, opts);
  const auto t2 = std::chrono::steady_clock::now();
  const int64_t V = model.config().vocab_size, S = int64_t(ids.size());

  if (!a.out.empty()) {
    SafetensorsWriter w(a.out, {{"logits", DType::F32, {S, V}}},
                        {{"numerics", numerics_name(*numerics)}, {"model", a.dir}});
    w.write(r.logits.data(), r.logits.size() * sizeof(float));
    w.finish();
  }

  const float* last = r.logits.data() + (S - 1) * V;
  std::vector<int64_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  const int64_t k = std::min<int64_t>(5, V);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t x, int64_t y) { return last[x] > last[y] || (last[x] == last[y] && x < y); });
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double fwd_s = std::chrono::duration<double>(t2 - t1).count();
  fmt::print("prefill of {} tokens ({} backend, {} numerics): load {:.3f} s, forward {:.3f} s ({:.1f} tokens/s)\n", S,
             backend.ops->name(), numerics_name(*numerics), load_s, fwd_s, double(S) / std::max(fwd_s, 1e-9));
  fmt::print("top-5 next tokens after position {}:\n", S - 1);
  for (int64_t i = 0; i < k; ++i) fmt::print("  {:>8}  {:+.6f}\n", order[size_t(i)], double(last[order[size_t(i)]]));
  if (!a.out.empty()) fmt::print("wrote logits F32 [{}, {}] to {}\n", S, V, a.out);
}

}  // namespace

void add_logits_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "Prefill token ids through the cached forward pass; write all-position logits");
  auto a = std::make_shared<LogitsArgs>();
  cmd->add_option("MODEL_DIR", a->dir, "Checkpoint directory (config.json + safetensors)")->required();
  auto* ids = cmd->add_option("--ids", a->ids, "Token ids, e.g. 0,15,27");
  auto* file = cmd->add_option("--ids-file", a->ids_file, "File of token ids (commas, spaces or newlines)");
  ids->excludes(file);
  cmd->add_option("--numerics", a->numerics, "exact (fp32 on dequantized weights) or official (reference quantization points)")
      ->check(CLI::IsMember({"exact", "official"}));
  add_device_option(cmd, a->device);
  cmd->add_option("--out", a->out, "Write the logits F32 [S, vocab] as tensor 'logits' to this safetensors file");
  cmd->callback([a] {
    if (a->ids.empty() && a->ids_file.empty()) fail("logits: give --ids or --ids-file");
    with_context("logits of " + a->dir, [&] { run_logits(*a); });
  });
}

}  // namespace dsv4::tools
