#include "tools/generation_options.h"

#include "core/error.h"
#include "core/file_io.h"
#include "model/numerics.h"
#include "tools/backend.h"
#include "runtime/structured/response_format.h"
#include "tools/token_ids.h"

namespace dsv4::tools {

void add_generation_options(CLI::App* cmd, GenerationArgs& a) {
  cmd->add_option("--max-tokens", a.params.max_tokens, "Tokens to generate at most");
  cmd->add_option("--min-tokens", a.params.min_tokens, "Stop tokens and EOS are ignored before this many");
  cmd->add_option("--temperature", a.params.temperature, "Sampling temperature; 0 = greedy (default 1)");
  cmd->add_option("--top-k", a.params.top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", a.params.top_p, "Nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", a.params.min_p, "Drop tokens below min_p times the top probability (0 = off)");
  cmd->add_option("--repetition-penalty", a.params.repetition_penalty, "> 1 discourages seen tokens (1 = off)");
  cmd->add_option("--presence-penalty", a.params.presence_penalty, "Subtracted once from generated tokens");
  cmd->add_option("--frequency-penalty", a.params.frequency_penalty, "Subtracted per occurrence in the output");
  cmd->add_option("--seed", a.seed, "Random seed (same seed, same tokens)");
  cmd->add_flag("--ignore-eos", a.params.ignore_eos, "Do not stop at the model's EOS token");
  cmd->add_option("--stop-ids", a.stop_ids, "Token ids that end generation, e.g. 5,9");
  cmd->add_option("--stop", a.stop, "A text that ends generation (repeatable; needs MODEL_DIR/tokenizer.json)");
  cmd->add_option("--logprobs", a.params.logprobs, "Report the chosen token's logprob and N alternatives");
  cmd->add_option("--numerics", a.numerics, "exact (fp32 on dequantized weights) or official (reference quantization points)");
  cmd->add_option("--speculative", a.speculative, "Speculative decoding with the model's MTP block: 'mtp'");
  cmd->add_option("--draft-tokens", a.draft_tokens, "Drafts per step with --speculative (1..4, default 2)");
  cmd->add_option("--cache-mib", a.cache_mib, "Cache budget in MiB (default 1024)");
  add_device_option(cmd, a.device);
  cmd->add_flag("--enforce-eager", a.enforce_eager, "Launch every op eagerly (no CUDA graphs for decode steps)");
}

void add_response_format_options(CLI::App* cmd, GenerationArgs& a) {
  auto* schema = cmd->add_option("--json-schema", a.json_schema,
                                 "Output must be JSON valid under this JSON Schema file (a schema, or an OpenAI "
                                 "json_schema object {name, schema, strict}); needs MODEL_DIR/tokenizer.json");
  auto* object = cmd->add_flag("--json-object", a.json_object, "Output must be one JSON object");
  schema->excludes(object);
}

bool attach_response_format(const GenerationArgs& a, const std::string& model_dir,
                            std::shared_ptr<const tokenizer::Tokenizer> tok, SamplingParams& params) {
  if (a.json_schema.empty() && !a.json_object) return false;
  nlohmann::ordered_json format = {{"type", "json_object"}};
  if (!a.json_schema.empty()) {
    nlohmann::ordered_json schema;
    try {
      schema = nlohmann::ordered_json::parse(read_file(a.json_schema, "JSON schema file"));
    } catch (const nlohmann::ordered_json::exception& e) {
      fail("--json-schema: {} is not valid JSON: {}", a.json_schema, e.what());
    }
    if (schema.is_object() && schema.contains("schema")) schema = schema["schema"];  // {name, schema, strict}
    format = {{"type", "json_schema"}, {"json_schema", {{"name", "cli"}, {"schema", std::move(schema)}}}};
  }
  if (!tok) tok = std::make_shared<const tokenizer::Tokenizer>(tokenizer::Tokenizer::load(model_dir));
  const std::string flag = a.json_schema.empty() ? std::string("--json-object") : "--json-schema " + a.json_schema;
  params.constraint = with_context(flag, [&] {
    return structured::response_format_constraint(format, structured::TokenTrie::from_tokenizer(*tok));
  });
  params.validate();
  return true;
}

SamplingParams sampling_params(const GenerationArgs& a) {
  SamplingParams p = a.params;
  for (int64_t id : parse_token_ids(a.stop_ids, "--stop-ids")) {
    if (id > INT32_MAX) fail("--stop-ids: token id {} is too large", id);
    p.stop_token_ids.push_back(int32_t(id));
  }
  if (a.seed >= 0) p.seed = uint64_t(a.seed);
  p.stop_strings = a.stop;
  p.validate();
  return p;
}

EngineOptions engine_options(const GenerationArgs& a, const std::string& model_dir,
                             std::shared_ptr<const tokenizer::Tokenizer> tok) {
  const auto numerics = parse_numerics(a.numerics);
  if (!numerics) fail("--numerics must be exact or official, not '{}'", a.numerics);
  if (!a.speculative.empty() && a.speculative != "mtp")
    fail("--speculative: only 'mtp' is supported, not '{}'", a.speculative);
  if (!a.speculative.empty() && (a.draft_tokens < 1 || a.draft_tokens > 4))
    fail("--draft-tokens must be in [1, 4], got {}", a.draft_tokens);
  if (a.cache_mib <= 0) fail("--cache-mib must be positive, got {}", a.cache_mib);
  EngineOptions o;
  o.numerics = *numerics;
  o.max_sequences = 1;
  o.cache_bytes = uint64_t(a.cache_mib) << 20;
  o.draft_tokens = a.speculative.empty() ? 0 : a.draft_tokens;
  o.cuda_graphs = !a.enforce_eager;
  if (!a.stop.empty()) {  // stop strings match the detokenized output
    if (!tok) tok = std::make_shared<const tokenizer::Tokenizer>(tokenizer::Tokenizer::load(model_dir));
    o.detokenize = [tok](std::span<const int32_t> out) {
      return tok->decode(std::vector<uint32_t>(out.begin(), out.end()));
    };
  }
  return o;
}

}  // namespace dsv4::tools
