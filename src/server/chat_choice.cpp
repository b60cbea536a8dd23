#include "server/chat_choice.h"

#include <fmt/format.h>

#include <random>

namespace dsv4::server {

namespace {

std::string random_hex(int digits) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  while (int(out.size()) < digits) out += fmt::format("{:016x}", rng());
  out.resize(size_t(digits));
  return out;
}

}  // namespace

std::string new_tool_call_id() { return "call_" + random_hex(24); }
std::string new_response_id(const std::string& prefix) { return prefix + random_hex(24); }

std::string token_text(const tokenizer::Tokenizer& tokenizer, int32_t id) {
  if (id < 0 || uint32_t(id) >= tokenizer.id_bound()) return {};
  std::string out;
  tokenizer.append_token_bytes(uint32_t(id), out);
  return out;
}

Json token_bytes(const std::string& text) {
  Json b = Json::array();
  for (unsigned char c : text) b.push_back(int(c));
  return b;
}

ChatChoice::ChatChoice(const tokenizer::Tokenizer& tokenizer, chat::ThinkingMode mode, std::vector<std::string> stops,
                       int top_logprobs, std::optional<uint32_t> think_close, bool tool_calls)
    : tokenizer_(tokenizer), mode_(mode), stream_(tokenizer, mode, tool_calls), trimmer_(std::move(stops)),
      top_logprobs_(top_logprobs), think_close_(think_close) {
  reasoning_done_ = mode_ != chat::ThinkingMode::kThinking;
}

Json ChatChoice::push(const SampledToken& t) {
  ++tokens_;
  if (!reasoning_done_) {
    ++reasoning_tokens_;
    if (think_close_ && uint32_t(t.id) == *think_close_) reasoning_done_ = true;
  }
  if (top_logprobs_ >= 0) {
    const std::string text = token_text(tokenizer_, t.id);
    Json entry{{"token", text}, {"logprob", t.logprob}, {"bytes", token_bytes(text)}, {"top_logprobs", Json::array()}};
    for (size_t i = 0; i < t.top.size() && int(i) < top_logprobs_; ++i) {
      const std::string alt = token_text(tokenizer_, t.top[i].id);
      entry["top_logprobs"].push_back({{"token", alt}, {"logprob", t.top[i].logprob}, {"bytes", token_bytes(alt)}});
    }
    pending_logprobs_.push_back(entry);
    all_logprobs_.push_back(entry);
  }
  return delta_of(stream_.push(uint32_t(t.id)), false);
}

Json ChatChoice::finish() { return delta_of(stream_.finish(), true); }

Json ChatChoice::take_logprobs() {
  Json out = Json::array();
  out.swap(pending_logprobs_);
  return out;
}

std::vector<std::string> ChatChoice::take_warnings() {
  std::vector<std::string> out;
  out.swap(warnings_);
  return out;
}

Json ChatChoice::delta_of(chat::CompletionDelta&& d, bool final) {
  Json delta = Json::object();
  if (!d.reasoning.empty()) {
    reasoning_ += d.reasoning;
    delta["reasoning_content"] = d.reasoning;
  }
  std::string content = trimmer_.push(d.content);
  if (final) content += trimmer_.finish();
  if (!content.empty()) {
    content_ += content;
    delta["content"] = content;
  }
  if (!trimmer_.stopped()) {
    for (chat::ToolCall& c : d.tool_calls) {
      ToolCallOut out{new_tool_call_id(), std::move(c.name), std::move(c.arguments)};
      if (!delta.contains("tool_calls")) delta["tool_calls"] = Json::array();
      delta["tool_calls"].push_back({{"index", calls_.size()},
                                     {"id", out.id},
                                     {"type", "function"},
                                     {"function", {{"name", out.name}, {"arguments", out.arguments}}}});
      calls_.push_back(std::move(out));
    }
  }
  for (std::string& w : d.warnings) warnings_.push_back(std::move(w));
  return delta;
}

}  // namespace dsv4::server
