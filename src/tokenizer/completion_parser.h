// Parsing what the model generated after a DeepSeek-V4 prompt: reasoning (thinking mode, up to
// </think>), content (up to the EOS or the DSML block), and DSML tool calls turned into structured
// calls. Works incrementally on streamed text: content that has been released is never part of a
// tool call (text that could still start "\n\n<｜DSML｜tool_calls" or a closing marker is held
// back). Malformed or truncated DSML falls back to plain content with a warning; never throws on
// model output.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/chat_encoding.h"

namespace dsv4::chat {

struct ToolCall {
  std::string name;
  std::string arguments;  // a JSON object text, e.g. {"location": "Beijing"}
};

struct CompletionDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> warnings;
  void append(CompletionDelta&& other);
};

// Parses one DSML block text (from "\n\n<｜DSML｜tool_calls>" through "</｜DSML｜tool_calls>").
// Returns false (with a reason) when it is malformed.
bool parse_dsml_block(std::string_view block, std::vector<ToolCall>& calls, std::string& error);

class CompletionParser {
 public:
  // tool_calls = false: a DSML block is kept as content (tool_choice "none").
  explicit CompletionParser(ThinkingMode mode, bool tool_calls = true);

  // Feeds more generated text; returns what became certain.
  CompletionDelta feed(std::string_view text);
  // End of generation: releases everything still held.
  CompletionDelta finish();
  bool ended() const { return state_ == State::kEnded; }  // the EOS was seen

 private:
  enum class State { kReasoning, kContent, kToolBlock, kAfterTools, kEnded };
  void step(CompletionDelta& out, bool final);

  State state_;
  bool tool_calls_;
  std::string buffer_;
};

// The whole completion at once (same result as feeding it in any pieces, then finish()).
CompletionDelta parse_completion(std::string_view text, ThinkingMode mode);

}  // namespace dsv4::chat
