// --random-weights: a model of a preset's shapes (tiny / flash / pro, with fewer layers or experts
// for one GPU's share) whose weights are generated in place in the official formats — the large
// matrices directly in the backend's memory (device memory on a GPU, no checkpoint on disk:
// the GPU machines' disks are smaller than a Flash checkpoint), the small tensors on the host.
// Routed experts are MXFP4; values follow the golden models' distributions (model/random_checkpoint.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "backends/ops.h"
#include "core/safetensors.h"
#include "model/config.h"
#include "model/weights.h"

namespace dsv4 {

struct RandomWeightsOptions {
  std::string shape = "tiny";  // tiny | flash | pro
  int layers = -1;             // -1: the preset's
  int experts = -1;            // -1: the preset's (e.g. 64 for one GPU's share of Flash's 256)
  uint64_t seed = 0;
  // The routed experts generated (a rank's share, model/parallel.h; default all): only the
  // share's experts, and with a slice only their slices (w1/w3 [n, d], w2 [d, n]). The values of
  // a tensor depend only on its name, the seed and the element's place in the whole tensor, so
  // a share holds exactly the whole model's values of its part.
  WeightShare share;
};

struct RandomModel {
  ModelConfig config;
  std::unique_ptr<Checkpoint> checkpoint;  // in memory
  uint64_t device_bytes = 0, host_bytes = 0;
};

// Throws dsv4::Error for an unknown shape.
RandomModel make_random_model(const RandomWeightsOptions& options, Ops& ops);

}  // namespace dsv4
