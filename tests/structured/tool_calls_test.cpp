// The forced-tool-call constraint (tool_calls.h) on the real DeepSeek-V4 vocabulary with the
// ｜DSML｜ marker: random walks through its masks over random functions and schemas never
// meet an empty mask before the end and always decode into DSML that the completion parser
// turns into calls of the offered functions (the named one; one call when not parallel) whose
// arguments validate; the encoder's own renderings are accepted; the raw-text fast path equals
// feeding every token; the marker can only be spelled by its added token; the reasoning comes
// first, unconstrained, in thinking mode.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "core/error.h"
#include "runtime/structured/after_reasoning.h"
#include "runtime/structured/matcher.h"
#include "runtime/structured/token_mask.h"
#include "runtime/structured/tool_calls.h"
#include "structured/json_testing.h"
#include "support/test_support.h"
#include "tokenizer/chat_encoding.h"
#include "tokenizer/completion_parser.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::structured {
namespace {

using OJson = nlohmann::ordered_json;

struct DsmlVocab {
  std::unique_ptr<tokenizer::Tokenizer> tok;
  std::shared_ptr<const TokenTrie> trie;
  int32_t eos = -1, dsml = -1, think_close = -1;
  static const DsmlVocab& get() {
    static DsmlVocab v;
    if (!v.tok) ADD_FAILURE() << "The DeepSeek-V4 tokenizer.json is missing: run scripts/setup_python.sh";
    return v;
  }

 private:
  DsmlVocab() {
    const std::string file = test::source_dir() + "/.cache/tokenizer/deepseek-v4/tokenizer.json";
    if (!std::filesystem::exists(file)) return;
    tok = std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::load(file));
    trie = TokenTrie::from_tokenizer(*tok, {kDsmlMarker});
    eos = int32_t(*tok->token_id(chat::kEos));
    dsml = int32_t(*tok->token_id(kDsmlMarker));
    think_close = int32_t(*tok->token_id(chat::kThinkClose));
  }
};

size_t popcount(const std::vector<uint64_t>& bits) {
  size_t n = 0;
  for (uint64_t w : bits) n += size_t(__builtin_popcountll(w));
  return n;
}

const char* const kKeys[] = {"id", "a", "ab", "city", "ü", "列表", "tab\there", "sl/ash", "x<y", "q'", "unit"};
const char* const kFunctions[] = {"get_weather", "f", "f2", "do-it", "名前", "search.web"};

// A random function: parameters with random property schemas (json_testing's subset) sharing
// the $defs of the parameters object, some required.
structured::ToolSchema random_tool(std::mt19937_64& rng, const std::string& name) {
  OJson params = {{"type", "object"}};
  const OJson defs = test::random_schema(rng)["$defs"];
  OJson props = OJson::object(), required = OJson::array();
  const int count = std::uniform_int_distribution<int>(0, 4)(rng);
  for (int i = 0; i < count; ++i) {
    const std::string key = kKeys[std::uniform_int_distribution<size_t>(0, std::size(kKeys) - 1)(rng)];
    if (props.contains(key)) continue;
    OJson s = test::random_schema(rng);
    s.erase("$defs");
    if (s.empty() && std::bernoulli_distribution(0.5)(rng)) s = {{"type", "string"}};
    props[key] = s;
    if (std::bernoulli_distribution(0.5)(rng)) required.push_back(key);
  }
  params["properties"] = props;
  params["required"] = required;
  params["$defs"] = defs;
  return {name, params};
}

std::vector<ToolSchema> random_tools(std::mt19937_64& rng) {
  std::vector<ToolSchema> tools;
  const size_t n = std::uniform_int_distribution<size_t>(1, 3)(rng);
  for (size_t i = 0; i < n; ++i) tools.push_back(random_tool(rng, kFunctions[(i + rng()) % std::size(kFunctions)]));
  for (size_t i = 1; i < tools.size(); ++i) tools[i].name += std::to_string(i);  // distinct names
  return tools;
}

