#include "server/request_parser.h"

#include <cctype>
#include <limits>

#include "core/error.h"
#include "server/api_error.h"

namespace dsv4::server {

namespace {

constexpr int kMaxChoices = 64;
constexpr int64_t kMaxTokensLimit = std::numeric_limits<int32_t>::max();

// SamplingParams::validate() messages start with the field's name.
[[noreturn]] void rethrow_validation(const Error& e) {
  const std::string& m = e.message();
  size_t end = 0;
  while (end < m.size() && (std::isalnum(static_cast<unsigned char>(m[end])) || m[end] == '_')) ++end;
  throw ApiError(400, m, m.substr(0, end));
}

void parse_sampling(const Json& body, GenerationSettings& g, const char* stop_key) {
  SamplingParams& p = g.params;
  if (auto v = get_number(body, "temperature")) p.temperature = float(*v);
  if (auto v = get_number(body, "top_p")) p.top_p = float(*v);
  if (auto v = get_int(body, "top_k")) {
    if (*v < -1 || *v > kMaxTokensLimit) bad_request("top_k", "'top_k' must be -1, 0 (off) or positive, got {}", *v);
    p.top_k = *v <= 0 ? 0 : int(*v);
  }
  if (auto v = get_number(body, "min_p")) p.min_p = float(*v);
  if (auto v = get_number(body, "presence_penalty")) p.presence_penalty = float(*v);
  if (auto v = get_number(body, "frequency_penalty")) p.frequency_penalty = float(*v);
  if (auto v = get_number(body, "repetition_penalty")) p.repetition_penalty = float(*v);
  if (auto v = get_int(body, "seed")) p.seed = uint64_t(*v);
  if (auto v = get_int_in(body, "min_tokens", 0, kMaxTokensLimit)) p.min_tokens = int(*v);
  if (auto v = get_bool(body, "ignore_eos")) p.ignore_eos = *v;
  p.stop_strings = get_string_list(body, stop_key);
  for (const std::string& s : p.stop_strings)
    if (s.empty()) bad_request(stop_key, "'{}' strings must not be empty", stop_key);
  if (const Json* ids = get_array(body, "stop_token_ids")) {
    for (const Json& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > kMaxTokensLimit)
        bad_request("stop_token_ids", "'stop_token_ids' must be a list of non-negative token ids");
      p.stop_token_ids.push_back(int32_t(id.get<int64_t>()));
    }
  }
  if (auto v = get_string(body, "model")) g.model = *v;
  g.stream = get_bool(body, "stream").value_or(false);
  if (const Json* so = get_object(body, "stream_options")) {
    if (!g.stream) bad_request("stream_options", "'stream_options' is only allowed with stream=true");
    g.include_usage = get_bool(*so, "include_usage", "stream_options").value_or(false);
  }
  if (auto v = get_int(body, "n")) {
    if (*v < 1 || *v > kMaxChoices) bad_request("n", "'n' must be in [1, {}], got {}", kMaxChoices, *v);
    g.n = int(*v);
  }
  if (auto v = get_int(body, "best_of"); v && *v != g.n) bad_request("best_of", "'best_of' other than n is not supported");
  if (const Json* lb = get_object(body, "logit_bias"); lb && !lb->empty())
    bad_request("logit_bias", "'logit_bias' is not supported");
  g.response_format = parse_response_format(body);
  // validate() checks max_tokens too: give it a placeholder that passes, the real value comes later.
  p.max_tokens = std::max(p.min_tokens, 1);
  try {
    p.validate();
  } catch (const Error& e) {
    rethrow_validation(e);
  }
}

std::optional<int64_t> parse_max_tokens(const Json& body, int64_t lo) {
  std::optional<int64_t> v = get_int(body, "max_completion_tokens");
  if (!v) v = get_int(body, "max_tokens");
  if (v && (*v < lo || *v > kMaxTokensLimit))
    bad_request(body.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens",
                "'max_tokens' must be in [{}, {}], got {}", lo, kMaxTokensLimit, *v);
  return v;
}

std::string effort_for(const std::string& effort, const std::string& field) {
  if (effort == "max" || effort == "xhigh" || effort == "ultra") return "max";
  if (effort == "minimal" || effort == "low" || effort == "medium" || effort == "high" || effort.empty()) return "";
  bad_request(field, "'{}' must be none, minimal, low, medium, high, xhigh or max, got '{}'", field, effort);
}

void check_messages(const Json* messages) {
  if (!messages) bad_request("messages", "'messages' is required");
  if (messages->empty()) bad_request("messages", "'messages' must not be empty");
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    if (!m.is_object()) bad_request("messages", "'messages[{}]' must be an object", i);
    if (!m.contains("role") || !m["role"].is_string()) bad_request("messages", "'messages[{}].role' must be a string", i);
  }
}

