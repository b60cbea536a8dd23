// One test per encoding rule (../shared/research/tokenizer_and_encoding.md §3–§7); expected
// strings are the worked examples there (checked against the official encoder by the note's
// author) or are written out by hand from the rules.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/chat_encoding.h"

namespace {

using dsv4::chat::encode_messages;
using dsv4::chat::EncodeOptions;
using dsv4::chat::Json;
using dsv4::chat::ThinkingMode;

const std::string BOS = "<｜begin▁of▁sentence｜>";
const std::string EOS = "<｜end▁of▁sentence｜>";

Json msg(const std::string& role, const std::string& content) { return Json{{"role", role}, {"content", content}}; }

EncodeOptions mode(ThinkingMode m) {
  EncodeOptions o;
  o.mode = m;
  return o;
}
const EncodeOptions kChat = mode(ThinkingMode::kChat);
const EncodeOptions kThink = mode(ThinkingMode::kThinking);

TEST(ChatEncodingRules, SystemHasNoRoleTokenChatMode) {
  const Json m = Json::array({msg("system", "You are a helpful assistant."), msg("user", "Hi")});
  EXPECT_EQ(encode_messages(m, kChat), BOS + "You are a helpful assistant.<｜User｜>Hi<｜Assistant｜></think>");
  EXPECT_EQ(encode_messages(m, kThink), BOS + "You are a helpful assistant.<｜User｜>Hi<｜Assistant｜><think>");
}

TEST(ChatEncodingRules, ReasoningEffortMaxOnlyInThinkingMode) {
  EncodeOptions o = kThink;
  o.reasoning_effort = "max";
  const Json m = Json::array({msg("user", "Hi")});
  const std::string effort =
      "Reasoning Effort: Absolute maximum with no shortcuts permitted.\nYou MUST be very thorough in your thinking "
      "and comprehensively decompose the problem to resolve the root cause, rigorously stress-testing your logic "
      "against all potential paths, edge cases, and adversarial scenarios.\nExplicitly write out your entire "
      "deliberation process, documenting every intermediate step, considered alternative, and rejected hypothesis "
      "to ensure absolutely no assumption is left unchecked.\n\n";
  EXPECT_EQ(encode_messages(m, o), BOS + effort + "<｜User｜>Hi<｜Assistant｜><think>");
  o.reasoning_effort = "high";
  EXPECT_EQ(encode_messages(m, o), BOS + "<｜User｜>Hi<｜Assistant｜><think>");
  EncodeOptions c = kChat;
  c.reasoning_effort = "max";
  EXPECT_EQ(encode_messages(m, c), BOS + "<｜User｜>Hi<｜Assistant｜></think>");
  o.reasoning_effort = "low";
  EXPECT_THROW(encode_messages(m, o), dsv4::Error);
}

TEST(ChatEncodingRules, EarlierReasoningDroppedInThinkingMode) {
  Json a = msg("assistant", "4");
  a["reasoning_content"] = "Add.";
  const Json m = Json::array({msg("user", "2+2?"), a, msg("user", "Times 3?")});
  EXPECT_EQ(encode_messages(m, kThink),
            BOS + "<｜User｜>2+2?<｜Assistant｜></think>4" + EOS + "<｜User｜>Times 3?<｜Assistant｜><think>");
  EXPECT_EQ(encode_messages(m, kChat),
            BOS + "<｜User｜>2+2?<｜Assistant｜></think>4" + EOS + "<｜User｜>Times 3?<｜Assistant｜></think>");
  EncodeOptions keep = kThink;
  keep.drop_thinking = false;
  EXPECT_EQ(encode_messages(m, keep),
            BOS + "<｜User｜>2+2?<｜Assistant｜><think>Add.</think>4" + EOS + "<｜User｜>Times 3?<｜Assistant｜><think>");
}

TEST(ChatEncodingRules, LastAssistantKeepsReasoning) {
  Json a = msg("assistant", "y");
  a["reasoning_content"] = "r";
  const Json m = Json::array({msg("user", "x"), a});
  EXPECT_EQ(encode_messages(m, kThink), BOS + "<｜User｜>x<｜Assistant｜><think>r</think>y" + EOS);
  Json empty = msg("assistant", "y");
  EXPECT_EQ(encode_messages(Json::array({msg("user", "x"), empty}), kThink),
            BOS + "<｜User｜>x<｜Assistant｜><think></think>y" + EOS);
  EXPECT_EQ(encode_messages(m, kChat), BOS + "<｜User｜>x<｜Assistant｜></think>y" + EOS);
}

Json get_time_tool() {
  return Json::parse(R"({"type": "function", "function": {"name": "get_time", "description": "Current time",
      "parameters": {"type": "object", "properties": {"tz": {"type": "string"}, "offset": {"type": "integer"}},
      "required": ["tz"]}}})");
}

