// Where a prompt comes from on the command line: token ids (--ids, --ids-file), raw text
// (--prompt, --prompt-file; tokenized as is, no BOS added), or a conversation (--messages FILE,
// rendered with the DeepSeek-V4 chat encoding in thinking or chat mode, then tokenized).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tokenizer/chat_encoding.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::tools {

struct PromptArgs {
  std::string ids, ids_file, prompt, prompt_file, messages;
  bool thinking = false, chat = false;
};

void add_prompt_options(CLI::App* cmd, PromptArgs& args);

struct Prompt {
  std::vector<int32_t> ids;
  bool is_text = false;                                   // text in => text out
  chat::ThinkingMode mode = chat::ThinkingMode::kThinking;  // for --messages
  bool is_conversation = false;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;  // loaded for text prompts
};

// Reads the prompt; loads MODEL_DIR's tokenizer for text. Throws dsv4::Error with what was wrong.
Prompt read_prompt(const PromptArgs& args, const std::string& model_dir);

}  // namespace dsv4::tools
