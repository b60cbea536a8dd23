// Constrained generation through the Engine on the built-in default model (random weights, the
// real vocabulary and tokenizer): sampled at temperatures 1.0-1.5 with fresh seeds, batched,
// with and without MTP speculative decoding, every output ends with EOS and is a valid instance
// (parsed by nlohmann-json, checked by the test's own validator); greedy speculative decoding is
// token-identical to plain decoding under the constraint; a seed gives the same tokens alone or
// batched; constraints refuse ignore_eos and min_tokens.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/error.h"
#include "runtime/engine.h"
#include "runtime/structured/response_format.h"
#include "structured/json_testing.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::structured {
namespace {

using OJson = nlohmann::ordered_json;

const char* const kSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 8},
    "age": {"type": "integer"},
    "score": {"type": ["number", "null"]},
    "kind": {"enum": ["cat", "dog", 1, null]},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 4}, "maxItems": 3},
    "nested": {"type": "object", "properties": {"ok": {"type": "boolean"}, "note": {"type": "string", "maxLength": 5}},
               "required": ["ok"], "additionalProperties": false}
  },
  "required": ["name", "age", "kind", "nested"],
  "additionalProperties": false
})";

struct DefaultModel {
  std::unique_ptr<Transformer> model;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  std::shared_ptr<const TokenTrie> vocab;
  static DefaultModel& get() {
    static DefaultModel d;
    return d;
  }

 private:
  DefaultModel() {
    const std::string dir = test::binary_dir() + "/models/default";
    if (!std::filesystem::exists(dir + "/tokenizer.json")) return;
    model = std::make_unique<Transformer>(dir);
    tok = std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::load(dir));
    vocab = TokenTrie::from_tokenizer(*tok);
  }
};

const DefaultModel& model() {
  const DefaultModel& d = DefaultModel::get();
  if (!d.model) ADD_FAILURE() << "build/models/default/tokenizer.json is missing (run scripts/setup.sh, rebuild)";
  return d;
}

EngineOptions options(int draft = 0) {
  EngineOptions o;
  o.draft_tokens = draft;
  o.max_sequences = 8;
  o.cache_bytes = 256ull << 20;
  return o;
}

// Little whitespace, so the random model's outputs stay short (the bound is checked elsewhere).
GrammarLimits short_limits() {
  GrammarLimits l;
  l.max_whitespace = 2;
  return l;
}

std::vector<int32_t> prompt_of(const DefaultModel& d, const std::string& text) {
  std::vector<int32_t> ids;
  for (uint32_t id : d.tok->encode(text)) ids.push_back(int32_t(id));
  return ids;
}

// The output minus its final EOS, as text; checks that it ended with EOS.
std::string output_text(const DefaultModel& d, const GenerationResult& r) {
  EXPECT_EQ(r.finish, FinishReason::Stop);
  EXPECT_FALSE(r.ids.empty());
  if (r.ids.empty()) return {};
  EXPECT_EQ(r.ids.back(), int32_t(d.model->config().eos_token_id));
  return d.tok->decode(std::vector<uint32_t>(r.ids.begin(), r.ids.end() - 1));
}

void run_sampled(int draft) {
  const DefaultModel& d = model();
  if (!d.model) return;
  const uint64_t seed = test::fresh_seed("constrained sampling");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const OJson schema = OJson::parse(kSchema);
  const auto constraint = json_schema_constraint(schema, d.vocab, short_limits());
  Engine engine(*d.model, options(draft));
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 8; ++i) {
    GenerationRequest r;
    r.prompt = prompt_of(d, "Reply in JSON, please:");
    r.params.temperature = std::uniform_real_distribution<float>(1.0f, 1.5f)(rng);
    r.params.seed = rng();
    r.params.max_tokens = 400;  // above the schema's longest output (in bytes) at this whitespace bound
    if (i % 3 == 1) r.params.top_p = 0.9f;
    if (i % 3 == 2) r.params.presence_penalty = 0.5f;
    r.params.constraint = constraint;
    requests.push_back(std::move(r));
  }
  const auto results = engine.generate(requests);
  ASSERT_EQ(results.size(), requests.size());
  size_t tokens = 0;
  for (const GenerationResult& r : results) {
    const std::string text = output_text(d, r);
    EXPECT_TRUE(test::text_valid(text, schema)) << text;
    tokens += r.ids.size();
  }
  std::printf("8 outputs, %zu tokens, all valid (draft tokens %d)\n", tokens, draft);
}

