// The sampling and engine flags shared by `dsv4 generate` and `dsv4 chat`, and how they turn
// into SamplingParams and EngineOptions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::tools {

struct GenerationArgs {
  SamplingParams params;
  int64_t seed = -1;
  std::string stop_ids;
  std::vector<std::string> stop;
  std::string numerics = "exact";
  std::string speculative;
  int draft_tokens = 2;
  int64_t cache_mib = 1024;
  std::string device = "cpu";
  bool enforce_eager = false;
  std::string json_schema;  // --json-schema FILE
  bool json_object = false; // --json-object
};

// Adds --max-tokens, --min-tokens, --temperature, --top-k, --top-p, --min-p, the penalties,
// --seed, --ignore-eos, --stop-ids, --stop, --logprobs, --numerics, --speculative,
// --draft-tokens, --cache-mib, --device and --enforce-eager.
void add_generation_options(CLI::App* cmd, GenerationArgs& args);

// Adds --json-schema FILE and --json-object (structured output; `dsv4 generate`).
void add_response_format_options(CLI::App* cmd, GenerationArgs& args);

// With --json-schema / --json-object: sets params.constraint over the vocabulary of `tokenizer`
// (loaded from MODEL_DIR when null) and revalidates. Returns whether a constraint was set.
bool attach_response_format(const GenerationArgs& args, const std::string& model_dir,
                            std::shared_ptr<const tokenizer::Tokenizer> tokenizer, SamplingParams& params);

// Validated sampling parameters (stop ids, seed and stop strings folded in). Throws dsv4::Error.
SamplingParams sampling_params(const GenerationArgs& args);

// Engine options for one interactive/CLI request stream. Loads the tokenizer for stop strings
// when `tokenizer` is null and stop strings are set.
EngineOptions engine_options(const GenerationArgs& args, const std::string& model_dir,
                             std::shared_ptr<const tokenizer::Tokenizer> tokenizer);

}  // namespace dsv4::tools