const Json* check_tools(const Json& body) {
  const Json* tools = get_array(body, "tools");
  if (!tools) return nullptr;
  for (size_t i = 0; i < tools->size(); ++i) {
    const Json& t = (*tools)[i];
    if (!t.is_object() || !t.contains("function") || !t["function"].is_object() || !t["function"].contains("name") ||
        !t["function"]["name"].is_string())
      bad_request("tools", "'tools[{}]' must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}", i);
  }
  return tools;
}

// A forced tool call is a constraint of its own: it cannot be combined with another one, nor
// with what keeps the end token away (the constraint ends with it). In thinking mode it starts
// after the reasoning.
void settle_tool_choice(ToolChoice choice, const chat::EncodeOptions& encode, GenerationSettings& gen) {
  if (choice.forced()) {
    if (gen.response_format.constrained())
      bad_request("tool_choice", "a forced tool_choice cannot be combined with a json response_format");
    if (gen.params.ignore_eos) bad_request("tool_choice", "a forced tool_choice cannot be combined with ignore_eos");
    if (gen.params.min_tokens > 0) bad_request("tool_choice", "a forced tool_choice cannot be combined with min_tokens");
    choice.after_reasoning = encode.mode == chat::ThinkingMode::kThinking;
  }
  gen.tool_choice = std::move(choice);
}

}  // namespace

void apply_thinking_switches(const Json& body, chat::EncodeOptions& options) {
  using chat::ThinkingMode;
  if (auto effort = get_string(body, "reasoning_effort")) {
    if (*effort == "none")
      options.mode = ThinkingMode::kChat;
    else
      options.reasoning_effort = effort_for(*effort, "reasoning_effort");
  }
  if (const Json* kw = get_object(body, "chat_template_kwargs")) {
    for (const char* key : {"thinking", "enable_thinking"})
      if (auto on = get_bool(*kw, key, "chat_template_kwargs")) options.mode = *on ? ThinkingMode::kThinking : ThinkingMode::kChat;
    if (auto effort = get_string(*kw, "reasoning_effort", "chat_template_kwargs")) {
      if (*effort == "none")
        options.mode = ThinkingMode::kChat;
      else
        options.reasoning_effort = effort_for(*effort, "chat_template_kwargs.reasoning_effort");
    }
  }
  auto it = body.find("thinking");
  if (it != body.end() && !it->is_null()) {
    if (it->is_boolean()) {
      options.mode = it->get<bool>() ? ThinkingMode::kThinking : ThinkingMode::kChat;
    } else if (it->is_object()) {
      const std::string type = get_string(*it, "type", "thinking").value_or("enabled");
      if (type == "enabled" || type == "adaptive")
        options.mode = ThinkingMode::kThinking;
      else if (type == "disabled")
        options.mode = ThinkingMode::kChat;
      else
        bad_request("thinking.type", "'thinking.type' must be enabled or disabled, got '{}'", type);
    } else {
      bad_request("thinking", "'thinking' must be a boolean or {{\"type\": \"enabled\"|\"disabled\"}}");
    }
  }
}

