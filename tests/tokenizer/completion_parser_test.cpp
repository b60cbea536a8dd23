// The completion parser: the official cases (encoding README), DSML round trips through the
// encoder, streaming in random pieces == whole, and malformed DSML falling back to content.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "support/test_support.h"
#include "tokenizer/completion_parser.h"

namespace {

using dsv4::chat::CompletionDelta;
using dsv4::chat::CompletionParser;
using dsv4::chat::Json;
using dsv4::chat::parse_completion;
using dsv4::chat::ThinkingMode;

const std::string EOS = "<｜end▁of▁sentence｜>";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Feeds text in random pieces (split anywhere, even inside UTF-8 characters).
CompletionDelta parse_streamed(const std::string& text, ThinkingMode mode, std::mt19937_64& rng,
                               std::string* released_content_trace = nullptr) {
  CompletionParser p(mode);
  CompletionDelta all;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t n = std::min(text.size() - pos, size_t(1 + rng() % 7));
    CompletionDelta d = p.feed(std::string_view(text).substr(pos, n));
    if (released_content_trace) *released_content_trace += d.content;
    all.append(std::move(d));
    pos += n;
  }
  all.append(p.finish());
  return all;
}

void expect_same(const CompletionDelta& a, const CompletionDelta& b) {
  EXPECT_EQ(a.reasoning, b.reasoning);
  EXPECT_EQ(a.content, b.content);
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size());
  for (size_t i = 0; i < a.tool_calls.size(); ++i) {
    EXPECT_EQ(a.tool_calls[i].name, b.tool_calls[i].name);
    EXPECT_EQ(a.tool_calls[i].arguments, b.tool_calls[i].arguments);
  }
}

// The first assistant turn of case 1, as the model would generate it after "<think>".
std::string case1_first_turn() {
  const std::string expected = read_all(dsv4::test::shared_dir() + "/encoding/dsv4/case1.expected.txt");
  const std::string start = "<｜Assistant｜><think>";
  const size_t b = expected.find(start) + start.size();
  const size_t e = expected.find(EOS, b) + EOS.size();
  return expected.substr(b, e - b);
}

TEST(CompletionParser, OfficialCase1FirstTurn) {
  const CompletionDelta d = parse_completion(case1_first_turn(), ThinkingMode::kThinking);
  EXPECT_EQ(d.reasoning, "The user wants to know the weather in Beijing. I should use the get_weather tool.");
  EXPECT_EQ(d.content, "");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "get_weather");
  EXPECT_EQ(Json::parse(d.tool_calls[0].arguments), Json::parse(R"({"location": "Beijing", "unit": "celsius"})"));
  EXPECT_TRUE(d.warnings.empty());
}

TEST(CompletionParser, OfficialCase2LastTurn) {
  const std::string text = "The user asks about the capital of France. It is Paris.</think>The capital of France is Paris." + EOS;
  const CompletionDelta d = parse_completion(text, ThinkingMode::kThinking);
  EXPECT_EQ(d.reasoning, "The user asks about the capital of France. It is Paris.");
  EXPECT_EQ(d.content, "The capital of France is Paris.");
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_TRUE(d.warnings.empty());
  const CompletionDelta c = parse_completion("Hello there" + EOS, ThinkingMode::kChat);
  EXPECT_EQ(c.content, "Hello there");
  EXPECT_EQ(c.reasoning, "");
}

TEST(CompletionParser, RoundTripThroughTheEncoder) {
  const uint64_t seed = dsv4::test::fresh_seed("parser round trip");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const std::vector<std::string> values = {"Beijing", "a \"quoted\" <tag> & 中文", "", "line\nbreak", "｜"};
  for (int iter = 0; iter < 200; ++iter) {
    Json calls = Json::array();
    const int ncalls = 1 + int(rng() % 3);
    for (int c = 0; c < ncalls; ++c) {
      Json args = Json::object();
      const int nargs = int(rng() % 4);
      for (int a = 0; a < nargs; ++a) {
        const std::string key = fmt::format("k{}", a);
        switch (rng() % 5) {
          case 0: args[key] = values[rng() % values.size()]; break;
          case 1: args[key] = int64_t(rng() % 100000) - 50000; break;
          case 2: args[key] = Json::array({1, "x", nullptr, true}); break;
          case 3: args[key] = Json{{"nested", Json{{"deep", 1.5}}}}; break;
          default: args[key] = false; break;
        }
      }
      calls.push_back(Json{{"type", "function"},
                           {"function", {{"name", fmt::format("tool_{}", c)}, {"arguments", dsv4::chat::python_json_dumps(args)}}}});
    }
    const std::string content = iter % 3 == 0 ? "" : "Let me check: a\n\nb";
    std::string text = "why</think>";
    text.append(content).append(dsv4::chat::render_tool_calls(calls)).append(EOS);
    const CompletionDelta whole = parse_completion(text, ThinkingMode::kThinking);
    EXPECT_EQ(whole.reasoning, "why");
    EXPECT_EQ(whole.content, content);
    ASSERT_EQ(whole.tool_calls.size(), calls.size());
    for (size_t c = 0; c < calls.size(); ++c) {
      EXPECT_EQ(whole.tool_calls[c].name, calls[c]["function"]["name"]);
      EXPECT_EQ(whole.tool_calls[c].arguments, calls[c]["function"]["arguments"].get<std::string>());
    }
    EXPECT_TRUE(whole.warnings.empty());
    std::string released;
    const CompletionDelta streamed = parse_streamed(text, ThinkingMode::kThinking, rng, &released);
    expect_same(whole, streamed);
    EXPECT_EQ(released.find("<｜DSML｜"), std::string::npos) << "content released part of a tool call";
  }
}