TEST(ChatEncodingRules, ToolLoopKeepsReasoningAndRendersDsml) {
  Json sys = msg("system", "Be brief.");
  sys["tools"] = Json::array({get_time_tool()});
  Json a = msg("assistant", "");
  a["reasoning_content"] = "Call tool.";
  a["tool_calls"] = Json::parse(
      R"([{"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\": \"Europe/Paris\", \"offset\": 0}"}}])");
  Json tool = msg("tool", "12:00");
  tool["tool_call_id"] = "c1";
  const Json m = Json::array({sys, msg("user", "Time in Paris?"), a, tool});
  const std::string tools = dsv4::chat::render_tools_section(sys["tools"]);
  EXPECT_NE(tools.find(
                "\n\n{\"name\": \"get_time\", \"description\": \"Current time\", \"parameters\": {\"type\": \"object\", "
                "\"properties\": {\"tz\": {\"type\": \"string\"}, \"offset\": {\"type\": \"integer\"}}, \"required\": "
                "[\"tz\"]}}\n\nYou MUST strictly follow"),
            std::string::npos);
  EXPECT_EQ(encode_messages(m, kThink),
            BOS + "Be brief.\n\n" + tools + "<｜User｜>Time in Paris?<｜Assistant｜><think>Call tool.</think>\n\n"
                  "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_time\">\n"
                  "<｜DSML｜parameter name=\"tz\" string=\"true\">Europe/Paris</｜DSML｜parameter>\n"
                  "<｜DSML｜parameter name=\"offset\" string=\"false\">0</｜DSML｜parameter>\n"
                  "</｜DSML｜invoke>\n</｜DSML｜tool_calls>" +
                  EOS + "<｜User｜><tool_result>12:00</tool_result><｜Assistant｜><think>");
}

TEST(ChatEncodingRules, ConsecutiveUserMessagesMerge) {
  EXPECT_EQ(encode_messages(Json::array({msg("user", "a"), msg("user", "b")}), kChat),
            BOS + "<｜User｜>a\n\nb<｜Assistant｜></think>");
}

TEST(ChatEncodingRules, ToolResultsMergeAndFollowCallOrder) {
  Json a = msg("assistant", "");
  a["tool_calls"] = Json::parse(R"([{"id": "x", "function": {"name": "f", "arguments": "{}"}},
                                    {"id": "y", "function": {"name": "g", "arguments": "{}"}}])");
  Json ty = msg("tool", "Y");
  ty["tool_call_id"] = "y";
  Json tx = msg("tool", "X");
  tx["tool_call_id"] = "x";
  const Json m = Json::array({msg("user", "q"), a, ty, tx, msg("user", "thanks")});
  EXPECT_EQ(encode_messages(m, kChat),
            BOS + "<｜User｜>q<｜Assistant｜></think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n\n"
                  "</｜DSML｜invoke>\n<｜DSML｜invoke name=\"g\">\n\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>" +
                  EOS + "<｜User｜><tool_result>X</tool_result>\n\n<tool_result>Y</tool_result>\n\nthanks<｜Assistant｜></think>");
}

TEST(ChatEncodingRules, NonJsonArgumentsBecomeOneStringParameter) {
  const Json calls = Json::parse(R"([{"function": {"name": "f", "arguments": "not json"}}])");
  EXPECT_EQ(dsv4::chat::render_tool_calls(calls),
            "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"arguments\" "
            "string=\"true\">not json</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>");
  const Json typed = Json::parse(
      R"([{"function": {"name": "f", "arguments": "{\"s\": \"a\\\"b\", \"n\": 1.5, \"l\": [1, \"é\"], \"o\": {\"k\": null}, \"b\": true}"}}])");
  EXPECT_EQ(dsv4::chat::render_tool_calls(typed),
            "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n"
            "<｜DSML｜parameter name=\"s\" string=\"true\">a\"b</｜DSML｜parameter>\n"
            "<｜DSML｜parameter name=\"n\" string=\"false\">1.5</｜DSML｜parameter>\n"
            "<｜DSML｜parameter name=\"l\" string=\"false\">[1, \"é\"]</｜DSML｜parameter>\n"
            "<｜DSML｜parameter name=\"o\" string=\"false\">{\"k\": null}</｜DSML｜parameter>\n"
            "<｜DSML｜parameter name=\"b\" string=\"false\">true</｜DSML｜parameter>\n"
            "</｜DSML｜invoke>\n</｜DSML｜tool_calls>");
}

