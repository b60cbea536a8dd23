// Tool-call and reasoning streaming at the unit level (the model has random weights, so the
// server tests cannot make it call a tool): the token ids of a DSML completion, pushed one by
// one through ChatChoice, give reasoning_content, content and OpenAI tool_calls deltas keyed by
// index, never leak DSML into the content, and count the reasoning tokens.
#include <gtest/gtest.h>

#include "server/chat_choice.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::server {
namespace {

const tokenizer::Tokenizer& tok() {
  static const tokenizer::Tokenizer t = tokenizer::Tokenizer::load(test::binary_dir() + "/models/default");
  return t;
}

const std::string kEos = "<｜end▁of▁sentence｜>";
const std::string kCalls =
    "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n<｜DSML｜parameter name=\"city\" "
    "string=\"true\">Paris</｜DSML｜parameter>\n</｜DSML｜invoke>\n<｜DSML｜invoke name=\"get_time\">\n<｜DSML｜parameter "
    "name=\"tz\" string=\"true\">CET</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";

struct Streamed {
  std::vector<Json> deltas;
  std::string reasoning, content;
  Json calls = Json::array();
};

Streamed stream(ChatChoice& c, const std::string& text) {
  Streamed s;
  auto take = [&](Json d) {
    if (d.empty()) return;
    if (d.contains("reasoning_content")) s.reasoning += d["reasoning_content"].get<std::string>();
    if (d.contains("content")) s.content += d["content"].get<std::string>();
    if (d.contains("tool_calls"))
      for (const Json& t : d["tool_calls"]) s.calls.push_back(t);
    s.deltas.push_back(std::move(d));
  };
  for (uint32_t id : tok().encode(text)) {
    SampledToken t;
    t.id = int32_t(id);
    take(c.push(t));
  }
  take(c.finish());
  return s;
}

TEST(ChatChoice, StreamsReasoningContentAndToolCallsKeyedByIndex) {
  const auto close = tok().token_id("</think>");
  ASSERT_TRUE(close.has_value());
  ChatChoice c(tok(), chat::ThinkingMode::kThinking, {}, -1, close);
  const std::string reasoning = "Let me think about the weather.";
  const Streamed s = stream(c, reasoning + "</think>Checking both." + kCalls + kEos);
  EXPECT_EQ(s.reasoning, reasoning);
  EXPECT_EQ(s.content, "Checking both.");
  ASSERT_EQ(s.calls.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(s.calls[i]["index"], i);
    EXPECT_EQ(s.calls[i]["type"], "function");
    EXPECT_EQ(s.calls[i]["id"].get<std::string>().rfind("call_", 0), 0u);
  }
  EXPECT_NE(s.calls[0]["id"], s.calls[1]["id"]);
  EXPECT_EQ(s.calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(Json::parse(s.calls[0]["function"]["arguments"].get<std::string>()), Json({{"city", "Paris"}}));
  EXPECT_EQ(s.calls[1]["function"]["name"], "get_time");
  EXPECT_EQ(Json::parse(s.calls[1]["function"]["arguments"].get<std::string>()), Json({{"tz", "CET"}}));
  for (const Json& d : s.deltas) {
    if (d.contains("content")) {
      EXPECT_EQ(d["content"].get<std::string>().find("DSML"), std::string::npos) << d.dump();
    }
  }
  EXPECT_EQ(c.tool_calls().size(), 2u);
  EXPECT_EQ(c.content(), "Checking both.");
  // Reasoning tokens: those up to and including </think>.
  EXPECT_EQ(c.reasoning_tokens(), int64_t(tok().encode(reasoning + "</think>").size()));
  EXPECT_EQ(c.tokens(), int64_t(tok().encode(reasoning + "</think>Checking both." + kCalls + kEos).size()));
}

TEST(ChatChoice, ChatModeHasNoReasoningAndStopStringsCutTheContent) {
  ChatChoice c(tok(), chat::ThinkingMode::kChat, {"STOP"}, -1, std::nullopt);
  const Streamed s = stream(c, "Hello world STOP and more" + kCalls);
  EXPECT_EQ(s.reasoning, "");
  EXPECT_EQ(s.content, "Hello world ");
  EXPECT_TRUE(s.calls.empty());  // after the stop string nothing more is output
  EXPECT_EQ(c.reasoning_tokens(), 0);
}

TEST(ChatChoice, LogprobsInTheChatFormat) {
  ChatChoice c(tok(), chat::ThinkingMode::kChat, {}, 2, std::nullopt);
  SampledToken t;
  t.id = int32_t(tok().encode("Hello")[0]);
  t.logprob = -0.5f;
  t.top = {{t.id, -0.5f}, {int32_t(tok().encode(" world")[0]), -1.5f}, {7, -3.0f}};
  c.push(t);
  const Json lp = c.take_logprobs();
  ASSERT_EQ(lp.size(), 1u);
  EXPECT_EQ(lp[0]["token"], "Hello");
  EXPECT_FLOAT_EQ(lp[0]["logprob"].get<float>(), -0.5f);
  EXPECT_EQ(lp[0]["bytes"], Json({72, 101, 108, 108, 111}));
  ASSERT_EQ(lp[0]["top_logprobs"].size(), 2u);  // top_logprobs = 2 of the 3 alternatives
  EXPECT_EQ(lp[0]["top_logprobs"][1]["token"], " world");
  EXPECT_TRUE(c.take_logprobs().empty());
  EXPECT_EQ(c.all_logprobs().size(), 1u);
}

}  // namespace
}  // namespace dsv4::server