ChatRequest parse_chat_request(const Json& body) {
  ChatRequest r;
  parse_sampling(body, r.gen, "stop");
  r.gen.max_tokens = parse_max_tokens(body, 1);
  const Json* messages = get_array(body, "messages");
  check_messages(messages);
  const Json* tools = check_tools(body);
  ToolChoice choice = parse_openai_tool_choice(body, tools);
  const bool drop_tools = choice.mode == ToolChoice::Mode::None;
  Json request{{"messages", *messages}};
  if (tools && !drop_tools) request["tools"] = *tools;
  r.has_tools = tools && !tools->empty() && !drop_tools;
  try {
    r.messages = chat::messages_from_request(request);
  } catch (const Error& e) {
    throw ApiError(400, e.message(), "messages");
  } catch (const Json::exception& e) {
    throw ApiError(400, fmt::format("malformed messages: {}", e.what()), "messages");
  }
  apply_thinking_switches(body, r.encode);
  if (r.gen.response_format.constrained()) r.encode.mode = chat::ThinkingMode::kChat;  // see response_format.h
  settle_tool_choice(std::move(choice), r.encode, r.gen);
  r.parse_tool_calls = !drop_tools;
  r.logprobs = get_bool(body, "logprobs").value_or(false);
  if (auto v = get_int_in(body, "top_logprobs", 0, 20)) {
    if (!r.logprobs) bad_request("top_logprobs", "'top_logprobs' needs logprobs=true");
    r.top_logprobs = int(*v);
  }
  return r;
}

CompletionRequest parse_completion_request(const Json& body) {
  CompletionRequest r;
  parse_sampling(body, r.gen, "stop");
  r.gen.max_tokens = parse_max_tokens(body, 0);
  if (!r.gen.max_tokens) r.gen.max_tokens = 16;  // OpenAI's default for completions
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) bad_request("prompt", "'prompt' is required");
  const Json& p = *it;
  auto ids_of = [](const Json& a) {
    std::vector<int32_t> ids;
    for (const Json& v : a) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > kMaxTokensLimit)
        bad_request("prompt", "'prompt' token ids must be non-negative integers");
      ids.push_back(int32_t(v.get<int64_t>()));
    }
    if (ids.empty()) bad_request("prompt", "'prompt' must not be empty");
    return ids;
  };
  if (p.is_string()) {
    r.text_prompts.push_back(p.get<std::string>());
  } else if (p.is_array() && !p.empty() && p[0].is_string()) {
    for (const Json& s : p) {
      if (!s.is_string()) bad_request("prompt", "'prompt' must be a string, a list of strings, or token ids");
      r.text_prompts.push_back(s.get<std::string>());
    }
  } else if (p.is_array() && !p.empty() && p[0].is_array()) {
    for (const Json& a : p) {
      if (!a.is_array()) bad_request("prompt", "'prompt' must be a string, a list of strings, or token ids");
      r.id_prompts.push_back(ids_of(a));
    }
  } else if (p.is_array() && !p.empty()) {
    r.id_prompts.push_back(ids_of(p));
  } else {
    bad_request("prompt", "'prompt' must be a non-empty string, list of strings, or token ids");
  }
  for (const std::string& s : r.text_prompts)
    if (s.empty()) bad_request("prompt", "'prompt' must not be empty");
  if (r.prompt_count() * size_t(r.gen.n) > size_t(kMaxChoices))
    bad_request("prompt", "at most {} choices (prompts x n) per request", kMaxChoices);
  if (auto v = get_int_in(body, "logprobs", 0, 20)) r.logprobs = int(*v);
  r.echo = get_bool(body, "echo").value_or(false);
  r.return_token_ids = get_bool(body, "return_token_ids").value_or(false);
  if (auto s = get_string(body, "suffix"); s && !s->empty()) bad_request("suffix", "'suffix' is not supported");
  return r;
}