TEST(ChatEncodingRules, TasksAndLatestReminder) {
  Json q = msg("user", "Best hot springs?");
  q["task"] = "query";
  EXPECT_EQ(encode_messages(Json::array({q}), kChat), BOS + "<｜User｜>Best hot springs?<｜query｜>");
  q["task"] = "action";
  EXPECT_EQ(encode_messages(Json::array({q}), kThink),
            BOS + "<｜User｜>Best hot springs?<｜Assistant｜><think><｜action｜>");
  EXPECT_EQ(encode_messages(Json::array({msg("system", "S"), msg("latest_reminder", "2026-01-01"), msg("user", "Q")}),
                            kThink),
            BOS + "S<｜latest_reminder｜>2026-01-01<｜User｜>Q<｜Assistant｜><think>");
  // An assistant answering a task never gets a thinking part; title follows the assistant's EOS.
  Json t = msg("assistant", "Hi");
  t["task"] = "title";
  EXPECT_EQ(encode_messages(Json::array({msg("user", "x"), t}), kThink),
            BOS + "<｜User｜>x<｜Assistant｜><think></think>Hi" + EOS + "<｜title｜>");
  q["task"] = "query";
  EXPECT_EQ(encode_messages(Json::array({q, msg("assistant", "hot springs")}), kThink),
            BOS + "<｜User｜>Best hot springs?<｜query｜>hot springs" + EOS);
  q["task"] = "nope";
  EXPECT_THROW(encode_messages(Json::array({q}), kChat), dsv4::Error);
}

TEST(ChatEncodingRules, ResponseFormatAndNoBos) {
  Json s = msg("system", "S");
  s["response_format"] = Json{{"type", "json_object"}};
  EXPECT_EQ(encode_messages(Json::array({s, msg("user", "x")}), kChat),
            BOS + "S\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n"
                  "{\"type\": \"json_object\"}<｜User｜>x<｜Assistant｜></think>");
  EncodeOptions o = kChat;
  o.add_default_bos_token = false;
  EXPECT_EQ(encode_messages(Json::array({msg("user", "J")}), o), "<｜User｜>J<｜Assistant｜></think>");
}

TEST(ChatEncodingRules, DeveloperBeforeLastUserVanishesWhenDropping) {
  const Json m = Json::array({msg("developer", "D"), msg("user", "u")});
  EXPECT_EQ(encode_messages(m, kThink), BOS + "<｜User｜>u<｜Assistant｜><think>");
  EXPECT_EQ(encode_messages(m, kChat), BOS + "<｜User｜>D<｜User｜>u<｜Assistant｜></think>");
  EXPECT_THROW(encode_messages(Json::array({msg("developer", "")}), kChat), dsv4::Error);
}

TEST(ChatEncodingRules, WithoutEosAndContext) {
  Json a = msg("assistant", "partial");
  a["wo_eos"] = true;
  EXPECT_EQ(encode_messages(Json::array({msg("user", "x"), a}), kChat), BOS + "<｜User｜>x<｜Assistant｜></think>partial");
  EncodeOptions o = kChat;
  o.context = Json::array({msg("user", "x"), msg("assistant", "y")});
  EXPECT_EQ(encode_messages(Json::array({msg("user", "z")}), o), "<｜User｜>z<｜Assistant｜></think>");
}

TEST(ChatEncodingRules, RequestObjectAttachesToolsToFirstMessage) {
  const Json req = Json{{"tools", Json::array({get_time_tool()})}, {"messages", Json::array({msg("user", "hi")})}};
  const Json m = dsv4::chat::messages_from_request(req);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0]["role"], "system");
  EXPECT_EQ(m[0]["tools"].size(), 1u);
  EXPECT_THROW(encode_messages(Json::array({Json{{"role", "robot"}, {"content", "x"}}})), dsv4::Error);
}

}  // namespace
