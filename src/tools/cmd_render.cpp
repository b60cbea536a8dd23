// dsv4 render --messages FILE.json [--thinking|--chat]: prints the DeepSeek-V4 prompt text for a
// conversation exactly (no newline added). FILE is a list of messages or an object with
// "messages" and optional "tools" (attached to the first, system, message).
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "tokenizer/chat_encoding.h"
#include "tools/commands.h"

namespace dsv4::tools {

void add_render_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("render", "Print the DeepSeek-V4 prompt text of a conversation");
  auto file = std::make_shared<std::string>();
  auto thinking = std::make_shared<bool>(false);
  auto chat_mode = std::make_shared<bool>(false);
  auto effort = std::make_shared<std::string>();
  auto keep_reasoning = std::make_shared<bool>(false);
  auto no_bos = std::make_shared<bool>(false);
  cmd->add_option("--messages", *file, "JSON file: a list of messages or {messages, tools}")->required();
  auto* t = cmd->add_flag("--thinking", *thinking, "Thinking mode (the default)");
  auto* c = cmd->add_flag("--chat", *chat_mode, "Chat (non-thinking) mode");
  t->excludes(c);
  cmd->add_option("--reasoning-effort", *effort, "high or max (max adds the effort paragraph)");
  cmd->add_flag("--keep-reasoning", *keep_reasoning, "drop_thinking=False: keep every turn's reasoning");
  cmd->add_flag("--no-bos", *no_bos, "Do not write the begin-of-sentence token");
  cmd->callback([=] {
    chat::Json request;
    try {
      request = chat::Json::parse(read_file(*file, "messages file"));
    } catch (const chat::Json::exception& e) {
      fail("{} is not valid JSON: {}", *file, e.what());
    }
    chat::EncodeOptions options;
    options.mode = *chat_mode ? chat::ThinkingMode::kChat : chat::ThinkingMode::kThinking;
    options.reasoning_effort = *effort;
    options.drop_thinking = !*keep_reasoning;
    options.add_default_bos_token = !*no_bos;
    const std::string prompt = with_context(fmt::format("rendering {}", *file), [&] {
      return chat::encode_messages(chat::messages_from_request(request), options);
    });
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  });
}

}  // namespace dsv4::tools
