// POST /v1/completions: OpenAI (legacy) completions; prompts as text or token ids, one choice
// per prompt x n; logprobs in the completions format ({tokens, token_logprobs, top_logprobs,
// text_offset}). A model without tokenizer.json takes token-id prompts and answers with
// token_ids (its text is empty).
#include <memory>

#include "server/api_error.h"
#include "server/api_handlers.h"
#include "server/chat_choice.h"
#include "server/sse.h"
#include "server/stop_trimmer.h"
#include "tokenizer/detokenizer.h"

namespace dsv4::server {

namespace {

struct CompletionChoice {
  std::unique_ptr<tokenizer::StreamDetokenizer> detok;
  std::unique_ptr<StopTrimmer> trimmer;
  std::string text;                    // returned so far (after the echo)
  std::vector<int32_t> ids;
  Json tokens = Json::array(), token_logprobs = Json::array(), top_logprobs = Json::array(), offsets = Json::array();
  size_t sent_logprobs = 0;
  int64_t offset = 0;
  int64_t prompt_tokens = 0;
};

struct CompletionCall {
  const ServingContext& ctx;
  std::shared_ptr<RequestChannel> channel;
  std::string id, model;
  int64_t created = unix_time();
  int64_t prompt_tokens = 0;           // over all prompts
  bool include_usage = false, return_ids = false;
  int logprobs = -1;
  std::vector<CompletionChoice> choices;
  std::vector<std::optional<GenerationResult>> results;
  std::string error;
  CallClock clock;
  size_t open = 0;
  std::vector<uint8_t> closed;

  CompletionCall(const ServingContext& c, size_t n) : ctx(c), clock(c, n), open(n), closed(n, 0) {}
  // Prompt tokens served by the prefix cache, over all choices (as prompt_tokens counts them).
  int64_t cached_tokens() const {
    int64_t n = 0;
    for (const auto& r : results)
      if (r) n += r->cached_tokens;
    return n;
  }
  ~CompletionCall() {
    if (channel) channel->cancel();
  }

  std::string push_text(CompletionChoice& ch, const std::string& piece) {
    std::string out = ch.trimmer->push(piece);
    ch.text += out;
    return out;
  }

  void add_logprob(CompletionChoice& ch, const SampledToken& t) {
    const std::string text = ctx.tokenizer ? token_text(*ctx.tokenizer, t.id) : std::string();
    ch.tokens.push_back(ctx.tokenizer ? Json(text) : Json(fmt::format("token_id:{}", t.id)));
    ch.token_logprobs.push_back(t.logprob);
    Json top = Json::object();
    for (size_t i = 0; i < t.top.size() && int(i) < logprobs; ++i) {
      const std::string alt = ctx.tokenizer ? token_text(*ctx.tokenizer, t.top[i].id) : fmt::format("token_id:{}", t.top[i].id);
      top[alt] = t.top[i].logprob;
    }
    ch.top_logprobs.push_back(top);
    ch.offsets.push_back(ch.offset);
    ch.offset += int64_t(text.size());
  }

  Json logprobs_since(CompletionChoice& ch, size_t from) const {
    auto slice = [&](const Json& a) {
      Json out = Json::array();
      for (size_t i = from; i < a.size(); ++i) out.push_back(a[i]);
      return out;
    };
    return Json{{"tokens", slice(ch.tokens)}, {"token_logprobs", slice(ch.token_logprobs)},
                {"top_logprobs", slice(ch.top_logprobs)}, {"text_offset", slice(ch.offsets)}};
  }

  Json chunk(size_t c, const std::string& text, const Json& finish, const std::vector<int32_t>& new_ids) {
    CompletionChoice& ch = choices[c];
    Json choice{{"index", c}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish}};
    if (logprobs >= 0 && ch.sent_logprobs < ch.tokens.size()) {
      choice["logprobs"] = logprobs_since(ch, ch.sent_logprobs);
      ch.sent_logprobs = ch.tokens.size();
    }
    if (return_ids) choice["token_ids"] = new_ids;
    Json out{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
             {"system_fingerprint", nullptr}, {"choices", Json::array({choice})}};
    if (include_usage) out["usage"] = nullptr;
    return out;
  }

  std::vector<Json> apply(ChoiceEvent& e) {
    std::vector<Json> out;
    const size_t c = size_t(e.choice);
    CompletionChoice& ch = choices[c];
    if (e.kind == ChoiceEvent::Kind::Token) {
      clock.token(c);
      ch.ids.push_back(e.token.id);
      if (logprobs >= 0) add_logprob(ch, e.token);
      const std::string text = ch.detok ? push_text(ch, ch.detok->push(uint32_t(e.token.id))) : std::string();
      if (!text.empty() || return_ids || (logprobs >= 0 && !ctx.tokenizer)) out.push_back(chunk(c, text, nullptr, {e.token.id}));
    } else if (e.kind == ChoiceEvent::Kind::Finished) {
      std::string text;
      if (ch.detok) {
        text = push_text(ch, ch.detok->finish());
        const std::string rest = ch.trimmer->finish();
        ch.text += rest;
        text += rest;
      }
      const std::string reason = finish_reason(e.result, false);
      out.push_back(chunk(c, text, reason, {}));
      clock.finished(c, ch.prompt_tokens, int64_t(e.result.ids.size()), reason);
      results[c] = std::move(e.result);
      closed[c] = 1;
      --open;
    } else {
      error = e.error;
      clock.finished(c, ch.prompt_tokens, int64_t(ch.ids.size()), e.error.rfind("aborted", 0) == 0 ? "abort" : "error");
      closed[c] = 1;
      --open;
    }
    return out;
  }

