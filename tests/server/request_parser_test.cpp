// Request parsing: thinking switches as vLLM / SGLang / DeepSeek accept them, sampling fields
// and their 400s, Anthropic messages turned into the encoder's messages, context-length checks,
// nesting limits, stop trimming.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/request_parser.h"
#include "server/stop_trimmer.h"

namespace dsv4::server {
namespace {

using chat::ThinkingMode;

Json body(const std::string& extra = "") {
  return Json::parse(R"({"messages": [{"role": "user", "content": "hi"}])" + extra + "}");
}

std::string param_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400);
    return e.param();
  }
  ADD_FAILURE() << "no ApiError";
  return {};
}

TEST(RequestParser, ThinkingSwitches) {
  EXPECT_EQ(parse_chat_request(body()).encode.mode, ThinkingMode::kThinking);  // DeepSeek's default
  EXPECT_EQ(parse_chat_request(body(R"(, "thinking": {"type": "disabled"})")).encode.mode, ThinkingMode::kChat);
  EXPECT_EQ(parse_chat_request(body(R"(, "thinking": false)")).encode.mode, ThinkingMode::kChat);
  EXPECT_EQ(parse_chat_request(body(R"(, "chat_template_kwargs": {"enable_thinking": false})")).encode.mode, ThinkingMode::kChat);
  EXPECT_EQ(parse_chat_request(body(R"(, "chat_template_kwargs": {"thinking": false})")).encode.mode, ThinkingMode::kChat);
  EXPECT_EQ(parse_chat_request(body(R"(, "reasoning_effort": "none")")).encode.mode, ThinkingMode::kChat);
  EXPECT_EQ(parse_chat_request(body(R"(, "reasoning_effort": "max")")).encode.reasoning_effort, "max");
  EXPECT_EQ(parse_chat_request(body(R"(, "reasoning_effort": "xhigh")")).encode.reasoning_effort, "max");
  EXPECT_EQ(parse_chat_request(body(R"(, "reasoning_effort": "low")")).encode.reasoning_effort, "");
  EXPECT_EQ(parse_chat_request(body(R"(, "chat_template_kwargs": {"reasoning_effort": "max"})")).encode.reasoning_effort, "max");
  EXPECT_EQ(param_of([] { parse_chat_request(body(R"(, "reasoning_effort": "huge")")); }), "reasoning_effort");
  EXPECT_EQ(param_of([] { parse_chat_request(body(R"(, "thinking": "yes")")); }), "thinking");
}

TEST(RequestParser, SamplingFieldsAndTheirErrors) {
  const ChatRequest r = parse_chat_request(body(
      R"(, "temperature": 0.5, "top_p": 0.9, "top_k": -1, "min_p": 0.1, "presence_penalty": 0.5,
         "frequency_penalty": 0.2, "repetition_penalty": 1.1, "seed": 7, "stop": "x", "stop_token_ids": [5],
         "max_completion_tokens": 9, "min_tokens": 2, "n": 2, "ignore_eos": true, "logprobs": true,
         "top_logprobs": 3, "stream": true, "stream_options": {"include_usage": true})"));
  EXPECT_FLOAT_EQ(r.gen.params.temperature, 0.5f);
  EXPECT_EQ(r.gen.params.top_k, 0);
  EXPECT_EQ(r.gen.params.seed, 7u);
  EXPECT_EQ(r.gen.params.stop_strings, std::vector<std::string>{"x"});
  EXPECT_EQ(r.gen.params.stop_token_ids, std::vector<int32_t>{5});
  EXPECT_EQ(*r.gen.max_tokens, 9);
  EXPECT_EQ(r.gen.n, 2);
  EXPECT_TRUE(r.gen.include_usage && r.logprobs && r.gen.params.ignore_eos);
  EXPECT_EQ(r.top_logprobs, 3);
  EXPECT_EQ(param_of([] { parse_chat_request(body(R"(, "temperature": "1")")); }), "temperature");
  EXPECT_EQ(param_of([] { parse_chat_request(body(R"(, "top_p": 2)")); }), "top_p");
  EXPECT_EQ(param_of([] { parse_chat_request(body(R"(, "presence_penalty": 3)")); }), "presence_penalty");
  EXPECT_EQ(param_of([] { parse_chat_request(body(R"(, "max_tokens": 0)")); }), "max_tokens");
  EXPECT_EQ(param_of([] { parse_chat_request(body(R"(, "seed": "x")")); }), "seed");
  EXPECT_EQ(param_of([] { parse_chat_request(body(R"(, "stream_options": {"include_usage": 1}, "stream": true)")); }),
            "stream_options.include_usage");
  EXPECT_EQ(param_of([] { parse_chat_request(Json::parse(R"({"messages": []})")); }), "messages");
  EXPECT_EQ(param_of([] { parse_completion_request(Json::parse(R"({"prompt": [[1], "x"]})")); }), "prompt");
}

TEST(RequestParser, ResponseFormatIsParsedAndSwitchesThinkingOff) {
  const ChatRequest r = parse_chat_request(
      body(R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}})"));
  EXPECT_EQ(r.gen.response_format.type, ResponseFormat::Type::JsonSchema);
  EXPECT_EQ(r.gen.response_format.schema_name, "w");
  EXPECT_TRUE(r.gen.response_format.strict);
  EXPECT_EQ(r.encode.mode, ThinkingMode::kChat);  // the constraint holds from the first token
  GenerationRequest g;
  EXPECT_THROW(attach_response_format(r.gen.response_format, nullptr, g), ApiError);  // no tokenizer
  EXPECT_NO_THROW(attach_response_format(ResponseFormat{}, nullptr, g));
  EXPECT_FALSE(g.params.constraint);
}

