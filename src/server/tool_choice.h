// tool_choice, as OpenAI and Anthropic send it, parsed and turned into the forced-tool-call
// constraint (runtime/structured/tool_calls.h):
//   OpenAI     "auto" (default) | "none" | "required" | {"type": "function", "function": {"name": N}},
//              with parallel_tool_calls (default true; false: at most one call)
//   Anthropic  {"type": "auto" | "none" | "any" | "tool", "name": N, "disable_parallel_tool_use": B}
// "auto": the tools are offered and the model may call them (DSML in the output is parsed into
// tool_calls). "none" (as vLLM): the tools are not offered and the output is not parsed for tool
// calls. "required" / "any": the answer is one or more tool calls, no text; a named function /
// "tool": exactly one call of that function. Forced calls are enforced token by token; in thinking
// mode the reasoning comes first, unconstrained, and the constraint starts after </think> (as
// vLLM does for reasoning models), so the reasoning is still the model's own.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/engine.h"
#include "runtime/structured/token_trie.h"
#include "runtime/structured/tool_calls.h"
#include "server/request_json.h"

namespace dsv4::server {

struct ToolChoice {
  enum class Mode { Auto, None, Required, Named };
  Mode mode = Mode::Auto;
  bool parallel = true;                       // more than one call allowed
  bool after_reasoning = false;               // thinking mode: the constraint starts after </think>
  std::vector<structured::ToolSchema> tools;  // Required: every offered function; Named: that one
  bool forced() const { return mode == Mode::Required || mode == Mode::Named; }
};

// OpenAI: body["tool_choice"] and body["parallel_tool_calls"] over the request's tools (the
// checked "tools" array, or null). Throws ApiError 400 naming tool_choice.
ToolChoice parse_openai_tool_choice(const Json& body, const Json* tools);
// Anthropic: body["tool_choice"] over tools already in the OpenAI shape ({"function": {...}}).
ToolChoice parse_anthropic_tool_choice(const Json& body, const Json& tools);

// The constraint of a forced choice, compiled once for all choices of a request (null when not
// forced). 400 on "tools" for a schema the grammar cannot enforce, on tool_choice without a
// tokenizer or (thinking mode) without </think>.
std::shared_ptr<const TokenConstraintFactory> tool_choice_constraint(
    const ToolChoice& choice, const std::shared_ptr<const structured::TokenTrie>& vocabulary,
    std::optional<uint32_t> reasoning_end);

}  // namespace dsv4::server