  void abandon(const char* what) {
    for (size_t c = 0; c < choices.size(); ++c)
      if (!closed[c]) clock.finished(c, choices[c].prompt_tokens, int64_t(choices[c].ids.size()), "abort");
    log_request(ctx, what, 499, id, prompt_tokens, completion_tokens(), clock);
  }

  int64_t completion_tokens() const {
    int64_t n = 0;
    for (const CompletionChoice& ch : choices) n += int64_t(ch.ids.size());
    return n;
  }
};

}  // namespace

HttpResponse handle_completions(const ServingContext& ctx, const HttpRequest& request) {
  const Json body = parse_json_body(request.body);
  CompletionRequest req = parse_completion_request(body);
  std::vector<std::vector<int32_t>> prompts = req.id_prompts;
  for (const std::string& t : req.text_prompts) prompts.push_back(tokenize(ctx, t));
  std::vector<GenerationRequest> engine_requests;
  for (const auto& p : prompts) {
    std::vector<GenerationRequest> g = make_choices(ctx, p, req.gen, req.logprobs, "prompt");
    for (GenerationRequest& r : g) engine_requests.push_back(std::move(r));
  }
  const size_t n = engine_requests.size();
  auto call = std::make_shared<CompletionCall>(ctx, n);
  call->id = new_response_id("cmpl-");
  call->model = ctx.model_name;
  call->include_usage = req.gen.include_usage;
  call->return_ids = req.return_token_ids || !ctx.tokenizer;
  call->logprobs = req.logprobs;
  for (size_t i = 0; i < n; ++i) {
    const std::vector<int32_t>& p = prompts[i / size_t(req.gen.n)];
    CompletionChoice ch;
    ch.prompt_tokens = int64_t(p.size());
    if (ctx.tokenizer) {
      ch.detok = std::make_unique<tokenizer::StreamDetokenizer>(*ctx.tokenizer, /*skip_special=*/true);
      ch.trimmer = std::make_unique<StopTrimmer>(req.gen.params.stop_strings);
    }
    call->prompt_tokens += ch.prompt_tokens;
    call->choices.push_back(std::move(ch));
    call->results.emplace_back();
  }
  // The echo goes in front of the first text of each choice.
  std::vector<std::string> echo(n);
  if (req.echo && ctx.tokenizer)
    for (size_t i = 0; i < n; ++i) {
      const std::vector<int32_t>& p = prompts[i / size_t(req.gen.n)];
      echo[i] = ctx.tokenizer->decode(std::vector<uint32_t>(p.begin(), p.end()), true);
    }
  call->channel = ctx.driver->submit(std::move(engine_requests));

  if (!req.gen.stream) {
    EventWait wait(*call->channel, request.client_gone);
    ChoiceEvent e;
    while (call->open > 0) {
      if (!wait.next(e)) {
        call->abandon("completion (client gone)");
        throw ApiError(499, "the client closed the connection");
      }
      call->apply(e);
    }
    if (!call->error.empty()) throw ApiError(call->error.rfind("aborted", 0) == 0 ? 503 : 500, call->error);
    Json list = Json::array();
    for (size_t c = 0; c < n; ++c) {
      CompletionChoice& ch = call->choices[c];
      Json choice{{"index", c}, {"text", echo[c] + ch.text}, {"logprobs", nullptr},
                  {"finish_reason", finish_reason(*call->results[c], false)}};
      if (!call->results[c]->stop.empty()) choice["stop_reason"] = call->results[c]->stop;
      if (call->logprobs >= 0) choice["logprobs"] = call->logprobs_since(ch, 0);
      if (call->return_ids) choice["token_ids"] = ch.ids;
      list.push_back(choice);
    }
    log_request(ctx, "completion", 200, call->id, call->prompt_tokens, call->completion_tokens(), call->clock);
    return json_response(200, Json{{"id", call->id}, {"object", "text_completion"}, {"created", call->created},
                                   {"model", call->model}, {"system_fingerprint", nullptr}, {"choices", list},
                                   {"usage", usage_json(call->prompt_tokens, call->completion_tokens(), 0, call->cached_tokens())}});
  }

  HttpResponse res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.stream = [call, echo, gone = request.client_gone](StreamSink& sink) {
    for (size_t c = 0; c < echo.size(); ++c)
      if (!echo[c].empty() && !sink.write(sse_data(dump_json(call->chunk(c, echo[c], nullptr, {}))))) return;
    EventWait wait(*call->channel, gone);
    ChoiceEvent e;
    while (call->open > 0) {
      if (!wait.next(e)) return call->abandon("completion stream (client gone)");
      for (const Json& chunk : call->apply(e))
        if (!sink.write(sse_data(dump_json(chunk)))) return;
    }
    if (!call->error.empty()) {
      sink.write(sse_data(dump_json(ApiError(500, call->error).openai_json())));
    } else if (call->include_usage) {
      Json u{{"id", call->id}, {"object", "text_completion"}, {"created", call->created}, {"model", call->model},
             {"system_fingerprint", nullptr}, {"choices", Json::array()},
             {"usage", usage_json(call->prompt_tokens, call->completion_tokens(), 0, call->cached_tokens())}};
      if (!sink.write(sse_data(dump_json(u)))) return;
    }
    sink.write("data: [DONE]\n\n");
    log_request(call->ctx, "completion stream", 200, call->id, call->prompt_tokens, call->completion_tokens(), call->clock);
  };
  return res;
}

}  // namespace dsv4::server
