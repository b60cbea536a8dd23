#include "server/tool_choice.h"

#include "core/error.h"
#include "runtime/structured/after_reasoning.h"
#include "server/api_error.h"

namespace dsv4::server {

namespace {

structured::ToolSchema schema_of(const Json& tool) {
  const Json& fn = tool.contains("function") ? tool["function"] : tool;
  structured::ToolSchema s;
  s.name = fn["name"].get<std::string>();
  auto it = fn.find("parameters");
  if (it != fn.end()) s.parameters = *it;
  return s;
}

ToolChoice forced(ToolChoice::Mode mode, const Json* tools, const std::string& name, const char* field) {
  ToolChoice c;
  c.mode = mode;
  if (!tools || tools->empty()) bad_request(field, "'{}' forces a tool call, but the request has no tools", field);
  for (const Json& t : *tools) {
    structured::ToolSchema s = schema_of(t);
    if (mode == ToolChoice::Mode::Named && s.name != name) continue;
    c.tools.push_back(std::move(s));
    if (mode == ToolChoice::Mode::Named) break;
  }
  if (c.tools.empty()) bad_request(field, "'{}' names the function '{}', which is not among the tools", field, name);
  return c;
}

}  // namespace

ToolChoice parse_openai_tool_choice(const Json& body, const Json* tools) {
  ToolChoice c;
  auto tc = body.find("tool_choice");
  if (tc != body.end() && !tc->is_null()) {
    if (tc->is_string()) {
      const std::string v = tc->get<std::string>();
      if (v == "none")
        c.mode = ToolChoice::Mode::None;
      else if (v == "required")
        c = forced(ToolChoice::Mode::Required, tools, "", "tool_choice");
      else if (v != "auto")
        bad_request("tool_choice", "'tool_choice' must be \"auto\", \"none\", \"required\" or {{\"type\": \"function\", "
                                   "\"function\": {{\"name\": ...}}}}, got '{}'", v);
    } else if (tc->is_object()) {
      const std::string type = get_string(*tc, "type", "tool_choice").value_or("function");
      const Json* fn = get_object(*tc, "function", "tool_choice");
      const std::optional<std::string> name = fn ? get_string(*fn, "name", "tool_choice.function") : std::nullopt;
      if (type != "function" || !name)
        bad_request("tool_choice", "'tool_choice' as an object must be {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}");
      c = forced(ToolChoice::Mode::Named, tools, *name, "tool_choice");
    } else {
      bad_request("tool_choice", "'tool_choice' must be a string or an object");
    }
  }
  c.parallel = get_bool(body, "parallel_tool_calls").value_or(true);
  return c;
}

ToolChoice parse_anthropic_tool_choice(const Json& body, const Json& tools) {
  ToolChoice c;
  const Json* tc = get_object(body, "tool_choice");
  if (!tc) return c;
  const std::string type = get_string(*tc, "type", "tool_choice").value_or("auto");
  if (type == "none") {
    c.mode = ToolChoice::Mode::None;
  } else if (type == "any") {
    c = forced(ToolChoice::Mode::Required, &tools, "", "tool_choice");
  } else if (type == "tool") {
    const std::optional<std::string> name = get_string(*tc, "name", "tool_choice");
    if (!name) bad_request("tool_choice.name", "'tool_choice' of type tool needs a 'name'");
    c = forced(ToolChoice::Mode::Named, &tools, *name, "tool_choice");
  } else if (type != "auto") {
    bad_request("tool_choice.type", "'tool_choice.type' must be auto, any, tool or none, got '{}'", type);
  }
  c.parallel = !get_bool(*tc, "disable_parallel_tool_use", "tool_choice").value_or(false);
  return c;
}

std::shared_ptr<const TokenConstraintFactory> tool_choice_constraint(
    const ToolChoice& choice, const std::shared_ptr<const structured::TokenTrie>& vocabulary,
    std::optional<uint32_t> reasoning_end) {
  if (!choice.forced()) return nullptr;
  if (!vocabulary)
    throw ApiError(400, "forcing a tool call needs the model's tokenizer.json", "tool_choice");
  std::shared_ptr<const TokenConstraintFactory> f;
  try {
    const bool parallel = choice.mode == ToolChoice::Mode::Required && choice.parallel;  // named: one call
    f = structured::tool_call_constraint(choice.tools, parallel, vocabulary);
  } catch (const Error& e) {
    throw ApiError(400, fmt::format("tool_choice cannot be enforced: {}", e.what()), "tools");
  }
  if (!choice.after_reasoning) return f;
  if (!reasoning_end)
    throw ApiError(400, "forcing a tool call in thinking mode needs </think> in the vocabulary; disable thinking",
                   "tool_choice");
  return std::make_shared<structured::AfterReasoningFactory>(f, int32_t(*reasoning_end), vocabulary->vocab_size());
}

}  // namespace dsv4::server
