// The DeepSeek-V4 chat encoding (the official encoding_dsv4.py; spec §14.2 and
// ../shared/research/tokenizer_and_encoding.md): a conversation (OpenAI-style messages as JSON)
// becomes the exact prompt text, which the tokenizer then turns into ids.
#pragma once

#include <string>

#include "tokenizer/python_json.h"

namespace dsv4::chat {

// The literal special-token strings of the format.
inline constexpr const char* kBos = "<｜begin▁of▁sentence｜>";
inline constexpr const char* kEos = "<｜end▁of▁sentence｜>";
inline constexpr const char* kUser = "<｜User｜>";
inline constexpr const char* kAssistant = "<｜Assistant｜>";
inline constexpr const char* kThinkOpen = "<think>";
inline constexpr const char* kThinkClose = "</think>";
inline constexpr const char* kLatestReminder = "<｜latest_reminder｜>";
inline constexpr const char* kDsml = "｜DSML｜";

enum class ThinkingMode { kChat, kThinking };

struct EncodeOptions {
  ThinkingMode mode = ThinkingMode::kThinking;
  bool drop_thinking = true;      // switched off automatically when any message carries tools
  std::string reasoning_effort;   // "", "high" or "max" ("max" adds a paragraph in thinking mode)
  bool add_default_bos_token = true;
  Json context = Json::array();   // earlier messages already in the cache: decide, not rendered
};

// Renders messages (a JSON array) into the prompt text. Throws dsv4::Error on invalid input
// (unknown role, task or reasoning effort; a developer message without content; ...).
std::string encode_messages(const Json& messages, const EncodeOptions& options = {});

// Accepts either a list of messages or an object {"messages": [...], "tools": [...]} (an OpenAI
// chat request); top-level tools are attached to the first message when it is a system or
// developer message, otherwise a system message with empty content is put first to carry them.
Json messages_from_request(const Json& request);

// The Tools section for a list of OpenAI-style tools (each entry's "function" object is used).
std::string render_tools_section(const Json& tools);

// The DSML block for an assistant's tool_calls (empty when there are none).
std::string render_tool_calls(const Json& tool_calls);

}  // namespace dsv4::chat
