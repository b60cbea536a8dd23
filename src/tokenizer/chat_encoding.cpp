#include "tokenizer/chat_encoding.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "core/error.h"

namespace dsv4::chat {

namespace {

constexpr const char* kEffortMax =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the "
    "root cause, rigorously stress-testing your logic against all potential paths, edge cases, and "
    "adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n";

constexpr const char* kToolsHead =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "
    "\"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types (numbers, "
    "booleans, arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";

constexpr const char* kToolsTail =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n";

const char* task_token(const std::string& task) {
  if (task == "action") return "<｜action｜>";
  if (task == "query") return "<｜query｜>";
  if (task == "authority") return "<｜authority｜>";
  if (task == "domain") return "<｜domain｜>";
  if (task == "title") return "<｜title｜>";
  if (task == "read_url") return "<｜read_url｜>";
  fail("unknown task '{}' (expected action, query, authority, domain, title or read_url)", task);
}

std::string string_field(const Json& msg, const char* key) {
  if (!msg.is_object() || !msg.contains(key) || msg[key].is_null()) return {};
  if (!msg[key].is_string()) fail("message field '{}' must be a string, got {}", key, msg[key].dump());
  return msg[key].get<std::string>();
}

bool has_items(const Json& msg, const char* key) {
  return msg.is_object() && msg.contains(key) && msg[key].is_array() && !msg[key].empty();
}

// Text of a content that may be a string, null, or a list of parts ({"type": "text", ...}).
std::string parts_text(const Json& content) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) fail("message content must be a string or a list of parts, got {}", content.dump());
  std::string out;
  bool first = true;
  for (const auto& part : content) {
    if (!first) out += "\n\n";
    first = false;
    if (part.is_string()) {
      out += part.get<std::string>();
    } else if (part.value("type", std::string()) == "text") {
      out += string_field(part, "text");
    } else {
      out += "[Unsupported " + part.value("type", std::string("unknown")) + "]";
    }
  }
  return out;
}

// A user turn after normalisation: blocks of text and tool results.
struct Block {
  bool tool_result = false;
  std::string text;
  std::string call_id;
  bool has_call_id = false;
};

struct Msg {
  std::string role;
  Json raw;                   // the original message (non-user roles)
  std::vector<Block> blocks;  // user turns
  std::string task;
  bool wo_eos = false;
  size_t origin = 0;  // index (in context + messages) of the message that started this one
};

std::vector<Block> user_blocks(const Json& content) {
  std::vector<Block> blocks;
  if (content.is_array()) {
    for (const auto& part : content) blocks.push_back({false, parts_text(Json::array({part})), {}, false});
  } else {
    blocks.push_back({false, parts_text(content), {}, false});
  }
  return blocks;
}

