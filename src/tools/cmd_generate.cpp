// dsv4 generate (MODEL_DIR | --random-weights SHAPE [--tokenizer DIR]) (--ids ... | --ids-file F |
//   --prompt TEXT | --prompt-file F | --messages FILE [--thinking|--chat]) [--max-tokens N]
//   [sampling flags] [--stop TEXT] [--numerics exact|official] [--device cpu|cuda]
//   [--speculative mtp --draft-tokens k] [--json-schema FILE | --json-object] [--json]
// Generates on the chosen backend through the decode cache: streams the tokens as they
// are produced (ids for an id prompt, text for a text prompt), then prints prompt / decode
// tokens per second and the MTP acceptance rate; --json prints one object instead.
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/transformer.h"
#include "runtime/engine.h"
#include "tokenizer/detokenizer.h"
#include "tools/backend.h"
#include "tools/commands.h"
#include "tools/generation_options.h"
#include "tools/prompt_input.h"
#include "tools/random_model_options.h"

namespace dsv4::tools {

namespace {

struct GenerateArgs {
  ModelSource model;
  std::string tokenizer_dir;  // with --random-weights: where tokenizer.json is, for text
  PromptArgs prompt;
  GenerationArgs gen;
  bool json = false;
};

void run_generate(const GenerateArgs& a) {
  SamplingParams params = sampling_params(a.gen);
  const std::string tok_dir = a.model.random_shape.empty() ? a.model.dir : a.tokenizer_dir;
  const Prompt prompt = read_prompt(a.prompt, tok_dir);
  const bool constrained = attach_response_format(a.gen, tok_dir, prompt.tokenizer, params);
  const Backend backend = make_backend(a.gen.device);
  const std::unique_ptr<Transformer> model_ptr = load_model(a.model, *backend.ops);
  const Transformer& model = *model_ptr;
  const EngineOptions o = engine_options(a.gen, tok_dir, prompt.tokenizer);
  Engine engine(model, o);
  GenerationRequest req{prompt.ids, params};

  const bool stream = !a.json;
  std::unique_ptr<tokenizer::StreamDetokenizer> detok;
  // Structured output: the text is the JSON value alone (the EOS that ends it is not printed).
  if (prompt.is_text) detok = std::make_unique<tokenizer::StreamDetokenizer>(*prompt.tokenizer, constrained);
  std::string text;
  engine.submit(req, [&](uint64_t, const SampledToken& t) {
    if (detok) {
      const std::string piece = detok->push(uint32_t(t.id));
      text += piece;
      if (stream) std::fwrite(piece.data(), 1, piece.size(), stdout);
    } else if (stream) {
      if (params.logprobs >= 0)
        std::printf("%d(%.4f) ", t.id, double(t.logprob));
      else
        std::printf("%d ", t.id);
    }
    if (stream) std::fflush(stdout);
  });
  if (stream)
    std::fprintf(stderr, "prompt: %zu tokens; generating (%s backend, %s numerics%s)\n", prompt.ids.size(), backend.ops->name(),
                 numerics_name(o.numerics), o.draft_tokens ? ", MTP speculative decoding" : "");
  const std::vector<GenerationResult> results = engine.run();
  const GenerationResult& r = results.at(0);
  if (detok) {
    const std::string rest = detok->finish();
    text += rest;
    if (stream) std::fwrite(rest.data(), 1, rest.size(), stdout);
  }
  const double rate = r.drafted > 0 ? double(r.accepted) / double(r.drafted) : 0.0;
  if (a.json) {
    nlohmann::json j;
    j["ids"] = r.ids;
    if (prompt.is_text) j["text"] = text;
    j["finish_reason"] = finish_reason_name(r.finish);
    j["prompt_tokens"] = r.prompt_tokens;
    j["prompt_tokens_per_s"] = r.prompt_tokens_per_s;
    j["decode_tokens_per_s"] = r.decode_tokens_per_s;
    j["acceptance_rate"] = o.draft_tokens ? nlohmann::json(rate) : nlohmann::json(nullptr);
    j["drafted"] = r.drafted;
    j["accepted"] = r.accepted;
    if (!r.stop.empty()) j["stop"] = r.stop;
    if (params.logprobs >= 0) {
      nlohmann::json lp = nlohmann::json::array();
      for (const SampledToken& t : r.tokens) {
        nlohmann::json e{{"id", t.id}, {"logprob", t.logprob}, {"top", nlohmann::json::array()}};
        for (const TokenLogprob& alt : t.top) e["top"].push_back({{"id", alt.id}, {"logprob", alt.logprob}});
        lp.push_back(e);
      }
      j["logprobs"] = lp;
    }
    // Invalid UTF-8 never reaches here (the detokenizer replaces it), so dump cannot throw.
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("\n");
  std::fflush(stdout);  // the stream ends before the statistics (stderr) start
  std::fprintf(stderr, "finish: %s after %zu tokens\n", finish_reason_name(r.finish), r.ids.size());
  std::fprintf(stderr, "prompt: %lld tokens in %.3f s (%.1f tokens/s)\n", static_cast<long long>(r.prompt_tokens),
               r.prompt_seconds, r.prompt_tokens_per_s);
  std::fprintf(stderr, "decode: %zu tokens in %.3f s (%.1f tokens/s)\n", r.ids.size() > 0 ? r.ids.size() - 1 : 0,
               r.decode_seconds, r.decode_tokens_per_s);
  if (o.draft_tokens)
    std::fprintf(stderr, "speculative (MTP, k=%d): %lld drafted, %lld accepted, acceptance rate %.3f\n", o.draft_tokens,
                 static_cast<long long>(r.drafted), static_cast<long long>(r.accepted), rate);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate from token ids or text through the decode cache (CPU or GPU)");
  auto a = std::make_shared<GenerateArgs>();
  a->gen.params.max_tokens = 32;
  cmd->add_option("MODEL_DIR", a->model.dir, "Checkpoint directory (config.json + safetensors), or --random-weights");
  add_random_weights_options(cmd, a->model);
  cmd->add_option("--tokenizer", a->tokenizer_dir, "With --random-weights: directory of tokenizer.json (text prompts)");
  add_prompt_options(cmd, a->prompt);
  add_generation_options(cmd, a->gen);
  add_response_format_options(cmd, a->gen);
  cmd->add_flag("--json", a->json, "Print one JSON object {ids, text, prompt_tokens_per_s, decode_tokens_per_s, acceptance_rate, ...}");
  cmd->callback([a] {
    with_context("generate with " + (a->model.dir.empty() ? "random " + a->model.random_shape + " weights" : a->model.dir),
                 [&] { run_generate(*a); });
  });
}

}  // namespace dsv4::tools
