// dsv4 generate MODEL_DIR --ids ... | --ids-file F [--max-tokens N] [sampling flags] [--stop TEXT]
//   [--numerics exact|official] [--speculative mtp --draft-tokens k] [--json]
// Generates from token ids on the CPU reference backend through the decode cache: streams the
// token ids as they are produced, then prints prompt / decode tokens per second and the MTP
// acceptance rate; --json prints one object instead.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/transformer.h"
#include "runtime/engine.h"
#include "tokenizer/tokenizer.h"
#include "tools/commands.h"
#include "tools/token_ids.h"

namespace dsv4::tools {

namespace {

struct GenerateArgs {
  std::string dir, ids, ids_file, numerics = "exact", speculative, stop_ids;
  std::vector<std::string> stop;
  SamplingParams params;
  int64_t seed = -1;
  int draft_tokens = 2;
  int64_t cache_mib = 1024;
  bool json = false;
};

void run_generate(GenerateArgs& a) {
  std::vector<int64_t> ids = a.ids_file.empty() ? parse_token_ids(a.ids, "--ids") : read_token_ids_file(a.ids_file);
  if (ids.empty()) fail("generate: no prompt token ids");
  const auto numerics = parse_numerics(a.numerics);
  if (!numerics) fail("--numerics must be exact or official, not '{}'", a.numerics);
  if (!a.speculative.empty() && a.speculative != "mtp") fail("--speculative: only 'mtp' is supported, not '{}'", a.speculative);
  if (a.speculative.empty() ? false : (a.draft_tokens < 1 || a.draft_tokens > 4))
    fail("--draft-tokens must be in [1, 4], got {}", a.draft_tokens);
  if (a.cache_mib <= 0) fail("--cache-mib must be positive, got {}", a.cache_mib);
  for (int64_t id : parse_token_ids(a.stop_ids, "--stop-ids")) a.params.stop_token_ids.push_back(int32_t(id));
  if (a.seed >= 0) a.params.seed = uint64_t(a.seed);
  a.params.stop_strings = a.stop;
  a.params.validate();

  const Transformer model(a.dir);
  EngineOptions o;
  std::shared_ptr<const tokenizer::Tokenizer> tok;
  if (!a.stop.empty()) {  // stop strings match the detokenized output (MODEL_DIR/tokenizer.json)
    tok = std::make_shared<const tokenizer::Tokenizer>(tokenizer::Tokenizer::load(a.dir));
    o.detokenize = [tok](std::span<const int32_t> out) {
      return tok->decode(std::vector<uint32_t>(out.begin(), out.end()));
    };
  }
  o.numerics = *numerics;
  o.max_sequences = 1;
  o.cache_bytes = uint64_t(a.cache_mib) << 20;
  o.draft_tokens = a.speculative.empty() ? 0 : a.draft_tokens;
  Engine engine(model, o);
  GenerationRequest req;
  for (int64_t id : ids) {
    if (id > INT32_MAX) fail("--ids: token id {} is too large", id);
    req.prompt.push_back(int32_t(id));
  }
  req.params = a.params;
  const bool stream = !a.json;
  engine.submit(req, [&](uint64_t, const SampledToken& t) {
    if (!stream) return;
    if (a.params.logprobs >= 0)
      std::printf("%d(%.4f) ", t.id, double(t.logprob));
    else
      std::printf("%d ", t.id);
    std::fflush(stdout);
  });
  if (stream) std::printf("prompt: %zu tokens; generating (CPU reference backend, %s numerics%s)\n", ids.size(),
                          numerics_name(*numerics), o.draft_tokens ? ", MTP speculative decoding" : "");
  const std::vector<GenerationResult> results = engine.run();
  const GenerationResult& r = results.at(0);
  const double rate = r.drafted > 0 ? double(r.accepted) / double(r.drafted) : 0.0;
  if (a.json) {
    nlohmann::json j;
    j["ids"] = r.ids;
    j["finish_reason"] = finish_reason_name(r.finish);
    j["prompt_tokens"] = r.prompt_tokens;
    j["prompt_tokens_per_s"] = r.prompt_tokens_per_s;
    j["decode_tokens_per_s"] = r.decode_tokens_per_s;
    j["acceptance_rate"] = o.draft_tokens ? nlohmann::json(rate) : nlohmann::json(nullptr);
    j["drafted"] = r.drafted;
    if (!r.stop.empty()) j["stop"] = r.stop;
    j["accepted"] = r.accepted;
    if (a.params.logprobs >= 0) {
      nlohmann::json lp = nlohmann::json::array();
      for (const SampledToken& t : r.tokens) {
        nlohmann::json e{{"id", t.id}, {"logprob", t.logprob}, {"top", nlohmann::json::array()}};
        for (const TokenLogprob& alt : t.top) e["top"].push_back({{"id", alt.id}, {"logprob", alt.logprob}});
        lp.push_back(e);
      }
      j["logprobs"] = lp;
    }
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("\nfinish: %s after %zu tokens\n", finish_reason_name(r.finish), r.ids.size());
  std::printf("prompt: %lld tokens in %.3f s (%.1f tokens/s)\n", static_cast<long long>(r.prompt_tokens),
              r.prompt_seconds, r.prompt_tokens_per_s);
  std::printf("decode: %zu tokens in %.3f s (%.1f tokens/s)\n", r.ids.size() > 0 ? r.ids.size() - 1 : 0,
              r.decode_seconds, r.decode_tokens_per_s);
  if (o.draft_tokens)
    std::printf("speculative (MTP, k=%d): %lld drafted, %lld accepted, acceptance rate %.3f\n", o.draft_tokens,
                static_cast<long long>(r.drafted), static_cast<long long>(r.accepted), rate);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate tokens from token ids (CPU reference backend, decode cache)");
  auto a = std::make_shared<GenerateArgs>();
  a->params.max_tokens = 32;
  cmd->add_option("MODEL_DIR", a->dir, "Checkpoint directory (config.json + safetensors)")->required();
  auto* ids = cmd->add_option("--ids", a->ids, "Prompt token ids, e.g. 0,15,27");
  auto* file = cmd->add_option("--ids-file", a->ids_file, "File of prompt token ids (commas, spaces or newlines)");
  ids->excludes(file);
  cmd->add_option("--max-tokens", a->params.max_tokens, "Tokens to generate at most (default 32)");
  cmd->add_option("--min-tokens", a->params.min_tokens, "Stop tokens and EOS are ignored before this many");
  cmd->add_option("--temperature", a->params.temperature, "Sampling temperature; 0 = greedy (default 1)");
  cmd->add_option("--top-k", a->params.top_k, "Keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", a->params.top_p, "Nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", a->params.min_p, "Drop tokens below min_p times the top probability (0 = off)");
  cmd->add_option("--repetition-penalty", a->params.repetition_penalty, "> 1 discourages seen tokens (1 = off)");
  cmd->add_option("--presence-penalty", a->params.presence_penalty, "Subtracted once from generated tokens");
  cmd->add_option("--frequency-penalty", a->params.frequency_penalty, "Subtracted per occurrence in the output");
  cmd->add_option("--seed", a->seed, "Random seed (same seed, same tokens)");
  cmd->add_flag("--ignore-eos", a->params.ignore_eos, "Do not stop at the model's EOS token");
  cmd->add_option("--stop-ids", a->stop_ids, "Token ids that end generation, e.g. 5,9");
  cmd->add_option("--stop", a->stop, "A text that ends generation (repeatable; needs MODEL_DIR/tokenizer.json)");
  cmd->add_option("--logprobs", a->params.logprobs, "Report the chosen token's logprob and N alternatives");
  cmd->add_option("--numerics", a->numerics, "exact (fp32 on dequantized weights) or official (reference quantization points)");
  cmd->add_option("--speculative", a->speculative, "Speculative decoding with the model's MTP block: 'mtp'");
  cmd->add_option("--draft-tokens", a->draft_tokens, "Drafts per step with --speculative (1..4, default 2)");
  cmd->add_option("--cache-mib", a->cache_mib, "Cache budget in MiB (default 1024)");
  cmd->add_flag("--json", a->json, "Print one JSON object {ids, prompt_tokens_per_s, decode_tokens_per_s, acceptance_rate, ...}");
  cmd->callback([a] {
    if (a->ids.empty() && a->ids_file.empty()) fail("generate: give --ids or --ids-file");
    with_context("generate with " + a->dir, [&] { run_generate(*a); });
  });
}

}  // namespace dsv4::tools