std::vector<Msg> normalize(const Json& all) {
  std::vector<Msg> out;
  for (size_t i = 0; i < all.size(); ++i) {
    const Json& m = all[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      fail("message {} has no role: {}", i, m.dump());
    const std::string role = m["role"].get<std::string>();
    if (role == "tool") {
      Block b{true, parts_text(m.value("content", Json())), {}, false};
      if (m.contains("tool_call_id") && m["tool_call_id"].is_string()) {
        b.call_id = m["tool_call_id"].get<std::string>();
        b.has_call_id = true;
      }
      if (!out.empty() && out.back().role == "user") {
        out.back().blocks.push_back(std::move(b));
      } else {
        Msg u;
        u.role = "user";
        u.origin = i;
        u.blocks.push_back(std::move(b));
        out.push_back(std::move(u));
      }
    } else if (role == "user") {
      std::vector<Block> blocks = user_blocks(m.value("content", Json()));
      const std::string task = string_field(m, "task");
      if (!out.empty() && out.back().role == "user" && out.back().task.empty()) {
        Msg& prev = out.back();
        for (auto& b : blocks) prev.blocks.push_back(std::move(b));
        if (!task.empty()) prev.task = task;
        prev.wo_eos = prev.wo_eos || m.value("wo_eos", false);
      } else {
        Msg u;
        u.role = "user";
        u.origin = i;
        u.raw = m;
        u.blocks = std::move(blocks);
        u.task = task;
        u.wo_eos = m.value("wo_eos", false);
        out.push_back(std::move(u));
      }
    } else if (role == "system" || role == "assistant" || role == "developer" || role == "latest_reminder" ||
               role == "direct_search_results") {
      Msg x;
      x.role = role;
      x.raw = m;
      x.origin = i;
      x.task = string_field(m, "task");
      x.wo_eos = m.value("wo_eos", false);
      out.push_back(std::move(x));
    } else {
      fail("message {} has an unknown role '{}'", i, role);
    }
  }
  // Tool results follow the order of the calls of the most recent assistant message with calls.
  std::vector<std::string> call_order;
  for (Msg& m : out) {
    if (m.role == "assistant" && has_items(m.raw, "tool_calls")) {
      call_order.clear();
      for (const auto& c : m.raw["tool_calls"]) call_order.push_back(c.is_object() ? c.value("id", std::string()) : "");
    }
    if (m.role != "user") continue;
    std::vector<size_t> slots;
    std::vector<std::pair<size_t, Block>> results;
    for (size_t b = 0; b < m.blocks.size(); ++b) {
      if (!m.blocks[b].tool_result) continue;
      size_t key = 0;
      if (m.blocks[b].has_call_id) {
        const auto it = std::find(call_order.begin(), call_order.end(), m.blocks[b].call_id);
        if (it != call_order.end()) key = static_cast<size_t>(it - call_order.begin());
      }
      slots.push_back(b);
      results.emplace_back(key, m.blocks[b]);
    }
    std::stable_sort(results.begin(), results.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t k = 0; k < slots.size(); ++k) m.blocks[slots[k]] = std::move(results[k].second);
  }
  return out;
}

std::string render_response_format(const Json& format) {
  return "## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n" +
         python_json_dumps(format);
}

// system / developer extras: "\n\n" + Tools section, "\n\n" + Response Format section.
std::string render_sections(const Json& raw) {
  std::string out;
  if (has_items(raw, "tools")) out += "\n\n" + render_tools_section(raw["tools"]);
  if (raw.contains("response_format") && !raw["response_format"].is_null())
    out += "\n\n" + render_response_format(raw["response_format"]);
  return out;
}

std::string render_user(const Msg& m) {
  std::string out = kUser;
  bool first = true;
  for (const Block& b : m.blocks) {
    if (!first) out += "\n\n";
    first = false;
    if (b.tool_result) {
      out += "<tool_result>" + b.text + "</tool_result>";
    } else {
      out += b.text;
    }
  }
  return out;
}

}  // namespace

std::string render_tools_section(const Json& tools) {
  std::string out = kToolsHead;
  bool first = true;
  for (const auto& tool : tools) {
    if (!first) out += "\n";
    first = false;
    out += python_json_dumps(tool.is_object() && tool.contains("function") ? tool["function"] : tool);
  }
  out += kToolsTail;
  return out;
}

std::string render_tool_calls(const Json& tool_calls) {
  if (!tool_calls.is_array() || tool_calls.empty()) return {};
  std::string out = "\n\n<｜DSML｜tool_calls>\n";
  bool first_call = true;
  for (const auto& call : tool_calls) {
    const Json& fn = call.is_object() && call.contains("function") ? call["function"] : call;
    if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string())
      fail("tool call without a function name: {}", call.dump());
    if (!first_call) out += "\n";
    first_call = false;
    out += "<｜DSML｜invoke name=\"" + fn["name"].get<std::string>() + "\">\n";
    std::optional<Json> args;
    std::string raw_args;
    if (fn.contains("arguments")) {
      const Json& a = fn["arguments"];
      if (a.is_object()) {
        args = a;
      } else if (a.is_string()) {
        raw_args = a.get<std::string>();
        try {
          Json parsed = Json::parse(raw_args);
          if (parsed.is_object()) args = std::move(parsed);
        } catch (const Json::exception&) {
        }
      } else if (!a.is_null()) {
        raw_args = a.dump();
      }
    } else {
      args = Json::object();
    }
    std::vector<std::string> params;
    if (args) {
      for (const auto& [key, value] : args->items()) {
        const bool is_string = value.is_string();
        params.push_back("<｜DSML｜parameter name=\"" + key + "\" string=\"" + (is_string ? "true" : "false") +
                         "\">" + (is_string ? value.get<std::string>() : python_json_dumps(value)) +
                         "</｜DSML｜parameter>");
      }
    } else {
      params.push_back("<｜DSML｜parameter name=\"arguments\" string=\"true\">" + raw_args + "</｜DSML｜parameter>");
    }
    for (size_t p = 0; p < params.size(); ++p) out += (p ? "\n" : "") + params[p];
    out += "\n</｜DSML｜invoke>";
  }
  out += "\n</｜DSML｜tool_calls>";
  return out;
}

