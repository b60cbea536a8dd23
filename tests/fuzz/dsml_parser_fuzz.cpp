// Fuzz (under ASan/UBSan): the completion parser and DSML block parser on random bytes, random
// Unicode, and mutated valid completions, whole and streamed in random pieces. Never a crash or an
// exception; streaming gives the same result as parsing the whole text.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "support/test_support.h"
#include "tokenizer/completion_parser.h"
#include "tokenizer/utf8.h"

namespace {

using dsv4::chat::CompletionDelta;
using dsv4::chat::CompletionParser;
using dsv4::chat::ThinkingMode;

constexpr double kSecondsPerTest = 10.0;

const std::vector<std::string> kPieces = {
    "</think>", "<｜end▁of▁sentence｜>", "\n\n<｜DSML｜tool_calls>\n", "<｜DSML｜invoke name=\"f\">\n",
    "<｜DSML｜parameter name=\"a\" string=\"true\">", "<｜DSML｜parameter name=\"b\" string=\"false\">",
    "</｜DSML｜parameter>\n", "</｜DSML｜invoke>\n", "</｜DSML｜tool_calls>", "{\"x\": [1, 2]}", "\n", "\n\n",
    "<｜DSML｜", "｜", "\"", ">", "text", "中文", "true", "false"};

std::string random_text(std::mt19937_64& rng) {
  std::string s;
  const size_t n = rng() % 40;
  for (size_t i = 0; i < n; ++i) {
    switch (rng() % 4) {
      case 0: s.push_back(static_cast<char>(rng() & 0xFF)); break;
      case 1: dsv4::tokenizer::append_utf8(s, static_cast<uint32_t>(rng() % 0xD000)); break;
      default: s += kPieces[rng() % kPieces.size()]; break;
    }
  }
  return s;
}

void check_same(const CompletionDelta& a, const CompletionDelta& b, const std::string& text) {
  ASSERT_EQ(a.reasoning, b.reasoning) << text;
  ASSERT_EQ(a.content, b.content) << text;
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size()) << text;
  for (size_t i = 0; i < a.tool_calls.size(); ++i) {
    ASSERT_EQ(a.tool_calls[i].name, b.tool_calls[i].name);
    ASSERT_EQ(a.tool_calls[i].arguments, b.tool_calls[i].arguments);
  }
}

TEST(DsmlParserFuzz, RandomCompletionsWholeAndStreamed) {
  const uint64_t seed = dsv4::test::fresh_seed("dsml parser fuzz");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  size_t cases = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < kSecondsPerTest) {
    const std::string text = random_text(rng);
    const ThinkingMode mode = rng() % 2 ? ThinkingMode::kThinking : ThinkingMode::kChat;
    const CompletionDelta whole = dsv4::chat::parse_completion(text, mode);
    CompletionParser p(mode);
    CompletionDelta streamed;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t n = std::min(text.size() - pos, size_t(1 + rng() % 9));
      streamed.append(p.feed(std::string_view(text).substr(pos, n)));
      pos += n;
    }
    streamed.append(p.finish());
    check_same(whole, streamed, text);
    for (const auto& call : whole.tool_calls) ASSERT_TRUE(dsv4::chat::Json::accept(call.arguments)) << call.arguments;
    // Nothing is lost: every byte before the EOS ends up in reasoning, content or a tool call.
    if (whole.tool_calls.empty() && text.find("<｜end▁of▁sentence｜>") == std::string::npos) {
      const size_t think = text.find("</think>");
      const size_t markers = (mode == ThinkingMode::kThinking && think != std::string::npos) ? 8 : 0;
      ASSERT_EQ(whole.reasoning.size() + whole.content.size() + markers, text.size()) << text;
    }
    ++cases;
  }
  std::printf("[fuzz] dsml parser: %zu cases\n", cases);
}

TEST(DsmlParserFuzz, DsmlBlockParserOnRandomBlocks) {
  const uint64_t seed = dsv4::test::fresh_seed("dsml block fuzz");
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20000; ++i) {
    std::string block = "\n\n<｜DSML｜tool_calls>" + random_text(rng) + "</｜DSML｜tool_calls>";
    std::vector<dsv4::chat::ToolCall> calls;
    std::string error;
    if (dsv4::chat::parse_dsml_block(block, calls, error)) {
      for (const auto& c : calls) ASSERT_TRUE(dsv4::chat::Json::accept(c.arguments));
    } else {
      ASSERT_FALSE(error.empty());
      ASSERT_TRUE(calls.empty());
    }
  }
}

}  // namespace
