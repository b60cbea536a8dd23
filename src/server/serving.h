// What the API handlers share: the served model, its tokenizer, the engine driver and the
// metrics; turning a prompt into engine requests (one per choice); timing one API call for the
// metrics and the request log; small JSON response helpers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/engine_driver.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/request_parser.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::server {

struct ServingContext {
  std::string model_name;
  std::string model_dir;
  int64_t max_model_len = 0;
  int64_t vocab_size = 0;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;  // null: token-id prompts only
  std::optional<uint32_t> think_close_id;                 // "</think>"
  std::shared_ptr<const structured::TokenTrie> vocabulary;  // response_format, tool_choice (null without a tokenizer)
  EngineDriver* driver = nullptr;
  Metrics* metrics = nullptr;
  bool log_requests = true;
};

using Clock = std::chrono::steady_clock;

const tokenizer::Tokenizer& require_tokenizer(const ServingContext& ctx, const char* what);
std::vector<int32_t> tokenize(const ServingContext& ctx, const std::string& text);

// One engine request per choice: max_tokens resolved against max_model_len, logprobs set, the
// response format or the forced tool call's constraint attached; a seeded request gives choice
// i the seed + i.
std::vector<GenerationRequest> make_choices(const ServingContext& ctx, const std::vector<int32_t>& prompt,
                                            const GenerationSettings& gen, int logprobs, const std::string& prompt_field);

// Timing of one API call (arrival, first and last token of each choice) feeding the metrics.
class CallClock {
 public:
  CallClock(const ServingContext& ctx, size_t choices);
  void token(size_t choice);
  void finished(size_t choice, int64_t prompt_tokens, int64_t generated, const std::string& reason);
  double ttft() const;  // seconds to the first token of any choice (-1 when none came)
  double elapsed() const;

 private:
  const ServingContext& ctx_;
  Clock::time_point start_;
  std::vector<std::optional<Clock::time_point>> last_;
  std::optional<Clock::time_point> first_;
};

// Waits for the events of one call while watching its client: a handler with nothing to write
// yet (a non-streaming answer, a stream whose request is queued or in prefill) asks the
// connection every kClientPoll whether the client is still there.
class EventWait {
 public:
  static constexpr std::chrono::milliseconds kClientPoll{100};
  EventWait(RequestChannel& channel, std::function<bool()> client_gone);
  // The next event; false when the client has gone: the channel is then cancelled, and the
  // driver drops its engine requests (and frees their cache) before the next step.
  bool next(ChoiceEvent& e);

 private:
  RequestChannel& channel_;
  std::function<bool()> client_gone_;
  Clock::time_point next_check_;
};

// "stop" / "length" (chat: "tool_calls" when the answer ends in tool calls).
std::string finish_reason(const GenerationResult& r, bool tool_calls);

// cached_tokens: prompt tokens served by the prefix cache (prompt_tokens_details.cached_tokens).
nlohmann::json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t reasoning_tokens,
                          int64_t cached_tokens = 0);
HttpResponse json_response(int status, const Json& body);
int64_t unix_time();
void log_request(const ServingContext& ctx, const std::string& what, int status, const std::string& id,
                 int64_t prompt_tokens, int64_t completion_tokens, const CallClock& clock);

}  // namespace dsv4::server