TEST(RequestParser, ToolChoiceModes) {
  const std::string tools = R"(, "tools": [{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}},
      {"type": "function", "function": {"name": "b"}}])";
  using Mode = ToolChoice::Mode;
  ChatRequest r = parse_chat_request(body(tools));
  EXPECT_EQ(r.gen.tool_choice.mode, Mode::Auto);
  EXPECT_TRUE(r.has_tools && r.parse_tool_calls);
  r = parse_chat_request(body(tools + R"(, "tool_choice": "none")"));
  EXPECT_EQ(r.gen.tool_choice.mode, Mode::None);
  EXPECT_FALSE(r.has_tools || r.parse_tool_calls);
  r = parse_chat_request(body(tools + R"(, "tool_choice": "required", "thinking": false)"));
  EXPECT_EQ(r.gen.tool_choice.mode, Mode::Required);
  EXPECT_EQ(r.gen.tool_choice.tools.size(), 2u);
  EXPECT_TRUE(r.gen.tool_choice.parallel);
  EXPECT_FALSE(r.gen.tool_choice.after_reasoning);
  r = parse_chat_request(body(tools + R"(, "tool_choice": {"type": "function", "function": {"name": "b"}}, "parallel_tool_calls": false)"));
  EXPECT_EQ(r.gen.tool_choice.mode, Mode::Named);
  ASSERT_EQ(r.gen.tool_choice.tools.size(), 1u);
  EXPECT_EQ(r.gen.tool_choice.tools[0].name, "b");
  EXPECT_TRUE(r.gen.tool_choice.tools[0].parameters.is_null());
  EXPECT_FALSE(r.gen.tool_choice.parallel);
  EXPECT_TRUE(r.gen.tool_choice.after_reasoning);  // thinking on: the constraint starts after </think>
  EXPECT_EQ(param_of([&] { parse_chat_request(body(R"(, "tool_choice": "required")")); }), "tool_choice");
  EXPECT_EQ(param_of([&] { parse_chat_request(body(tools + R"(, "tool_choice": {"type": "function", "function": {"name": "c"}})")); }), "tool_choice");
  EXPECT_EQ(param_of([&] { parse_chat_request(body(tools + R"(, "tool_choice": 3)")); }), "tool_choice");
  EXPECT_EQ(param_of([&] { parse_chat_request(body(tools + R"(, "tool_choice": "required", "min_tokens": 2)")); }), "tool_choice");
  // Anthropic
  const std::string atools = R"(, "max_tokens": 5, "tools": [{"name": "a", "input_schema": {"type": "object"}}])";
  MessagesRequest m = parse_messages_request(body(atools + R"(, "tool_choice": {"type": "any", "disable_parallel_tool_use": true})"));
  EXPECT_EQ(m.gen.tool_choice.mode, Mode::Required);
  EXPECT_FALSE(m.gen.tool_choice.parallel);
  EXPECT_FALSE(m.gen.tool_choice.after_reasoning);  // Anthropic's default: no thinking
  m = parse_messages_request(body(atools + R"(, "tool_choice": {"type": "tool", "name": "a"})"));
  EXPECT_EQ(m.gen.tool_choice.mode, Mode::Named);
  m = parse_messages_request(body(atools + R"(, "tool_choice": {"type": "none"})"));
  EXPECT_FALSE(m.parse_tool_calls);
  EXPECT_FALSE(m.messages[0].contains("tools"));
  EXPECT_EQ(param_of([&] { parse_messages_request(body(atools + R"(, "tool_choice": {"type": "tool", "name": "z"})")); }), "tool_choice");
  EXPECT_EQ(param_of([&] { parse_messages_request(body(atools + R"(, "tool_choice": {"type": "tool"})")); }), "tool_choice.name");
}

