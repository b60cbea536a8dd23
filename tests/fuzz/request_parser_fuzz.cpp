// Fuzz (under ASan/UBSan): the server's request parsing — body limits, the three APIs' request
// parsers and the chat encoding they feed — on mutated valid requests, random JSON values in
// every field, and random bytes. The only way out is a value or an ApiError (a 4xx): never a
// crash, a hang or another exception.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "server/api_error.h"
#include "server/request_parser.h"
#include "server/stop_trimmer.h"
#include "support/test_support.h"

namespace {

using dsv4::server::ApiError;
using dsv4::server::Json;

constexpr double kSecondsPerTest = 10.0;

const std::vector<std::string> kValid = {
    R"({"model": "m", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"}],
        "max_tokens": 5, "temperature": 0.7, "top_p": 0.9, "top_k": 5, "n": 2, "seed": 3, "stop": ["x", "y"],
        "stream": true, "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 2,
        "thinking": {"type": "enabled"}, "reasoning_effort": "max", "chat_template_kwargs": {"enable_thinking": true},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto", "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}}})",
    R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}, {"role": "assistant", "content": "b",
        "reasoning_content": "r", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "ok"}, {"role": "user", "content": "again"}]})",
    R"({"prompt": "hello", "max_tokens": 3, "logprobs": 2, "echo": true, "stop_token_ids": [1, 2], "min_tokens": 1})",
    R"({"prompt": [[1, 2, 3], [4, 5]], "n": 2, "ignore_eos": true, "return_token_ids": true})",
    R"({"model": "m", "max_tokens": 8, "system": "s", "stop_sequences": ["z"], "thinking": {"type": "enabled", "budget_tokens": 9},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}], "messages": [{"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}, {"type": "tool_use", "id": "u", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "u", "content": [{"type": "text", "text": "r"}]}]}]})",
    R"({"messages": [{"role": "user", "content": "w"}], "tool_choice": {"type": "function", "function": {"name": "g"}},
        "parallel_tool_calls": false, "tools": [{"type": "function", "function": {"name": "g", "parameters": {"type": "object",
        "properties": {"c": {"type": "string", "maxLength": 3}}, "required": ["c"]}}}, {"type": "function", "function": {"name": "h"}}]})",
    R"({"messages": [{"role": "user", "content": "w"}], "tool_choice": "required", "tools": [{"type": "function", "function": {"name": "h"}}]})",
    R"({"max_tokens": 4, "messages": [{"role": "user", "content": "q"}], "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "f", "disable_parallel_tool_use": true}})"};

const std::vector<std::string> kPieces = {"{", "}", "[", "]", "\"", ",", ":", "null", "true", "-1", "1e309", "0.5",
                                          "\\u0000", "\\ud800", "\xff", "\xc3", "\"role\"", "\"content\"", "\"tools\""};

Json random_value(std::mt19937_64& rng, int depth = 0) {
  switch (rng() % (depth > 3 ? 6 : 8)) {
    case 0: return nullptr;
    case 1: return bool(rng() % 2);
    case 2: return int64_t(rng()) >> (rng() % 64);
    case 3: return double(int64_t(rng() % 2000) - 1000) / 7.0;
    case 4: return std::string(rng() % 5, char('a' + rng() % 26));
    case 5: return kPieces[rng() % kPieces.size()];
    case 6: {
      Json a = Json::array();
      for (size_t i = 0, n = rng() % 4; i < n; ++i) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      Json o = Json::object();
      const char* keys[] = {"role", "content", "type", "text", "name", "function", "arguments", "input", "id"};
      for (size_t i = 0, n = rng() % 4; i < n; ++i) o[keys[rng() % 9]] = random_value(rng, depth + 1);
      return o;
    }
  }
}

// Replaces one value somewhere in the tree by a random one.
void mutate(Json& j, std::mt19937_64& rng) {
  Json* at = &j;
  for (int d = 0; d < 6 && (at->is_object() || at->is_array()) && !at->empty() && rng() % 3; ++d) {
    auto it = at->begin();
    std::advance(it, long(rng() % at->size()));
    at = &*it;
  }
  *at = random_value(rng);
}