namespace {

std::string text_of_blocks(const Json& content, const std::string& field) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad_request(field, "'{}' must be a string or a list of content blocks", field);
  std::string text;
  for (const Json& b : content) {
    if (!b.is_object() || get_string(b, "type", field).value_or("") != "text")
      bad_request(field, "'{}' may hold only text blocks here", field);
    text += get_string(b, "text", field).value_or("");
  }
  return text;
}

// Anthropic messages -> the OpenAI-style messages the DeepSeek-V4 encoder reads.
Json convert_anthropic_messages(const Json& body) {
  Json out = Json::array();
  auto sys = body.find("system");
  if (sys != body.end() && !sys->is_null()) out.push_back({{"role", "system"}, {"content", text_of_blocks(*sys, "system")}});
  const Json* messages = get_array(body, "messages");
  check_messages(messages);
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string field = fmt::format("messages[{}].content", i);
    const std::string role = m["role"].get<std::string>();
    if (role != "user" && role != "assistant")
      bad_request("messages", "'messages[{}].role' must be user or assistant, got '{}'", i, role);
    auto cit = m.find("content");
    if (cit == m.end()) bad_request(field, "'{}' is required", field);
    const Json& content = *cit;
    if (content.is_string()) {
      out.push_back({{"role", role}, {"content", content.get<std::string>()}});
      continue;
    }
    if (!content.is_array()) bad_request(field, "'{}' must be a string or a list of content blocks", field);
    std::string text, reasoning;
    Json tool_calls = Json::array();
    for (const Json& b : content) {
      if (!b.is_object()) bad_request(field, "'{}' blocks must be objects", field);
      const std::string type = get_string(b, "type", field).value_or("");
      if (type == "text") {
        text += get_string(b, "text", field).value_or("");
      } else if (type == "thinking" && role == "assistant") {
        reasoning += get_string(b, "thinking", field).value_or("");
      } else if (type == "redacted_thinking") {
      } else if (type == "tool_use" && role == "assistant") {
        const auto name = get_string(b, "name", field);
        if (!name) bad_request(field, "a tool_use block needs a name");
        const Json* input = get_object(b, "input", field);
        tool_calls.push_back({{"id", get_string(b, "id", field).value_or("")},
                              {"type", "function"},
                              {"function", {{"name", *name}, {"arguments", dump_json(input ? *input : Json::object())}}}});
      } else if (type == "tool_result" && role == "user") {
        auto rc = b.find("content");
        const std::string result = rc == b.end() || rc->is_null() ? std::string() : text_of_blocks(*rc, field + ".content");
        out.push_back({{"role", "tool"}, {"tool_call_id", get_string(b, "tool_use_id", field).value_or("")}, {"content", result}});
      } else {
        bad_request(field, "content block type '{}' is not supported for role {}", type, role);
      }
    }
    if (role == "assistant") {
      Json msg{{"role", "assistant"}, {"content", text}};
      if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
      if (!tool_calls.empty()) msg["tool_calls"] = tool_calls;
      out.push_back(msg);
    } else if (!text.empty() || out.empty() || out.back()["role"] != "tool") {
      out.push_back({{"role", "user"}, {"content", text}});
    }
  }
  return out;
}

}  // namespace