TEST(CompletionParser, MalformedDsmlFallsBackToContent) {
  const std::string head = "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n";
  const std::vector<std::string> bad = {
      head + "<｜DSML｜parameter name=\"a\" string=\"maybe\">1</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
      head + "<｜DSML｜parameter name=\"a\" string=\"false\">{oops</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
      head + "<｜DSML｜parameter name=\"a\" string=\"true\">1</｜DSML｜parameter>\n<｜DSML｜parameter name=\"a\" "
             "string=\"true\">2</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
      head + "garbage</｜DSML｜tool_calls>",
      head + "<｜DSML｜parameter name=\"a\" string=\"true\">truncated",
      "\n\n<｜DSML｜tool_calls x>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
  };
  const uint64_t seed = dsv4::test::fresh_seed("malformed dsml");
  std::mt19937_64 rng(seed);
  for (const std::string& block : bad) {
    for (const std::string& end : {EOS, std::string()}) {
      const std::string text = "answer" + block + end;
      const CompletionDelta d = parse_completion(text, ThinkingMode::kChat);
      EXPECT_TRUE(d.tool_calls.empty()) << block;
      EXPECT_EQ(d.content, "answer" + block) << block;
      EXPECT_FALSE(d.warnings.empty()) << block;
      expect_same(d, parse_streamed(text, ThinkingMode::kChat, rng));
    }
  }
}

TEST(CompletionParser, MissingThinkCloseAndTrailingText) {
  CompletionDelta d = parse_completion("still thinking", ThinkingMode::kThinking);
  EXPECT_EQ(d.reasoning, "still thinking");
  EXPECT_FALSE(d.warnings.empty());
  d = parse_completion("r</think>c" + EOS + "junk", ThinkingMode::kThinking);
  EXPECT_EQ(d.content, "c");
  EXPECT_FALSE(d.warnings.empty());
  // A lone "\n\n<" that never becomes a tool block is released at the end.
  d = parse_completion("a\n\n<b", ThinkingMode::kChat);
  EXPECT_EQ(d.content, "a\n\n<b");
  CompletionParser p(ThinkingMode::kChat);
  EXPECT_EQ(p.feed("x\n\n<｜DS").content, "x");  // the possible block start is held back
  EXPECT_EQ(p.feed("ML").content, "");
  EXPECT_EQ(p.feed("? no").content, "\n\n<｜DSML? no");
}

}  // namespace

#include "tokenizer/chat_stream.h"
#include "tokenizer/tokenizer_test_util.h"

namespace {

TEST(CompletionParser, WithoutToolCallsTheBlockStaysContent) {
  const std::string block = dsv4::chat::render_tool_calls(Json::parse(R"([{"function": {"name": "f", "arguments": "{}"}}])"));
  for (size_t cut : {size_t(1), size_t(7), block.size() / 2}) {  // in pieces, as a stream
    CompletionParser p(ThinkingMode::kChat, /*tool_calls=*/false);
    CompletionDelta d = p.feed("Hi" + block.substr(0, cut));
    d.append(p.feed(block.substr(cut) + EOS));
    d.append(p.finish());
    EXPECT_EQ(d.content, "Hi" + block);
    EXPECT_TRUE(d.tool_calls.empty());
    EXPECT_TRUE(d.warnings.empty());
  }
  EXPECT_EQ(parse_completion("Hi" + block + EOS, ThinkingMode::kChat).tool_calls.size(), 1u);
}

TEST(ChatStream, TokenIdsStreamToTheSameParse) {
  const auto* tok = dsv4::test::real_tokenizer();
  ASSERT_NE(tok, nullptr);
  const std::vector<std::pair<std::string, ThinkingMode>> completions = {
      {case1_first_turn(), ThinkingMode::kThinking},
      {"推理中…🤖</think>答案是 42。\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"calc\">\n<｜DSML｜parameter "
       "name=\"expr\" string=\"true\">6 × 7</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>" + EOS,
       ThinkingMode::kThinking},
      {"plain answer ✓" + EOS, ThinkingMode::kChat}};
  for (const auto& [text, mode] : completions) {
    const CompletionDelta whole = parse_completion(text, mode);
    dsv4::chat::ChatStream stream(*tok, mode);
    CompletionDelta streamed;
    for (uint32_t id : tok->encode(text)) {
      ASSERT_FALSE(stream.ended());
      streamed.append(stream.push(id));
    }
    EXPECT_TRUE(stream.ended());
    streamed.append(stream.finish());
    expect_same(whole, streamed);
    EXPECT_FALSE(whole.tool_calls.empty() && text.find("DSML") != std::string::npos);
  }
}

}  // namespace
