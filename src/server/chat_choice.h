// One choice of a chat completion as it streams: sampled ids -> OpenAI delta objects
// (reasoning_content, content, tool_calls keyed by index) through ChatStream (the streaming
// detokenizer + DSML / reasoning parser), stop strings trimmed from the content, logprobs in the
// chat format, and the token counts usage needs. The Anthropic handler reads the same deltas.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "server/request_json.h"
#include "server/stop_trimmer.h"
#include "tokenizer/chat_stream.h"

namespace dsv4::server {

struct ToolCallOut {
  std::string id;  // call_<hex>
  std::string name, arguments;
};

class ChatChoice {
 public:
  // top_logprobs: -1 = no logprobs, else alternatives per token. think_close: the id of
  // "</think>" (tokens up to it count as reasoning tokens in thinking mode). tool_calls = false:
  // DSML stays content (tool_choice "none").
  ChatChoice(const tokenizer::Tokenizer& tokenizer, chat::ThinkingMode mode, std::vector<std::string> stops,
             int top_logprobs, std::optional<uint32_t> think_close, bool tool_calls = true);

  // The delta this token makes certain: an object with any of reasoning_content, content and
  // tool_calls; empty when nothing is certain yet.
  Json push(const SampledToken& token);
  // End of generation: what was still held.
  Json finish();
  // Chat-format logprob entries not yet handed out (attach them to the next chunk sent).
  Json take_logprobs();

  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }
  const std::vector<ToolCallOut>& tool_calls() const { return calls_; }
  const Json& all_logprobs() const { return all_logprobs_; }
  bool thinking() const { return mode_ == chat::ThinkingMode::kThinking; }
  int64_t tokens() const { return tokens_; }
  int64_t reasoning_tokens() const { return reasoning_tokens_; }
  std::vector<std::string> take_warnings();

 private:
  Json delta_of(chat::CompletionDelta&& d, bool final);

  const tokenizer::Tokenizer& tokenizer_;
  chat::ThinkingMode mode_;
  chat::ChatStream stream_;
  StopTrimmer trimmer_;
  int top_logprobs_;
  std::optional<uint32_t> think_close_;
  bool reasoning_done_ = false;
  std::string reasoning_, content_;
  std::vector<ToolCallOut> calls_;
  Json pending_logprobs_ = Json::array(), all_logprobs_ = Json::array();
  std::vector<std::string> warnings_;
  int64_t tokens_ = 0, reasoning_tokens_ = 0;
};

// A fresh "call_<24 hex>" id.
std::string new_tool_call_id();
// A fresh "<prefix><hex>" id for responses (chatcmpl-, cmpl-, msg_).
std::string new_response_id(const std::string& prefix);

// The text of one token for logprobs (its bytes; may be a partial character) and the bytes.
std::string token_text(const tokenizer::Tokenizer& tokenizer, int32_t id);
Json token_bytes(const std::string& text);

}  // namespace dsv4::server