MessagesRequest parse_messages_request(const Json& body) {
  MessagesRequest r;
  parse_sampling(body, r.gen, "stop_sequences");
  if (r.gen.n != 1) bad_request("n", "'n' is not an Anthropic messages field");
  const std::optional<int64_t> max_tokens = get_int(body, "max_tokens");
  if (!max_tokens) bad_request("max_tokens", "'max_tokens' is required");
  if (*max_tokens < 1 || *max_tokens > kMaxTokensLimit) bad_request("max_tokens", "'max_tokens' must be >= 1, got {}", *max_tokens);
  r.gen.max_tokens = max_tokens;
  Json messages = convert_anthropic_messages(body);
  Json tools = Json::array();
  if (const Json* ts = get_array(body, "tools")) {
    for (size_t i = 0; i < ts->size(); ++i) {
      const Json& t = (*ts)[i];
      if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
        bad_request("tools", "'tools[{}]' must be an object with a name", i);
      Json fn{{"name", t["name"]}};
      if (t.contains("description")) fn["description"] = t["description"];
      fn["parameters"] = t.contains("input_schema") ? t["input_schema"] : Json::object();
      tools.push_back({{"type", "function"}, {"function", fn}});
    }
  }
  ToolChoice choice = parse_anthropic_tool_choice(body, tools);
  if (choice.mode == ToolChoice::Mode::None) {
    tools = Json::array();
    r.parse_tool_calls = false;
  }
  Json request{{"messages", messages}};
  if (!tools.empty()) request["tools"] = tools;
  try {
    r.messages = chat::messages_from_request(request);
  } catch (const Error& e) {
    throw ApiError(400, e.message(), "messages");
  } catch (const Json::exception& e) {
    throw ApiError(400, fmt::format("malformed messages: {}", e.what()), "messages");
  }
  // Anthropic's default is no extended thinking: thinking only when asked for.
  r.encode.mode = chat::ThinkingMode::kChat;
  if (const Json* th = get_object(body, "thinking")) {
    const std::string type = get_string(*th, "type", "thinking").value_or("");
    if (type == "enabled" || type == "adaptive")
      r.encode.mode = chat::ThinkingMode::kThinking;
    else if (type != "disabled")
      bad_request("thinking.type", "'thinking.type' must be enabled or disabled, got '{}'", type);
  }
  if (const Json* oc = get_object(body, "output_config"))
    if (auto effort = get_string(*oc, "effort", "output_config")) r.encode.reasoning_effort = effort_for(*effort, "output_config.effort");
  if (r.gen.response_format.constrained()) r.encode.mode = chat::ThinkingMode::kChat;
  settle_tool_choice(std::move(choice), r.encode, r.gen);
  return r;
}

std::string render_chat_prompt(const Json& messages, const chat::EncodeOptions& options) {
  try {
    return chat::encode_messages(messages, options);
  } catch (const Error& e) {
    throw ApiError(400, e.message(), "messages");
  } catch (const Json::exception& e) {  // a field of the wrong JSON type deep inside a message
    throw ApiError(400, fmt::format("malformed messages: {}", e.what()), "messages");
  }
}

int resolve_max_tokens(const GenerationSettings& gen, int64_t prompt_tokens, int64_t max_model_len,
                       const std::string& prompt_field) {
  if (prompt_tokens >= max_model_len)
    throw ApiError(400,
                   fmt::format("This model's maximum context length is {} tokens. However, your prompt has {} tokens. "
                               "Please reduce the length of the prompt.",
                               max_model_len, prompt_tokens),
                   prompt_field, "invalid_request_error", "context_length_exceeded");
  const int64_t room = max_model_len - prompt_tokens;
  if (gen.max_tokens && *gen.max_tokens > room)
    throw ApiError(400,
                   fmt::format("This model's maximum context length is {} tokens. However, you requested {} tokens "
                               "({} in the prompt, {} for the completion). Please reduce the length of the prompt "
                               "or the completion.",
                               max_model_len, prompt_tokens + *gen.max_tokens, prompt_tokens, *gen.max_tokens),
                   "max_tokens", "invalid_request_error", "context_length_exceeded");
  const int64_t max_tokens = gen.max_tokens ? *gen.max_tokens : room;
  if (gen.params.min_tokens > max_tokens)
    bad_request("min_tokens", "'min_tokens' ({}) exceeds max_tokens ({})", gen.params.min_tokens, max_tokens);
  return int(max_tokens);
}

}  // namespace dsv4::server