TEST(ToolCalls, RandomWalksDecodeIntoValidCalls) {
  const DsmlVocab& v = DsmlVocab::get();
  if (!v.tok) return;
  const uint64_t seed = test::fresh_seed("tool call walks");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> structural(v.trie->vocab_size(), 0);  // neither plain JSON-string nor plain raw text
  for (uint32_t id = 0; id < v.trie->vocab_size(); ++id) {
    const std::string_view b = v.trie->bytes(int32_t(id));
    structural[id] = !b.empty() && plain_code_points(b, PlainKind::JsonString) < 0 && plain_code_points(b, PlainKind::RawText) < 0;
  }
  int finished = 0, walks = 0, calls_seen = 0;
  for (int round = 0; round < 48; ++round) {
    std::vector<ToolSchema> tools = random_tools(rng);
    const int mode = round % 3;  // 0: required, parallel; 1: required, one call; 2: named
    if (mode == 2) tools = {tools[std::uniform_int_distribution<size_t>(0, tools.size() - 1)(rng)]};
    std::string described;
    for (const ToolSchema& t : tools) described += t.name + ": " + t.parameters.dump() + "\n";
    SCOPED_TRACE(described);
    const auto factory = tool_call_constraint(tools, mode == 0, v.trie);
    auto c = factory->start({v.eos});
    std::vector<uint32_t> ids;
    bool ended = false;
    for (int step = 0; step < 1500 && !ended; ++step) {
      const std::vector<uint64_t>& bits = c->allowed();
      std::vector<int32_t> all, pool;
      for (uint32_t id = 0; id < bits.size() * 64; ++id)
        if (token_allowed(bits, int32_t(id))) {
          all.push_back(int32_t(id));
          if (int32_t(id) == v.eos || (id < structural.size() && structural[id])) pool.push_back(int32_t(id));
        }
      ASSERT_FALSE(all.empty()) << "dead end after: " << v.tok->decode(ids);
      if (token_allowed(bits, v.eos)) {
        ASSERT_EQ(all, std::vector<int32_t>{v.eos}) << "EOS allowed beside other tokens";
      }
      const auto& from = !pool.empty() && std::bernoulli_distribution(0.6)(rng) ? pool : all;
      const int32_t id = from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
      ASSERT_TRUE(c->accept(id));
      if (id == v.eos)
        ended = true;
      else
        ids.push_back(uint32_t(id));
    }
    ++walks;
    if (!ended) continue;
    ++finished;
    const std::string text = v.tok->decode(ids);
    SCOPED_TRACE(text);
    const chat::CompletionDelta d = chat::parse_completion(text + chat::kEos, chat::ThinkingMode::kChat);
    EXPECT_TRUE(d.warnings.empty()) << d.warnings.front();
    EXPECT_EQ(d.content, "");
    ASSERT_FALSE(d.tool_calls.empty());
    if (mode != 0) {
      EXPECT_EQ(d.tool_calls.size(), 1u);
    }
    for (const chat::ToolCall& call : d.tool_calls) {
      ++calls_seen;
      const ToolSchema* tool = nullptr;
      for (const ToolSchema& t : tools)
        if (t.name == call.name) tool = &t;
      ASSERT_NE(tool, nullptr) << "unknown function " << call.name;
      const nlohmann::json args = nlohmann::json::parse(call.arguments, nullptr, false);
      ASSERT_FALSE(args.is_discarded()) << call.arguments;
      EXPECT_TRUE(test::schema_valid(args, tool->parameters)) << call.arguments;
    }
    // The marker came as its added token every time.
    for (uint32_t id : ids) EXPECT_FALSE(v.tok->decode({id}).find(kDsmlMarker) != std::string::npos && int32_t(id) != v.dsml);
  }
  std::printf("%d of %d walks reached EOS (%d calls); every one parsed into valid calls\n", finished, walks, calls_seen);
  // Most walks end within the step cap (about 3 in 4 over many seeds; 32 of 48 was seen): a third is
  // a bound a correct constraint misses with negligible probability, and it keeps the check from
  // being vacuous.
  EXPECT_GE(finished, walks / 3);
}