TEST(ConstrainedGeneration, SampledOutputsAlwaysValidate) { run_sampled(0); }
TEST(ConstrainedGeneration, SampledOutputsAlwaysValidateWithMtpSpeculation) { run_sampled(2); }

TEST(ConstrainedGeneration, JsonObjectOutputsAreObjects) {
  const DefaultModel& d = model();
  if (!d.model) return;
  const uint64_t seed = test::fresh_seed("json_object sampling");
  DSV4_SEED_TRACE(seed);
  GrammarLimits limits = short_limits();
  limits.max_depth = 4;  // keeps the random model's any-value output small
  const auto constraint = json_object_constraint(d.vocab, limits);
  Engine engine(*d.model, options());
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 4; ++i) {
    GenerationRequest r;
    r.prompt = prompt_of(d, "JSON:");
    r.params.temperature = 1.0f + 0.15f * float(i);
    r.params.seed = seed + uint64_t(i);
    r.params.max_tokens = 200;
    r.params.constraint = constraint;
    requests.push_back(std::move(r));
  }
  int finished = 0;
  for (const GenerationResult& r : engine.generate(requests)) {
    if (r.finish == FinishReason::Length) continue;  // an any-value object has no length bound
    ++finished;
    const std::string text = output_text(d, r);
    const auto v = nlohmann::json::parse(text, nullptr, false);
    EXPECT_TRUE(v.is_object()) << text;
  }
  std::printf("%d of 4 json_object outputs finished within max_tokens; all were objects\n", finished);
}

TEST(ConstrainedGeneration, GreedySpeculationIsTokenIdenticalUnderTheConstraint) {
  const DefaultModel& d = model();
  if (!d.model) return;
  const auto constraint = json_schema_constraint(OJson::parse(kSchema), d.vocab, short_limits());
  GenerationRequest r;
  r.prompt = prompt_of(d, "The answer as JSON:");
  r.params.temperature = 0;
  r.params.max_tokens = 80;
  r.params.constraint = constraint;
  Engine plain(*d.model, options(0));
  const auto a = plain.generate({r});
  for (int k : {1, 3}) {
    Engine spec(*d.model, options(k));
    const auto b = spec.generate({r});
    EXPECT_EQ(a[0].ids, b[0].ids) << "draft tokens " << k;
    EXPECT_GT(b[0].drafted, 0);
  }
  if (a[0].finish == FinishReason::Stop) {
    EXPECT_TRUE(test::text_valid(output_text(d, a[0]), OJson::parse(kSchema)));
  }
}

