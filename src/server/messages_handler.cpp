// POST /v1/messages: Anthropic's Messages API over the same engine and chat encoding: content
// blocks (thinking, text, tool_use), stop_reason (end_turn, max_tokens, stop_sequence,
// tool_use), and the streaming events Anthropic sends (message_start, content_block_start /
// _delta / _stop, message_delta, message_stop).
#include <memory>

#include "server/api_error.h"
#include "server/api_handlers.h"
#include "server/chat_choice.h"
#include "server/sse.h"

namespace dsv4::server {

namespace {

struct MessagesCall {
  const ServingContext& ctx;
  std::shared_ptr<RequestChannel> channel;
  std::string id, model;
  int64_t prompt_tokens = 0;
  std::vector<std::string> stops;
  std::unique_ptr<ChatChoice> choice;
  std::optional<GenerationResult> result;
  std::string error;
  CallClock clock;
  bool open = true;
  // Streaming: the open content block.
  enum class Block { None, Thinking, Text };
  Block block = Block::None;
  int index = -1;

  explicit MessagesCall(const ServingContext& c) : ctx(c), clock(c, 1) {}
  ~MessagesCall() {
    if (channel) channel->cancel();
  }

  std::string stop_reason() const {
    if (!result) return "end_turn";
    if (result->finish == FinishReason::Length) return "max_tokens";
    if (!choice->tool_calls().empty()) return "tool_use";
    if (!result->stop.empty()) return "stop_sequence";
    return "end_turn";
  }
  void abandon(const char* what) {
    if (open) clock.finished(0, prompt_tokens, choice->tokens(), "abort");
    log_request(ctx, what, 499, id, prompt_tokens, choice->tokens(), clock);
  }

  Json stop_sequence() const { return result && !result->stop.empty() ? Json(result->stop) : Json(nullptr); }
  Json usage(int64_t output_tokens) const {
    return {{"input_tokens", prompt_tokens}, {"output_tokens", output_tokens}, {"cache_creation_input_tokens", 0},
            {"cache_read_input_tokens", result ? result->cached_tokens : 0}};
  }

  static Json tool_use_block(const ToolCallOut& t) {
    Json input = Json::object();
    try {
      input = Json::parse(t.arguments);
    } catch (const Json::parse_error&) {
    }
    return {{"type", "tool_use"}, {"id", "toolu_" + t.id.substr(5)}, {"name", t.name}, {"input", input}};
  }

  Json whole_response() const {
    Json content = Json::array();
    if (choice->thinking() && !choice->reasoning().empty())
      content.push_back({{"type", "thinking"}, {"thinking", choice->reasoning()}, {"signature", ""}});
    if (!choice->content().empty() || choice->tool_calls().empty())
      content.push_back({{"type", "text"}, {"text", choice->content()}});
    for (const ToolCallOut& t : choice->tool_calls()) content.push_back(tool_use_block(t));
    return {{"id", id}, {"type", "message"}, {"role", "assistant"}, {"model", model}, {"content", content},
            {"stop_reason", stop_reason()}, {"stop_sequence", stop_sequence()}, {"usage", usage(choice->tokens())}};
  }

  // Streaming: the events one delta makes.
  void close_block(std::vector<std::pair<std::string, Json>>& out) {
    if (block == Block::None) return;
    if (block == Block::Thinking)
      out.push_back({"content_block_delta", {{"type", "content_block_delta"}, {"index", index},
                                             {"delta", {{"type", "signature_delta"}, {"signature", ""}}}}});
    out.push_back({"content_block_stop", {{"type", "content_block_stop"}, {"index", index}}});
    block = Block::None;
  }
  void open_block(Block b, const Json& start, std::vector<std::pair<std::string, Json>>& out) {
    close_block(out);
    ++index;
    block = b;
    out.push_back({"content_block_start", {{"type", "content_block_start"}, {"index", index}, {"content_block", start}}});
  }
  void events_of(const Json& delta, std::vector<std::pair<std::string, Json>>& out) {
    if (delta.contains("reasoning_content")) {
      if (block != Block::Thinking) open_block(Block::Thinking, {{"type", "thinking"}, {"thinking", ""}}, out);
      out.push_back({"content_block_delta", {{"type", "content_block_delta"}, {"index", index},
                                             {"delta", {{"type", "thinking_delta"}, {"thinking", delta["reasoning_content"]}}}}});
    }
    if (delta.contains("content")) {
      if (block != Block::Text) open_block(Block::Text, {{"type", "text"}, {"text", ""}}, out);
      out.push_back({"content_block_delta", {{"type", "content_block_delta"}, {"index", index},
                                             {"delta", {{"type", "text_delta"}, {"text", delta["content"]}}}}});
    }
    if (delta.contains("tool_calls")) {
      for (const Json& c : delta["tool_calls"]) {
        const ToolCallOut& t = choice->tool_calls().at(c["index"].get<size_t>());
        Json start = tool_use_block(t);
        start["input"] = Json::object();
        open_block(Block::None, start, out);
        out.push_back({"content_block_delta", {{"type", "content_block_delta"}, {"index", index},
                                               {"delta", {{"type", "input_json_delta"},
                                                          {"partial_json", dump_json(tool_use_block(t)["input"])}}}}});
        out.push_back({"content_block_stop", {{"type", "content_block_stop"}, {"index", index}}});
      }
    }
  }