TEST(RequestParser, AnthropicMessagesBecomeEncoderMessages) {
  const MessagesRequest r = parse_messages_request(Json::parse(R"({
    "max_tokens": 10, "system": [{"type": "text", "text": "Be brief."}],
    "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
    "thinking": {"type": "enabled", "budget_tokens": 100}, "stop_sequences": ["END"],
    "messages": [
      {"role": "user", "content": "hi"},
      {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "ok"},
                                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "42"}]}]})"));
  EXPECT_EQ(r.encode.mode, ThinkingMode::kThinking);
  EXPECT_EQ(r.gen.params.stop_strings, std::vector<std::string>{"END"});
  const Json& m = r.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0]["role"], "system");
  EXPECT_EQ(m[0]["content"], "Be brief.");
  EXPECT_EQ(m[0]["tools"][0]["function"]["name"], "f");
  EXPECT_EQ(m[2]["reasoning_content"], "hmm");
  EXPECT_EQ(m[2]["tool_calls"][0]["function"]["arguments"], R"({"a":1})");
  EXPECT_EQ(m[3]["role"], "tool");
  EXPECT_EQ(m[3]["tool_call_id"], "t1");
  EXPECT_NO_THROW(render_chat_prompt(r.messages, r.encode));
  EXPECT_EQ(param_of([] { parse_messages_request(Json::parse(R"({"messages": [{"role": "user", "content": "x"}]})")); }),
            "max_tokens");
  // Anthropic's default is no thinking.
  EXPECT_EQ(parse_messages_request(Json::parse(R"({"max_tokens": 1, "messages": [{"role": "user", "content": "x"}]})"))
                .encode.mode,
            ThinkingMode::kChat);
}

TEST(RequestParser, ContextLengthAndDefaults) {
  GenerationSettings g;
  EXPECT_EQ(resolve_max_tokens(g, 100, 512, "prompt"), 412);
  g.max_tokens = 12;
  EXPECT_EQ(resolve_max_tokens(g, 100, 512, "prompt"), 12);
  try {
    resolve_max_tokens(g, 512, 512, "messages");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.param(), "messages");
    EXPECT_EQ(e.code(), "context_length_exceeded");
  }
  g.max_tokens = 500;
  EXPECT_THROW(resolve_max_tokens(g, 100, 512, "prompt"), ApiError);
}

TEST(RequestJson, NestingAndMalformedBodies) {
  EXPECT_EQ(json_nesting_depth(R"({"a": [1, {"b": "[[[["}]})", 100), 3);
  EXPECT_THROW(parse_json_body(std::string(100000, '[')), ApiError);
  EXPECT_THROW(parse_json_body("{\"a\": \"\xff\"}"), ApiError);
  EXPECT_THROW(parse_json_body("[1]"), ApiError);
  EXPECT_THROW(parse_json_body(""), ApiError);
  EXPECT_NO_THROW(parse_json_body(R"({"a": 1})"));
}

TEST(StopTrimmer, HoldsBackPossibleStartsAndCutsAtTheStop) {
  StopTrimmer t({"END", "xy"});
  std::string out = t.push("abc E");
  out += t.push("N");
  EXPECT_EQ(out, "abc ");  // "EN" is held: it could still become "END"
  out += t.push("Dmore");
  EXPECT_TRUE(t.stopped());
  EXPECT_EQ(out + t.finish(), "abc ");
  StopTrimmer u({"END"});
  std::string a = u.push("héllo E");
  a += u.push("ND?");
  a += u.finish();
  EXPECT_EQ(a, "héllo ");
  StopTrimmer v({"END"});
  std::string b = v.push("no stop E");
  EXPECT_EQ(b, "no stop");
  b += v.finish();
  EXPECT_EQ(b, "no stop E");
  StopTrimmer utf({"ab"});  // a held byte never splits a character
  const std::string held = utf.push("x\xC3\xA9");
  EXPECT_TRUE(held == "x" || held == "x\xC3\xA9");
}

}  // namespace
}  // namespace dsv4::server