TEST(ToolCalls, TheEncodersRenderingsAreAccepted) {
  const std::vector<ToolSchema> tools = {
      {"get_weather", OJson::parse(R"({"type": "object", "properties": {"location": {"type": "string"},
          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer"},
          "detail": {"type": ["object", "null"], "properties": {"hourly": {"type": "boolean"}}}},
          "required": ["location"]})")},
      {"now", OJson()},
      {"search", OJson::parse(R"({"type": "object", "properties": {"q": {"type": "string", "minLength": 1},
          "tags": {"type": "array", "items": {"type": "string"}}, "any": {}}})")}};
  ToolCallFormat format;
  const auto g = compile_tool_calls(tools, format);
  const auto one = compile_tool_calls(tools, ToolCallFormat{kDsmlMarker, false});
  auto call = [](const char* name, const char* args) {
    return OJson{{"type", "function"}, {"function", {{"name", name}, {"arguments", args}}}};
  };
  const std::vector<std::pair<OJson, bool>> cases = {  // calls, accepted (named functions and valid arguments)
      {OJson::array({call("get_weather", R"({"location": "Beijing", "unit": "celsius"})")}), true},
      {OJson::array({call("get_weather", R"({"location": "a <b> c\n\"q\" \\", "days": 3, "detail": {"hourly": true}})")}), true},
      {OJson::array({call("get_weather", R"({"location": "", "detail": null})")}), true},
      {OJson::array({call("now", "{}"), call("search", R"({"q": "x", "tags": ["a", "b"], "any": "text"})")}), true},
      {OJson::array({call("search", R"({"any": {"k": [1, 2.5, null]}})")}), true},
      {OJson::array({call("search", "{}"), call("search", R"({"q": "y"})")}), true},
      {OJson::array({call("get_weather", R"({"unit": "celsius"})")}), false},                  // required missing
      {OJson::array({call("get_weather", R"({"location": "x", "unit": "kelvin"})")}), false},  // not in the enum
      {OJson::array({call("get_weather", R"({"location": "x", "days": "3"})")}), false},       // a string, not an integer
      {OJson::array({call("get_weather", R"({"unit": "celsius", "location": "x"})")}), false}, // declaration order
      {OJson::array({call("search", R"({"q": ""})")}), false},                                  // minLength 1
      {OJson::array({call("other", "{}")}), false},
      {OJson::array({call("search", R"({"q": "a｜b"})")}), false},                              // the marker character
  };
  for (const auto& [calls, accepted] : cases) {
    const std::string text = chat::render_tool_calls(calls);
    SCOPED_TRACE(text);
    EXPECT_EQ(matches(*g, text), accepted);
    EXPECT_EQ(matches(*one, text), accepted && calls.size() == 1);
  }
  // The parser reads back exactly what the encoder wrote.
  const std::string text = chat::render_tool_calls(cases[1].first);
  const chat::CompletionDelta d = chat::parse_completion(text + chat::kEos, chat::ThinkingMode::kChat);
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(d.tool_calls[0].arguments),
            nlohmann::json::parse(R"({"location": "a <b> c\n\"q\" \\", "days": 3, "detail": {"hourly": true}})"));
}

TEST(ToolCalls, RawTextMasksMatchFeedingEveryToken) {
  const DsmlVocab& v = DsmlVocab::get();
  if (!v.tok) return;
  const std::vector<ToolSchema> tools = {
      {"f", OJson::parse(R"({"properties": {"s": {"type": "string", "maxLength": 6}, "t": {"type": ["string", "integer"]},
          "e": {"enum": ["<x>", "ab", 3]}}, "required": ["s", "t"]})")}};
  ToolCallFormat format;
  format.marker = *v.trie->marker(kDsmlMarker);
  const auto g = compile_tool_calls(tools, format);
  const Matcher m(*g);
  const std::string M = format.marker;
  const std::string head = "\n\n<" + M + "tool_calls>\n<" + M + "invoke name=\"f\">\n<" + M + "parameter name=\"s\" string=\"";
  const std::string t_head = "true\">ab</" + M + "parameter>\n<" + M + "parameter name=\"t\" string=\"";
  TokenMasker masker;
  int fast = 0;
  for (const std::string& prefix :
       {head, head + "true\">", head + "true\">a <", head + "true\">a </", head + "true\">abcdef", head + "true\">a\xe4\xb8",
        head + t_head, head + t_head + "true\">x\n", head + t_head + "false\">1", head + t_head + "true\">x</" + M + "parameter>\n",
        head + t_head + "true\">x</" + M + "parameter>\n<" + M + "parameter name=\"e\" string=\"true\">"}) {
    SCOPED_TRACE(prefix);
    MatchState s = m.start();
    ASSERT_TRUE(m.feed(s, prefix));
    std::vector<uint64_t> expected((v.trie->vocab_size() + 63) / 64, 0);
    for (uint32_t id = 0; id < v.trie->vocab_size(); ++id) {
      const std::string_view b = v.trie->bytes(int32_t(id));
      MatchState copy = s;
      if (!b.empty() && m.feed(copy, b)) expected[id / 64] |= uint64_t(1) << (id % 64);
    }
    std::vector<uint64_t> walked, full;
    masker.compute(m, *v.trie, s, walked);
    fast += masker.stats().plain_fast_path;
    masker.compute(m, *v.trie, s, full, false);
    ASSERT_EQ(walked, expected) << popcount(walked) << " vs " << popcount(expected);
    ASSERT_EQ(full, expected);
    EXPECT_GT(popcount(expected), 0u);
  }
  EXPECT_GE(fast, 3);
  EXPECT_GT(v.trie->plain_count(PlainKind::RawText), 100000u);
}

