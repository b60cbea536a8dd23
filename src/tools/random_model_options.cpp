#include "tools/random_model_options.h"

#include <chrono>
#include <cstdio>

#include "core/error.h"

namespace dsv4::tools {

void add_random_weights_options(CLI::App* cmd, ModelSource& src) {
  cmd->add_option("--random-weights", src.random_shape,
                  "No checkpoint: random weights of this shape (tiny, flash, pro) generated in the device's memory")
      ->check(CLI::IsMember({"tiny", "flash", "pro"}));
  cmd->add_option("--layers", src.random.layers, "With --random-weights: decoder layers (default: the shape's)");
  cmd->add_option("--experts", src.random.experts,
                  "With --random-weights: routed experts per layer (e.g. 64 = one GPU's share of Flash's 256)");
  cmd->add_option("--weights-seed", src.random.seed, "With --random-weights: seed of the weights (default 0)");
}

std::unique_ptr<Transformer> load_model(const ModelSource& src, Ops& ops) {
  const auto t0 = std::chrono::steady_clock::now();
  if (src.random_shape.empty()) {
    if (src.dir.empty()) fail("give MODEL_DIR or --random-weights SHAPE");
    auto m = std::make_unique<Transformer>(src.dir, &ops);
    if (!ops.host_memory())  // after the upload progress line
      std::fprintf(stderr, "\n[load] %s on %s in %.1f s\n", src.dir.c_str(), ops.name(),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    return m;
  }
  if (!src.dir.empty()) fail("give MODEL_DIR or --random-weights, not both");
  RandomWeightsOptions o = src.random;
  o.shape = src.random_shape;
  RandomModel r = make_random_model(o, ops);
  const uint64_t dev = r.device_bytes, host = r.host_bytes;
  auto m = std::make_unique<Transformer>(std::move(r.config), std::move(r.checkpoint), &ops);
  std::fprintf(stderr, "[load] random %s weights (%d layers, %lld experts, seed %llu): %.2f GiB generated in place on %s, "
               "%.1f MiB small tensors from the host, %.1f s\n",
               o.shape.c_str(), m->config().num_layers, static_cast<long long>(m->config().n_routed_experts),
               static_cast<unsigned long long>(o.seed), double(dev) / double(1ull << 30), ops.name(),
               double(host) / double(1 << 20), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return m;
}

}  // namespace dsv4::tools