  std::vector<std::pair<std::string, Json>> apply(ChoiceEvent& e) {
    std::vector<std::pair<std::string, Json>> out;
    if (e.kind == ChoiceEvent::Kind::Token) {
      clock.token(0);
      events_of(choice->push(e.token), out);
    } else if (e.kind == ChoiceEvent::Kind::Finished) {
      events_of(choice->finish(), out);
      result = std::move(e.result);
      clock.finished(0, prompt_tokens, int64_t(result->ids.size()), finish_reason(*result, false));
      open = false;
    } else {
      error = e.error;
      clock.finished(0, prompt_tokens, choice->tokens(), e.error.rfind("aborted", 0) == 0 ? "abort" : "error");
      open = false;
    }
    return out;
  }
};

}  // namespace

HttpResponse handle_messages(const ServingContext& ctx, const HttpRequest& request) {
  const Json body = parse_json_body(request.body);
  MessagesRequest req = parse_messages_request(body);
  const tokenizer::Tokenizer& tok = require_tokenizer(ctx, "messages");
  const std::vector<int32_t> prompt = tokenize(ctx, render_chat_prompt(req.messages, req.encode));
  std::vector<GenerationRequest> engine_requests = make_choices(ctx, prompt, req.gen, -1, "messages");

  auto call = std::make_shared<MessagesCall>(ctx);
  call->id = new_response_id("msg_");
  call->model = req.gen.model.empty() ? ctx.model_name : req.gen.model;
  call->prompt_tokens = int64_t(prompt.size());
  call->choice = std::make_unique<ChatChoice>(tok, req.encode.mode, req.gen.params.stop_strings, -1, ctx.think_close_id,
                                              req.parse_tool_calls);
  call->channel = ctx.driver->submit(std::move(engine_requests));

  if (!req.gen.stream) {
    EventWait wait(*call->channel, request.client_gone);
    ChoiceEvent e;
    while (call->open) {
      if (!wait.next(e)) {
        call->abandon("messages (client gone)");
        throw ApiError(499, "the client closed the connection");
      }
      call->apply(e);
    }
    if (!call->error.empty()) throw ApiError(call->error.rfind("aborted", 0) == 0 ? 503 : 500, call->error);
    log_request(ctx, "messages", 200, call->id, call->prompt_tokens, call->choice->tokens(), call->clock);
    return json_response(200, call->whole_response());
  }

  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.stream = [call, gone = request.client_gone](StreamSink& sink) {
    auto send = [&](const std::string& name, const Json& data) { return sink.write(sse_event(name, dump_json(data))); };
    const Json start{{"type", "message_start"},
                     {"message", {{"id", call->id}, {"type", "message"}, {"role", "assistant"}, {"model", call->model},
                                  {"content", Json::array()}, {"stop_reason", nullptr}, {"stop_sequence", nullptr},
                                  {"usage", call->usage(0)}}}};
    if (!send("message_start", start) || !send("ping", Json{{"type", "ping"}})) return;
    EventWait wait(*call->channel, gone);
    ChoiceEvent e;
    while (call->open) {
      if (!wait.next(e)) return call->abandon("messages stream (client gone)");
      for (const auto& [name, data] : call->apply(e))
        if (!send(name, data)) return;
    }
    if (!call->error.empty()) {
      send("error", ApiError(500, call->error).anthropic_json());
      return;
    }
    std::vector<std::pair<std::string, Json>> tail;
    call->close_block(tail);
    for (const auto& [name, data] : tail)
      if (!send(name, data)) return;
    if (!send("message_delta", {{"type", "message_delta"},
                                {"delta", {{"stop_reason", call->stop_reason()}, {"stop_sequence", call->stop_sequence()}}},
                                {"usage", {{"output_tokens", call->choice->tokens()}}}}))
      return;
    send("message_stop", Json{{"type", "message_stop"}});
    log_request(call->ctx, "messages stream", 200, call->id, call->prompt_tokens, call->choice->tokens(), call->clock);
  };
  return res;
}

}  // namespace dsv4::server
