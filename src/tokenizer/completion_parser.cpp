#include "tokenizer/completion_parser.h"

#include <set>

namespace dsv4::chat {

namespace {

constexpr std::string_view kBlockStart = "\n\n<｜DSML｜tool_calls>";
constexpr std::string_view kBlockMarker = "\n\n<｜DSML｜tool_calls";  // where content stops
constexpr std::string_view kBlockEnd = "</｜DSML｜tool_calls>";
constexpr std::string_view kInvokeOpen = "<｜DSML｜invoke name=\"";
constexpr std::string_view kInvokeClose = "</｜DSML｜invoke>";
constexpr std::string_view kParamOpen = "<｜DSML｜parameter name=\"";
constexpr std::string_view kParamClose = "</｜DSML｜parameter>";
constexpr std::string_view kEosText = "<｜end▁of▁sentence｜>";
constexpr std::string_view kThinkEnd = "</think>";

// Length of the longest suffix of text that is a proper prefix of marker.
size_t partial_suffix(std::string_view text, std::string_view marker) {
  const size_t max = std::min(text.size(), marker.size() - 1);
  for (size_t n = max; n > 0; --n)
    if (text.substr(text.size() - n) == marker.substr(0, n)) return n;
  return 0;
}

bool consume(std::string_view& s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  return true;
}

void skip_newlines(std::string_view& s) {
  while (!s.empty() && (s.front() == '\n' || s.front() == '\r' || s.front() == ' ')) s.remove_prefix(1);
}

bool read_until(std::string_view& s, std::string_view stop, std::string& value) {
  const size_t at = s.find(stop);
  if (at == std::string_view::npos) return false;
  value.assign(s.substr(0, at));
  s.remove_prefix(at + stop.size());
  return true;
}

bool valid_json(const std::string& text) { return Json::accept(text); }

}  // namespace

void CompletionDelta::append(CompletionDelta&& other) {
  reasoning += other.reasoning;
  content += other.content;
  for (auto& c : other.tool_calls) tool_calls.push_back(std::move(c));
  for (auto& w : other.warnings) warnings.push_back(std::move(w));
}

bool parse_dsml_block(std::string_view s, std::vector<ToolCall>& calls, std::string& error) {
  std::vector<ToolCall> parsed;
  if (!consume(s, kBlockStart)) {
    error = "the block does not start with <｜DSML｜tool_calls>";
    return false;
  }
  while (true) {
    skip_newlines(s);
    if (consume(s, kBlockEnd)) break;
    if (!consume(s, kInvokeOpen)) {
      error = "expected <｜DSML｜invoke name=\"...\"> or </｜DSML｜tool_calls>";
      return false;
    }
    ToolCall call;
    if (!read_until(s, "\">", call.name) || call.name.empty() || call.name.find('"') != std::string::npos ||
        call.name.find('\n') != std::string::npos) {
      error = "bad invoke name";
      return false;
    }
    std::string args = "{";
    std::set<std::string> seen;
    while (true) {
      skip_newlines(s);
      if (consume(s, kInvokeClose)) break;
      if (!consume(s, kParamOpen)) {
        error = "expected <｜DSML｜parameter ...> or </｜DSML｜invoke> in call '" + call.name + "'";
        return false;
      }
      std::string key, flag, value;
      if (!read_until(s, "\" string=\"", key) || key.find('"') != std::string::npos ||
          !read_until(s, "\">", flag) || (flag != "true" && flag != "false") || !read_until(s, kParamClose, value)) {
        error = "bad parameter tag in call '" + call.name + "'";
        return false;
      }
      if (!seen.insert(key).second) {
        error = "duplicate parameter '" + key + "' in call '" + call.name + "'";
        return false;
      }
      if (flag == "false" && !valid_json(value)) {
        error = "parameter '" + key + "' has string=\"false\" but its value is not JSON";
        return false;
      }
      if (args.size() > 1) args += ", ";
      args += python_json_string(key) + ": " + (flag == "true" ? python_json_string(value) : value);
    }
    args += "}";
    call.arguments = std::move(args);
    parsed.push_back(std::move(call));
  }
  if (!s.empty()) {
    error = "text after </｜DSML｜tool_calls> inside the block";
    return false;
  }
  if (parsed.empty()) {  // the encoder never writes an empty block; keep the text rather than lose it
    error = "a tool-call block without any invoke";
    return false;
  }
  for (auto& c : parsed) calls.push_back(std::move(c));
  return true;
}

CompletionParser::CompletionParser(ThinkingMode mode, bool tool_calls)
    : state_(mode == ThinkingMode::kThinking ? State::kReasoning : State::kContent), tool_calls_(tool_calls) {}

CompletionDelta CompletionParser::feed(std::string_view text) {
  CompletionDelta out;
  if (state_ == State::kEnded) {
    if (!text.empty()) out.warnings.push_back("text after the end of sentence was ignored");
    return out;
  }
  buffer_.append(text);
  step(out, false);
  return out;
}

CompletionDelta CompletionParser::finish() {
  CompletionDelta out;
  step(out, true);
  return out;
}

void CompletionParser::step(CompletionDelta& out, bool final) {
  while (true) {
    std::string_view buf = buffer_;
    switch (state_) {
      case State::kEnded:
        if (!buffer_.empty()) out.warnings.push_back("text after the end of sentence was ignored");
        buffer_.clear();
        return;
      case State::kReasoning: {
        const size_t close = buf.find(kThinkEnd);
        const size_t eos = buf.find(kEosText);
        if (close != std::string_view::npos && (eos == std::string_view::npos || close < eos)) {
          out.reasoning.append(buf.substr(0, close));
          buffer_.erase(0, close + kThinkEnd.size());
          state_ = State::kContent;
          continue;
        }
        if (eos != std::string_view::npos) {
          out.reasoning.append(buf.substr(0, eos));
          out.warnings.push_back("the completion ended inside the reasoning (no </think>)");
          buffer_.erase(0, eos + kEosText.size());
          state_ = State::kEnded;
          continue;
        }
        const size_t hold = final ? 0 : std::max(partial_suffix(buf, kThinkEnd), partial_suffix(buf, kEosText));
        out.reasoning.append(buf.substr(0, buf.size() - hold));
        buffer_.erase(0, buf.size() - hold);
        if (final && state_ == State::kReasoning)
          out.warnings.push_back("the completion has no </think>: all of it was taken as reasoning");
        return;
      }
      case State::kContent:
      case State::kAfterTools: {
        const size_t block = tool_calls_ ? buf.find(kBlockMarker) : std::string_view::npos;
        const size_t eos = buf.find(kEosText);
        if (block != std::string_view::npos && (eos == std::string_view::npos || block < eos)) {
          if (state_ == State::kAfterTools && block > 0)
            out.warnings.push_back("text between tool-call blocks was kept as content");
          out.content.append(buf.substr(0, block));
          buffer_.erase(0, block);
          state_ = State::kToolBlock;
          continue;
        }
        if (eos != std::string_view::npos) {
          if (state_ == State::kAfterTools && eos > 0)
            out.warnings.push_back("text after the tool calls was kept as content");
          out.content.append(buf.substr(0, eos));
          buffer_.erase(0, eos + kEosText.size());
          state_ = State::kEnded;
          continue;
        }
        const size_t hold =
            final ? 0 : std::max(tool_calls_ ? partial_suffix(buf, kBlockMarker) : 0, partial_suffix(buf, kEosText));
        if (state_ == State::kAfterTools && buf.size() > hold)
          out.warnings.push_back("text after the tool calls was kept as content");
        out.content.append(buf.substr(0, buf.size() - hold));
        buffer_.erase(0, buf.size() - hold);
        return;
      }
      case State::kToolBlock: {
        const size_t end = buf.find(kBlockEnd);
        const size_t eos = buf.find(kEosText);
        if (end != std::string_view::npos && (eos == std::string_view::npos || end < eos)) {
          const size_t len = end + kBlockEnd.size();
          std::string error;
          if (parse_dsml_block(buf.substr(0, len), out.tool_calls, error)) {
            state_ = State::kAfterTools;
          } else {
            out.warnings.push_back("malformed DSML tool calls kept as content: " + error);
            out.content.append(buf.substr(0, len));
            state_ = State::kContent;
          }
          buffer_.erase(0, len);
          continue;
        }
        if (eos != std::string_view::npos || final) {
          const size_t len = eos != std::string_view::npos ? eos : buf.size();
          out.warnings.push_back("truncated DSML tool calls (no </｜DSML｜tool_calls>) kept as content");
          out.content.append(buf.substr(0, len));
          buffer_.erase(0, len);
          state_ = State::kContent;
          if (eos == std::string_view::npos) return;
          continue;
        }
        return;  // wait for the rest of the block
      }
    }
  }
}

CompletionDelta parse_completion(std::string_view text, ThinkingMode mode) {
  CompletionParser parser(mode);
  CompletionDelta out = parser.feed(text);
  out.append(parser.finish());
  return out;
}

}  // namespace dsv4::chat