TEST(ConstrainedGeneration, DraftsTheConstraintForbidsAreRejectedExactly) {
  // An external drafter proposing random tokens (nearly all forbidden by the format, some
  // allowed): verification must reject the forbidden ones, keep the output valid, and leave
  // greedy output token-identical to plain decoding.
  const DefaultModel& d = model();
  if (!d.model) return;
  const uint64_t seed = test::fresh_seed("constrained drafter");
  DSV4_SEED_TRACE(seed);
  const OJson schema = OJson::parse(kSchema);
  const auto constraint = json_schema_constraint(schema, d.vocab, short_limits());
  GenerationRequest r;
  r.prompt = prompt_of(d, "JSON:");
  r.params.temperature = 0;
  r.params.max_tokens = 60;
  r.params.constraint = constraint;
  Engine plain(*d.model, options());
  const auto a = plain.generate({r});
  auto rng = std::make_shared<std::mt19937_64>(seed);
  const int32_t V = int32_t(d.model->config().vocab_size);
  const std::vector<int32_t> structural = prompt_of(d, "{\"\": , }");
  EngineOptions o = options(2);
  o.drafter = [rng, V, structural](uint64_t, std::span<const int64_t>, int k) {
    std::vector<int32_t> out;
    for (int i = 0; i < k; ++i)
      out.push_back(std::bernoulli_distribution(0.5)(*rng)
                        ? structural[std::uniform_int_distribution<size_t>(0, structural.size() - 1)(*rng)]
                        : std::uniform_int_distribution<int32_t>(0, V - 1)(*rng));
    return out;
  };
  Engine spec(*d.model, o);
  const auto b = spec.generate({r});
  EXPECT_EQ(a[0].ids, b[0].ids);
  // Sampled: the output still validates.
  GenerationRequest s = r;
  s.params.temperature = 1.2f;
  s.params.seed = seed;
  s.params.max_tokens = 400;
  Engine spec2(*d.model, o);
  const auto c = spec2.generate({s});
  EXPECT_TRUE(test::text_valid(output_text(d, c[0]), schema));
}

TEST(ConstrainedGeneration, ASeedGivesTheSameTokensAloneOrBatched) {
  const DefaultModel& d = model();
  if (!d.model) return;
  const uint64_t seed = test::fresh_seed("constrained reproducibility");
  DSV4_SEED_TRACE(seed);
  const auto constraint = json_schema_constraint(OJson::parse(kSchema), d.vocab, short_limits());
  GenerationRequest r;
  r.prompt = prompt_of(d, "JSON:");
  r.params.temperature = 1.3f;
  r.params.seed = seed;
  r.params.max_tokens = 60;
  r.params.constraint = constraint;
  GenerationRequest other = r;
  other.params.seed = seed + 1;
  other.prompt = prompt_of(d, "Something else entirely");
  Engine alone(*d.model, options());
  const auto a = alone.generate({r});
  Engine batched(*d.model, options());
  const auto b = batched.generate({other, r, other});
  EXPECT_EQ(a[0].ids, b[1].ids);
}

TEST(ConstrainedGeneration, RefusesIgnoreEosAndMinTokens) {
  const std::vector<std::string> bytes = {"{", "}"};
  const auto constraint = json_object_constraint(TokenTrie::build(bytes));
  SamplingParams p;
  p.constraint = constraint;
  p.validate();
  p.ignore_eos = true;
  EXPECT_THROW(p.validate(), Error);
  p.ignore_eos = false;
  p.min_tokens = 3;
  EXPECT_THROW(p.validate(), Error);
}

TEST(ConstrainedGeneration, SamplerMasksBeforeEverythingAndAdvances) {
  // A toy vocabulary: 0 "{", 1 "}", 2 "x", 3 EOS (no bytes).
  const std::vector<std::string> bytes = {"{", "}", "x", ""};
  SamplingParams p;
  p.temperature = 0;  // greedy would take the largest logit, which the constraint forbids
  p.constraint = json_object_constraint(TokenTrie::build(bytes));
  Sampler s(p, {3});
  const std::vector<float> logits = {0.0f, 1.0f, 5.0f, 9.0f};
  EXPECT_EQ(s.sample(logits, {}).id, 0);
  s.accept(0);
  EXPECT_EQ(s.sample(logits, {}).id, 1);
  EXPECT_THROW(s.accept(2), Error);
  s.accept(1);
  EXPECT_EQ(s.sample(logits, {}).id, 3);
  s.accept(3);
  EXPECT_THROW(s.sample(logits, {}), Error);  // nothing is allowed after the end
}

}  // namespace
}  // namespace dsv4::structured
