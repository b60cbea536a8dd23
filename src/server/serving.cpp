#include "server/serving.h"

#include <cstdio>
#include <ctime>

#include "server/api_error.h"

namespace dsv4::server {

const tokenizer::Tokenizer& require_tokenizer(const ServingContext& ctx, const char* what) {
  if (!ctx.tokenizer)
    throw ApiError(400, fmt::format("{} need a tokenizer, and {} has no tokenizer.json: send token ids to /v1/completions",
                                    what, ctx.model_dir));
  return *ctx.tokenizer;
}

std::vector<int32_t> tokenize(const ServingContext& ctx, const std::string& text) {
  const tokenizer::Tokenizer& tok = require_tokenizer(ctx, "text prompts");
  std::vector<int32_t> ids;
  for (uint32_t id : tok.encode(text)) ids.push_back(int32_t(id));
  return ids;
}

std::vector<GenerationRequest> make_choices(const ServingContext& ctx, const std::vector<int32_t>& prompt,
                                            const GenerationSettings& gen, int logprobs, const std::string& prompt_field) {
  if (prompt.empty()) bad_request(prompt_field, "the prompt is empty");
  for (int32_t id : prompt)
    if (id < 0 || id >= ctx.vocab_size) bad_request(prompt_field, "token id {} is outside the vocabulary [0, {})", id, ctx.vocab_size);
  GenerationRequest g{prompt, gen.params};
  g.params.max_tokens = resolve_max_tokens(gen, int64_t(prompt.size()), ctx.max_model_len, prompt_field);
  g.params.logprobs = logprobs;
  attach_response_format(gen.response_format, ctx.vocabulary, g);
  if (gen.tool_choice.forced()) g.params.constraint = tool_choice_constraint(gen.tool_choice, ctx.vocabulary, ctx.think_close_id);
  std::vector<GenerationRequest> out;
  for (int i = 0; i < gen.n; ++i) {
    out.push_back(g);
    if (g.params.seed) out.back().params.seed = *g.params.seed + uint64_t(i);
  }
  return out;
}

CallClock::CallClock(const ServingContext& ctx, size_t choices) : ctx_(ctx), start_(Clock::now()), last_(choices) {}

void CallClock::token(size_t choice) {
  const Clock::time_point now = Clock::now();
  if (choice >= last_.size()) return;
  if (!last_[choice]) {
    if (ctx_.metrics) ctx_.metrics->observe_first_token(std::chrono::duration<double>(now - start_).count());
  } else if (ctx_.metrics) {
    ctx_.metrics->observe_inter_token(std::chrono::duration<double>(now - *last_[choice]).count());
  }
  last_[choice] = now;
  if (!first_) first_ = now;
}

void CallClock::finished(size_t, int64_t prompt_tokens, int64_t generated, const std::string& reason) {
  if (ctx_.metrics) ctx_.metrics->observe_finished(elapsed(), prompt_tokens, generated, reason);
}

double CallClock::ttft() const { return first_ ? std::chrono::duration<double>(*first_ - start_).count() : -1.0; }
double CallClock::elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

EventWait::EventWait(RequestChannel& channel, std::function<bool()> client_gone)
    : channel_(channel), client_gone_(std::move(client_gone)), next_check_(Clock::now() + kClientPoll) {}

bool EventWait::next(ChoiceEvent& e) {
  for (;;) {
    const bool got = channel_.pop(e, kClientPoll);
    if (client_gone_ && Clock::now() >= next_check_) {
      next_check_ = Clock::now() + kClientPoll;
      if (client_gone_()) {
        channel_.cancel();
        return false;
      }
    }
    if (got) return true;
  }
}

std::string finish_reason(const GenerationResult& r, bool tool_calls) {
  if (r.finish == FinishReason::Length) return "length";
  return tool_calls ? "tool_calls" : "stop";
}

nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t reasoning_tokens,
                          int64_t cached_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}},
          {"completion_tokens_details", {{"reasoning_tokens", reasoning_tokens}}}};
}

HttpResponse json_response(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = dump_json(body);
  return r;
}

int64_t unix_time() { return int64_t(std::time(nullptr)); }

void log_request(const ServingContext& ctx, const std::string& what, int status, const std::string& id,
                 int64_t prompt_tokens, int64_t completion_tokens, const CallClock& clock) {
  if (!ctx.log_requests) return;
  const double e2e = clock.elapsed(), ttft = clock.ttft();
  std::fprintf(stderr, "[serve] %s %d %s prompt=%lld completion=%lld ttft=%.3fs e2e=%.3fs%s\n", what.c_str(), status,
               id.c_str(), static_cast<long long>(prompt_tokens), static_cast<long long>(completion_tokens),
               ttft < 0 ? 0.0 : ttft, e2e,
               completion_tokens > 1 && ttft >= 0
                   ? fmt::format(" tpot={:.4f}s", (e2e - ttft) / double(completion_tokens - 1)).c_str()
                   : "");
}

}  // namespace dsv4::server