TEST(ToolCalls, TheMarkerIsOnlyItsAddedToken) {
  const DsmlVocab& v = DsmlVocab::get();
  if (!v.tok) return;
  ASSERT_TRUE(v.tok->is_added(uint32_t(v.dsml)));
  EXPECT_EQ(std::string(v.trie->bytes(v.dsml)), marker_bytes(0));
  EXPECT_FALSE(v.trie->marker("<｜User｜>"));
  const auto factory = tool_call_constraint({{"f", OJson()}}, true, v.trie);
  auto c = factory->start({v.eos});
  for (char ch : std::string("\n\n<")) {  // the block's first bytes as single-byte tokens
    const std::optional<uint32_t> id = v.tok->token_id(std::string(1, ch) == "\n" ? "Ċ" : std::string(1, ch));
    ASSERT_TRUE(id);
    ASSERT_TRUE(c->accept(int32_t(*id)));
  }
  const std::vector<uint64_t> bits = c->allowed();
  EXPECT_EQ(popcount(bits), 1u);
  EXPECT_TRUE(token_allowed(bits, v.dsml));
  // Without the marker in the vocabulary (JSON formats) the added token stays out.
  EXPECT_TRUE(TokenTrie::from_tokenizer(*v.tok)->bytes(v.dsml).empty());
}

TEST(ToolCalls, ReasoningComesFirstUnconstrained) {
  const DsmlVocab& v = DsmlVocab::get();
  if (!v.tok) return;
  const AfterReasoningFactory f(tool_call_constraint({{"f", OJson()}}, false, v.trie), v.think_close, v.tok->id_bound());
  auto c = f.start({v.eos});
  const std::vector<uint64_t> free = c->allowed();
  EXPECT_EQ(popcount(free), size_t(v.tok->id_bound()) - 1);
  EXPECT_FALSE(token_allowed(free, v.eos));
  EXPECT_FALSE(c->accept(v.eos));
  for (uint32_t id : v.tok->encode("Let me think. <｜DSML｜tool_calls> is text here")) ASSERT_TRUE(c->accept(int32_t(id)));
  EXPECT_FALSE(c->complete());
  ASSERT_TRUE(c->accept(v.think_close));
  auto copy = c->clone();
  const std::string call = chat::render_tool_calls(OJson::array({{{"function", {{"name", "f"}, {"arguments", "{}"}}}}}));
  for (uint32_t id : v.tok->encode(call)) ASSERT_TRUE(c->accept(int32_t(id))) << id;
  EXPECT_TRUE(c->complete());
  EXPECT_TRUE(c->accept(v.eos));
  EXPECT_FALSE(copy->complete());  // clones are independent
  EXPECT_FALSE(copy->accept(v.eos));
}

TEST(ToolCalls, SchemasThatCannotBeWrittenAreRefused) {
  auto refused = [](std::vector<ToolSchema> tools, const std::string& what) {
    try {
      compile_tool_calls(tools, {});
      ADD_FAILURE() << "accepted: " << what;
    } catch (const dsv4::Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  refused({}, "at least one tool");
  refused({{"a\"b", OJson()}}, "function name");
  refused({{"f", OJson::parse(R"({"type": "string"})")}}, "type object");
  refused({{"f", OJson::parse(R"({"properties": {"x\"y": {}}})")}}, "parameter name");
  refused({{"ok", OJson()}, {"f", OJson::parse(R"({"properties": {"x": {"type": "string", "pattern": "a+"}}})")}},
          "tools[1] 'f'");
  refused({{"f", OJson::parse(R"({"properties": {"x": {}}, "oneOf": []})")}}, "oneOf");
  refused({{"f", OJson::parse(R"({"properties": {}, "required": ["y"]})")}}, "required");
  // An object schema behind a top-level $ref, and additionalProperties, are fine.
  EXPECT_NO_THROW(compile_tool_calls({{"f", OJson::parse(R"({"$ref": "#/$defs/a", "$defs": {"a": {"type": "object",
      "properties": {"n": {"type": "integer"}}, "additionalProperties": false}}})")}}, {}));
}

}  // namespace
}  // namespace dsv4::structured
