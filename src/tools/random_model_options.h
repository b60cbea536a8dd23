// --random-weights SHAPE [--layers N] [--experts E] [--seed S] for the commands that can run a
// model without a checkpoint (bench, generate), and the model they name.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "model/random_weights.h"
#include "model/transformer.h"

namespace dsv4::tools {

struct ModelSource {
  std::string dir;            // a checkpoint directory, or empty with random weights
  std::string random_shape;   // tiny | flash | pro
  RandomWeightsOptions random;
};

// Adds --random-weights, --layers, --experts, --seed-weights.
void add_random_weights_options(CLI::App* cmd, ModelSource& src);

// The model on `ops`; prints what it generated (random weights) or uploaded (a device) to stderr.
std::unique_ptr<Transformer> load_model(const ModelSource& src, Ops& ops);

}  // namespace dsv4::tools
