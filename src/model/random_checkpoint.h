// Writes a complete checkpoint in the official format (config.json, model.safetensors.index.json,
// shards) with seeded random weights at the config's shapes, quantized exactly as the real
// checkpoints are: FP8 e4m3 with UE8M0 128x128 block scales, MXFP4 experts with UE8M0 1x32
// scales (or NVFP4 / FP8 / BF16 experts). Values are well conditioned: linear weights
// ~N(0, 1/fan_in) before quantization, norms near 1, the distributions of the golden models.
//
// Streams tensor by tensor and block by block, so a Flash-shaped checkpoint (~160 GB) needs
// little memory. Random values come from per-(tensor, row block) seeded generators, so the
// output is identical whatever the thread count.
#pragma once

#include <cstdint>
#include <string>

#include "model/config.h"

namespace dsv4 {

struct RandomCheckpointOptions {
  uint64_t seed = 0;
  uint64_t max_shard_bytes = 4ull << 30;  // shards are cut between tensors once this is reached
  int threads = 0;                        // 0 = hardware concurrency
  bool progress = false;                  // print a line per shard
};

// The distribution of tensor `name` (fan_in = its row length): the golden models' ones, also
// used by --random-weights (model/random_weights.h).
struct RandomInit {
  bool tid2eid = false;  // rows of k distinct expert ids
  float mean = 0.0f, stddev = 1.0f;
};
RandomInit random_init(const std::string& name, const ModelConfig& config, int64_t fan_in);

// Writes config.json, the index and the shards into `out_dir` (created if needed).
// Returns the total tensor bytes written.
uint64_t write_random_checkpoint(const ModelConfig& config, const std::string& out_dir,
                                 const RandomCheckpointOptions& options);

}  // namespace dsv4
