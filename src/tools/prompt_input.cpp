#include "tools/prompt_input.h"

#include <climits>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "tools/token_ids.h"

namespace dsv4::tools {

void add_prompt_options(CLI::App* cmd, PromptArgs& a) {
  auto* ids = cmd->add_option("--ids", a.ids, "Prompt token ids, e.g. 0,15,27");
  auto* ids_file = cmd->add_option("--ids-file", a.ids_file, "File of prompt token ids (commas, spaces or newlines)");
  auto* prompt = cmd->add_option("--prompt", a.prompt, "Prompt text, tokenized as is (no BOS added)");
  auto* prompt_file = cmd->add_option("--prompt-file", a.prompt_file, "File of prompt text, tokenized as is");
  auto* messages = cmd->add_option("--messages", a.messages,
                                   "JSON conversation (a list of messages or {messages, tools}), chat-encoded");
  auto* thinking = cmd->add_flag("--thinking", a.thinking, "With --messages: thinking mode (the default)");
  auto* chat = cmd->add_flag("--chat", a.chat, "With --messages: chat (non-thinking) mode");
  thinking->excludes(chat);
  for (CLI::Option* o : {ids, ids_file, prompt, prompt_file, messages})
    for (CLI::Option* other : {ids, ids_file, prompt, prompt_file, messages})
      if (o != other) o->excludes(other);
}

Prompt read_prompt(const PromptArgs& a, const std::string& model_dir) {
  Prompt p;
  std::vector<int64_t> ids;
  if (!a.ids.empty() || !a.ids_file.empty()) {
    ids = a.ids_file.empty() ? parse_token_ids(a.ids, "--ids") : read_token_ids_file(a.ids_file);
  } else if (!a.prompt.empty() || !a.prompt_file.empty() || !a.messages.empty()) {
    p.is_text = true;
    p.tokenizer = std::make_shared<const tokenizer::Tokenizer>(tokenizer::Tokenizer::load(model_dir));
    std::string text;
    if (!a.messages.empty()) {
      p.is_conversation = true;
      p.mode = a.chat ? chat::ThinkingMode::kChat : chat::ThinkingMode::kThinking;
      chat::Json request;
      try {
        request = chat::Json::parse(read_file(a.messages, "messages file"));
      } catch (const chat::Json::exception& e) {
        fail("{} is not valid JSON: {}", a.messages, e.what());
      }
      chat::EncodeOptions options;
      options.mode = p.mode;
      text = with_context("rendering " + a.messages,
                          [&] { return chat::encode_messages(chat::messages_from_request(request), options); });
    } else {
      text = a.prompt_file.empty() ? a.prompt : read_file(a.prompt_file, "prompt file");
    }
    for (uint32_t id : p.tokenizer->encode(text)) ids.push_back(int64_t(id));
  } else {
    fail("give a prompt: --ids, --ids-file, --prompt, --prompt-file or --messages");
  }
  if (ids.empty()) fail("the prompt is empty (no tokens)");
  for (int64_t id : ids) {
    if (id > INT32_MAX) fail("prompt token id {} is too large", id);
    p.ids.push_back(int32_t(id));
  }
  return p;
}

}  // namespace dsv4::tools
