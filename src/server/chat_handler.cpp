// POST /v1/chat/completions: OpenAI chat completions over the DeepSeek-V4 chat encoding.
#include <algorithm>
#include <memory>

#include "server/api_error.h"
#include "server/api_handlers.h"
#include "server/chat_choice.h"
#include "server/sse.h"

namespace dsv4::server {

namespace {

struct ChatCall {
  const ServingContext& ctx;
  std::shared_ptr<RequestChannel> channel;
  std::string id, model;
  int64_t created = unix_time();
  int64_t prompt_tokens = 0;
  bool include_usage = false, logprobs = false;
  std::vector<ChatChoice> choices;
  std::vector<std::optional<GenerationResult>> results;
  std::string error;
  CallClock clock;
  size_t open = 0;
  std::vector<uint8_t> closed;

  ChatCall(const ServingContext& c, size_t n) : ctx(c), clock(c, n), open(n), closed(n, 0) {}
  ~ChatCall() {
    if (channel) channel->cancel();
  }  // a client that left: the driver drops what is still running

  Json chunk(size_t choice, Json delta, const Json& finish) {
    Json c{{"index", choice}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", finish}};
    if (logprobs) {
      Json lp = choices[choice].take_logprobs();
      if (!lp.empty()) c["logprobs"] = Json{{"content", lp}};
    }
    Json out{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
             {"system_fingerprint", nullptr}, {"choices", Json::array({c})}};
    if (include_usage) out["usage"] = nullptr;
    return out;
  }

  // Applies one event; returns the chunks it produces (streaming).
  std::vector<Json> apply(ChoiceEvent& e) {
    std::vector<Json> out;
    const size_t c = size_t(e.choice);
    ChatChoice& ch = choices[c];
    if (e.kind == ChoiceEvent::Kind::Token) {
      clock.token(c);
      Json d = ch.push(e.token);
      if (!d.empty()) out.push_back(chunk(c, std::move(d), nullptr));
    } else if (e.kind == ChoiceEvent::Kind::Finished) {
      Json d = ch.finish();
      const std::string reason = finish_reason(e.result, !ch.tool_calls().empty());
      if (!d.empty()) out.push_back(chunk(c, std::move(d), nullptr));
      out.push_back(chunk(c, Json::object(), reason));
      clock.finished(c, prompt_tokens, int64_t(e.result.ids.size()), reason == "tool_calls" ? "stop" : reason);
      results[c] = std::move(e.result);
      closed[c] = 1;
      --open;
    } else {
      error = e.error;
      clock.finished(c, prompt_tokens, ch.tokens(), e.error.rfind("aborted", 0) == 0 ? "abort" : "error");
      closed[c] = 1;
      --open;
    }
    for (const std::string& w : ch.take_warnings()) std::fprintf(stderr, "[serve] %s: %s\n", id.c_str(), w.c_str());
    return out;
  }

  // The client left before the end: the choices still open are aborted (the channel is cancelled).
  void abandon(const char* what) {
    for (size_t c = 0; c < choices.size(); ++c)
      if (!closed[c]) clock.finished(c, prompt_tokens, choices[c].tokens(), "abort");
    log_request(ctx, what, 499, id, prompt_tokens, completion_tokens(), clock);
  }

  int64_t completion_tokens() const {
    int64_t n = 0;
    for (const ChatChoice& ch : choices) n += ch.tokens();
    return n;
  }
  int64_t reasoning_tokens() const {
    int64_t n = 0;
    for (const ChatChoice& ch : choices) n += ch.reasoning_tokens();
    return n;
  }
  // The prompt is one for all n choices: its cached part is the best any choice found.
  int64_t cached_tokens() const {
    int64_t n = 0;
    for (const auto& r : results)
      if (r) n = std::max(n, r->cached_tokens);
    return n;
  }
  nlohmann::json usage() const {
    return usage_json(prompt_tokens, completion_tokens(), reasoning_tokens(), cached_tokens());
  }

  Json whole_response() const {
    Json list = Json::array();
    for (size_t c = 0; c < choices.size(); ++c) {
      const ChatChoice& ch = choices[c];
      Json message{{"role", "assistant"}, {"content", ch.content()}};
      message["reasoning_content"] = ch.thinking() ? Json(ch.reasoning()) : Json(nullptr);
      if (!ch.tool_calls().empty()) {
        if (ch.content().empty()) message["content"] = nullptr;
        Json calls = Json::array();
        for (const ToolCallOut& t : ch.tool_calls())
          calls.push_back({{"id", t.id}, {"type", "function"}, {"function", {{"name", t.name}, {"arguments", t.arguments}}}});
        message["tool_calls"] = calls;
      }
      Json choice{{"index", c}, {"message", message}, {"logprobs", nullptr},
                  {"finish_reason", finish_reason(*results[c], !ch.tool_calls().empty())}};
      if (!results[c]->stop.empty()) choice["stop_reason"] = results[c]->stop;
      if (logprobs) choice["logprobs"] = Json{{"content", ch.all_logprobs()}};
      list.push_back(choice);
    }
    return Json{{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
                {"system_fingerprint", nullptr}, {"choices", list}, {"usage", usage()}};
  }
};

}  // namespace

HttpResponse handle_chat_completions(const ServingContext& ctx, const HttpRequest& request) {
  const Json body = parse_json_body(request.body);
  ChatRequest req = parse_chat_request(body);
  const tokenizer::Tokenizer& tok = require_tokenizer(ctx, "chat completions");
  const std::vector<int32_t> prompt = tokenize(ctx, render_chat_prompt(req.messages, req.encode));
  const int logprobs = req.logprobs ? req.top_logprobs : -1;
  std::vector<GenerationRequest> engine_requests = make_choices(ctx, prompt, req.gen, logprobs, "messages");

  auto call = std::make_shared<ChatCall>(ctx, size_t(req.gen.n));
  call->id = new_response_id("chatcmpl-");
  call->model = ctx.model_name;
  call->prompt_tokens = int64_t(prompt.size());
  call->include_usage = req.gen.include_usage;
  call->logprobs = req.logprobs;
  for (int i = 0; i < req.gen.n; ++i) {
    call->choices.emplace_back(tok, req.encode.mode, req.gen.params.stop_strings, logprobs, ctx.think_close_id,
                               req.parse_tool_calls);
    call->results.emplace_back();
  }
  call->channel = ctx.driver->submit(std::move(engine_requests));

  if (!req.gen.stream) {
    EventWait wait(*call->channel, request.client_gone);
    ChoiceEvent e;
    while (call->open > 0) {
      if (!wait.next(e)) {
        call->abandon("chat (client gone)");
        throw ApiError(499, "the client closed the connection");
      }
      call->apply(e);
    }
    if (!call->error.empty()) throw ApiError(call->error.rfind("aborted", 0) == 0 ? 503 : 500, call->error);
    log_request(ctx, "chat", 200, call->id, call->prompt_tokens, call->completion_tokens(), call->clock);
    return json_response(200, call->whole_response());
  }

  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.stream = [call, gone = request.client_gone](StreamSink& sink) {
    for (size_t c = 0; c < call->choices.size(); ++c)
      if (!sink.write(sse_data(dump_json(call->chunk(c, Json{{"role", "assistant"}, {"content", ""}}, nullptr))))) return;
    EventWait wait(*call->channel, gone);
    ChoiceEvent e;
    while (call->open > 0) {
      if (!wait.next(e)) return call->abandon("chat stream (client gone)");
      for (const Json& chunk : call->apply(e))
        if (!sink.write(sse_data(dump_json(chunk)))) return;  // the client left: ~ChatCall cancels
    }
    if (!call->error.empty()) {
      sink.write(sse_data(dump_json(ApiError(500, call->error).openai_json())));
    } else if (call->include_usage) {
      Json u{{"id", call->id}, {"object", "chat.completion.chunk"}, {"created", call->created}, {"model", call->model},
             {"system_fingerprint", nullptr}, {"choices", Json::array()}, {"usage", call->usage()}};
      if (!sink.write(sse_data(dump_json(u)))) return;
    }
    sink.write("data: [DONE]\n\n");
    log_request(call->ctx, "chat stream", 200, call->id, call->prompt_tokens, call->completion_tokens(), call->clock);
  };
  return res;
}

}  // namespace dsv4::server
