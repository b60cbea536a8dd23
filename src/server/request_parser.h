// The three generation APIs' request bodies -> validated, engine-ready structures:
// OpenAI chat completions, OpenAI (legacy) completions, Anthropic messages. Every problem is an
// ApiError 400 naming the offending field; nothing here touches the engine or the network (the
// request-parser fuzz target drives these functions directly).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/sampling_params.h"
#include "server/request_json.h"
#include "server/response_format.h"
#include "server/tool_choice.h"
#include "tokenizer/chat_encoding.h"

namespace dsv4::server {

// What every generation request carries.
struct GenerationSettings {
  std::string model;
  SamplingParams params;               // max_tokens is resolved later (see resolve_max_tokens)
  std::optional<int64_t> max_tokens;   // max_tokens / max_completion_tokens as given
  int n = 1;                           // choices, each one engine request
  bool stream = false;
  bool include_usage = false;          // stream_options.include_usage
  ResponseFormat response_format;
  ToolChoice tool_choice;              // chat and messages (tool_choice.h)
};

struct ChatRequest {
  GenerationSettings gen;
  Json messages;                       // the encoder's input (top-level tools attached)
  bool has_tools = false;
  bool parse_tool_calls = true;        // false for tool_choice "none" (the DSML stays text)
  chat::EncodeOptions encode;          // thinking mode and reasoning effort
  bool logprobs = false;
  int top_logprobs = 0;
};

struct CompletionRequest {
  GenerationSettings gen;
  std::vector<std::string> text_prompts;             // either text ...
  std::vector<std::vector<int32_t>> id_prompts;      // ... or token ids
  int logprobs = -1;                                 // -1 = none, else top-N per token
  bool echo = false;
  bool return_token_ids = false;
  size_t prompt_count() const { return text_prompts.empty() ? id_prompts.size() : text_prompts.size(); }
};

struct MessagesRequest {                             // Anthropic
  GenerationSettings gen;
  Json messages;                                     // converted to the OpenAI shape the encoder reads
  bool parse_tool_calls = true;
  chat::EncodeOptions encode;
};

ChatRequest parse_chat_request(const Json& body);
CompletionRequest parse_completion_request(const Json& body);
MessagesRequest parse_messages_request(const Json& body);

// The prompt text of a conversation (the official DeepSeek-V4 encoding); encoder errors are
// 400s on 'messages'.
std::string render_chat_prompt(const Json& messages, const chat::EncodeOptions& options);

// The thinking switches vLLM, SGLang and DeepSeek's API accept, applied to `options`:
// thinking: {"type": "enabled"|"disabled"} or a boolean; chat_template_kwargs.thinking /
// .enable_thinking / .reasoning_effort; reasoning_effort ("none" = chat mode; low..high = normal
// thinking; xhigh / max = the max-effort prompt).
void apply_thinking_switches(const Json& body, chat::EncodeOptions& options);

// max_tokens for a prompt of `prompt_tokens` under `max_model_len` (vLLM: absent => what is
// left of the context). Throws ApiError 400 (code context_length_exceeded) when it cannot fit.
int resolve_max_tokens(const GenerationSettings& gen, int64_t prompt_tokens, int64_t max_model_len,
                       const std::string& prompt_field);

}  // namespace dsv4::server