std::string encode_messages(const Json& messages, const EncodeOptions& options) {
  if (!messages.is_array()) fail("messages must be a JSON array");
  if (!options.context.is_array()) fail("context must be a JSON array");
  const std::string& effort = options.reasoning_effort;
  if (!effort.empty() && effort != "high" && effort != "max")
    fail("unknown reasoning effort '{}' (expected high or max)", effort);
  const bool thinking = options.mode == ThinkingMode::kThinking;

  Json all = options.context;
  for (const auto& m : messages) all.push_back(m);
  const size_t context_size = options.context.size();
  bool any_tools = false;
  for (const auto& m : all) any_tools = any_tools || has_items(m, "tools");
  std::vector<Msg> msgs = normalize(all);

  auto last_user_index = [&]() -> std::optional<size_t> {
    std::optional<size_t> last;
    for (size_t i = 0; i < msgs.size(); ++i)
      if (msgs[i].role == "user" || msgs[i].role == "developer") last = i;
    return last;
  };
  const bool dropping = thinking && options.drop_thinking && !any_tools;
  if (dropping) {
    if (const auto last = last_user_index()) {
      std::vector<Msg> kept;
      for (size_t i = 0; i < msgs.size(); ++i) {
        if (i < *last && msgs[i].role == "developer") continue;
        kept.push_back(std::move(msgs[i]));
      }
      msgs = std::move(kept);
    }
  }
  const std::optional<size_t> last_user = last_user_index();

  std::string out;
  if (context_size == 0) {
    if (options.add_default_bos_token) out += kBos;
    if (thinking && effort == "max") out += kEffortMax;
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    const Msg& m = msgs[i];
    const bool render = m.origin >= context_size;
    std::string piece;
    if (m.role == "system") {
      piece = parts_text(m.raw.value("content", Json())) + render_sections(m.raw);
    } else if (m.role == "developer") {
      const std::string content = parts_text(m.raw.value("content", Json()));
      if (content.empty()) fail("developer message {} has no content", m.origin);
      piece = std::string(kUser) + content + render_sections(m.raw);
    } else if (m.role == "latest_reminder") {
      piece = std::string(kLatestReminder) + parts_text(m.raw.value("content", Json()));
    } else if (m.role == "direct_search_results") {
      piece = parts_text(m.raw.value("content", Json()));
    } else if (m.role == "user") {
      piece = render_user(m);
    } else {  // assistant
      const bool answers_task = i > 0 && !msgs[i - 1].task.empty();
      const bool reasoning_dropped = dropping && last_user && i < *last_user;
      if (thinking && !answers_task && !reasoning_dropped)
        piece += string_field(m.raw, "reasoning_content") + kThinkClose;
      piece += parts_text(m.raw.value("content", Json()));
      if (m.raw.contains("tool_calls")) piece += render_tool_calls(m.raw["tool_calls"]);
      if (!m.wo_eos) piece += kEos;
    }
    // The transition: only when this is the last message or an assistant/latest_reminder follows.
    const bool open_end = i + 1 == msgs.size() || msgs[i + 1].role == "assistant" ||
                          msgs[i + 1].role == "latest_reminder";
    if (open_end) {
      if (!m.task.empty()) {
        const char* token = task_token(m.task);
        if (m.task == "action" && (m.role == "user" || m.role == "developer")) {
          piece += std::string(kAssistant) + (thinking ? kThinkOpen : kThinkClose);
        }
        piece += token;
      } else if (m.role == "user" || m.role == "developer") {
        const bool open_think = thinking && (!dropping || (last_user && i == *last_user));
        piece += std::string(kAssistant) + (open_think ? kThinkOpen : kThinkClose);
      }
    }
    if (render) out += piece;
  }
  return out;
}

Json messages_from_request(const Json& request) {
  if (request.is_array()) return request;
  if (!request.is_object() || !request.contains("messages") || !request["messages"].is_array())
    fail("expected a list of messages or an object with a 'messages' list");
  Json messages = request["messages"];
  if (request.contains("tools") && request["tools"].is_array() && !request["tools"].empty()) {
    const bool first_carries = !messages.empty() && messages[0].is_object() &&
                               (messages[0].value("role", std::string()) == "system" ||
                                messages[0].value("role", std::string()) == "developer");
    if (!first_carries) messages.insert(messages.begin(), Json{{"role", "system"}, {"content", ""}});
    messages[0]["tools"] = request["tools"];
  }
  return messages;
}

}  // namespace dsv4::chat
