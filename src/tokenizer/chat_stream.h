// Generated token ids -> reasoning / content / tool calls, as they stream: the streaming
// detokenizer (whole UTF-8 only) feeding the incremental completion parser. For `dsv4 chat` and
// `dsv4 generate` and the server: push each sampled id, show the deltas; stop when ended().
#pragma once

#include <cstdint>

#include "tokenizer/completion_parser.h"
#include "tokenizer/detokenizer.h"

namespace dsv4::chat {

class ChatStream {
 public:
  ChatStream(const tokenizer::Tokenizer& tokenizer, ThinkingMode mode, bool tool_calls = true)
      : detokenizer_(tokenizer, /*skip_special=*/false), parser_(mode, tool_calls) {}

  CompletionDelta push(uint32_t id) { return parser_.feed(detokenizer_.push(id)); }
  CompletionDelta finish() {
    CompletionDelta out = parser_.feed(detokenizer_.finish());
    out.append(parser_.finish());
    return out;
  }
  bool ended() const { return parser_.ended(); }  // the end-of-sentence token was seen

 private:
  tokenizer::StreamDetokenizer detokenizer_;
  CompletionParser parser_;
};

}  // namespace dsv4::chat