void parse_everything(const std::string& body) {
  try {
    const Json j = dsv4::server::parse_json_body(body);
    for (int api = 0; api < 3; ++api) {
      try {
        if (api == 0) {
          const auto r = dsv4::server::parse_chat_request(j);
          dsv4::server::render_chat_prompt(r.messages, r.encode);
          dsv4::server::resolve_max_tokens(r.gen, 10, 100, "messages");
        } else if (api == 1) {
          dsv4::server::parse_completion_request(j);
        } else {
          const auto r = dsv4::server::parse_messages_request(j);
          dsv4::server::render_chat_prompt(r.messages, r.encode);
        }
      } catch (const ApiError& e) {
        ASSERT_GE(e.status(), 400);
        ASSERT_LT(e.status(), 500);
      }
    }
  } catch (const ApiError& e) {
    ASSERT_EQ(e.status(), 400);
  }
}

TEST(RequestParserFuzz, MutatedRequestsAndRandomBytes) {
  const uint64_t seed = dsv4::test::fresh_seed("request parser fuzz");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::vector<Json> valid;
  for (const std::string& v : kValid) valid.push_back(Json::parse(v));
  for (const std::string& v : kValid) ASSERT_NO_THROW(dsv4::server::parse_json_body(v));
  const auto start = std::chrono::steady_clock::now();
  size_t cases = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < kSecondsPerTest) {
    std::string body;
    switch (rng() % 4) {
      case 0: {  // a mutated valid request, as JSON
        Json j = valid[rng() % valid.size()];
        for (size_t m = 0, n = 1 + rng() % 3; m < n; ++m) mutate(j, rng);
        body = j.dump(-1, ' ', false, Json::error_handler_t::replace);
        break;
      }
      case 1: {  // a valid request's text with bytes changed, cut or inserted
        body = kValid[rng() % kValid.size()];
        for (size_t m = 0, n = 1 + rng() % 4; m < n && !body.empty(); ++m) {
          const size_t pos = rng() % body.size();
          switch (rng() % 3) {
            case 0: body[pos] = char(rng() & 0xFF); break;
            case 1: body.resize(pos); break;
            default: body.insert(pos, kPieces[rng() % kPieces.size()]); break;
          }
        }
        break;
      }
      case 2: {  // deep nesting
        const size_t depth = rng() % 200;
        body = "{\"messages\": " + std::string(depth, '[') + std::string(depth, ']') + "}";
        break;
      }
      default:
        for (size_t i = 0, n = rng() % 64; i < n; ++i) body.push_back(char(rng() & 0xFF));
    }
    parse_everything(body);
    if (HasFatalFailure()) {
      ADD_FAILURE() << "body: " << body;
      return;
    }
    ++cases;
  }
  std::printf("[fuzz] %zu request bodies\n", cases);
}

TEST(RequestParserFuzz, StopTrimmerNeverLosesOrInventsText) {
  const uint64_t seed = dsv4::test::fresh_seed("stop trimmer fuzz");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int it = 0; it < 20000; ++it) {
    std::string text;
    for (size_t i = 0, n = rng() % 30; i < n; ++i) text.push_back("abc\xc3\xa9"[rng() % 5]);
    const std::string stop = std::string(1 + rng() % 3, "abc"[rng() % 3]);
    dsv4::server::StopTrimmer t({stop});
    std::string out;
    for (size_t pos = 0; pos < text.size();) {
      const size_t n = std::min(text.size() - pos, size_t(1 + rng() % 4));
      out += t.push(std::string_view(text).substr(pos, n));
      pos += n;
    }
    out += t.finish();
    const size_t at = text.find(stop);
    ASSERT_EQ(out, at == std::string::npos ? text : text.substr(0, at)) << text << " / " << stop;
  }
}

}  // namespace
