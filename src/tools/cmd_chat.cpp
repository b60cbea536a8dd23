// dsv4 chat MODEL_DIR [--thinking|--chat] [--system TEXT] [--reasoning-effort max] [sampling flags]
// An interactive multi-turn conversation: each line read from standard input is a user turn; the
// whole conversation is rendered with the DeepSeek-V4 chat encoding, generated through the
// engine, and the answer streams back with its reasoning shown apart from its content (and tool
// calls, when the model makes them). Commands: /reset (forget the conversation), /exit.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "core/error.h"
#include "model/transformer.h"
#include "runtime/engine.h"
#include "tokenizer/chat_stream.h"
#include "tools/backend.h"
#include "tools/commands.h"
#include "tools/generation_options.h"

namespace dsv4::tools {

namespace {

struct ChatArgs {
  std::string dir, system, effort;
  bool thinking = false, chat = false;
  GenerationArgs gen;
};

// Prints the parts of a completion delta as they arrive, with a label when the part changes.
class TurnPrinter {
 public:
  explicit TurnPrinter(bool color) : color_(color) {}
  void print(const chat::CompletionDelta& d) {
    if (!d.reasoning.empty()) {
      section(Part::Reasoning, "thinking: ");
      emit(d.reasoning, /*dim=*/true);
      reasoning_ += d.reasoning;
    }
    if (!d.content.empty()) {
      section(Part::Content, "assistant: ");
      emit(d.content, false);
      content_ += d.content;
    }
    for (const chat::ToolCall& call : d.tool_calls) {
      section(Part::Tool, "");
      std::printf("[tool call] %s(%s)\n", call.name.c_str(), call.arguments.c_str());
      calls_.push_back(call);
    }
    for (const std::string& w : d.warnings) std::fprintf(stderr, "[warning] %s\n", w.c_str());
    std::fflush(stdout);
  }
  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }
  const std::vector<chat::ToolCall>& calls() const { return calls_; }

 private:
  enum class Part { None, Reasoning, Content, Tool };
  void section(Part p, const char* label) {
    if (p == part_) return;
    if (part_ != Part::None) std::printf("\n");
    std::printf("%s", label);
    part_ = p;
  }
  void emit(const std::string& text, bool dim) {
    if (color_ && dim) std::printf("\033[2m");
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (color_ && dim) std::printf("\033[0m");
  }
  bool color_;
  Part part_ = Part::None;
  std::string reasoning_, content_;
  std::vector<chat::ToolCall> calls_;
};

void run_chat(const ChatArgs& a) {
  const SamplingParams params = sampling_params(a.gen);
  auto tok = std::make_shared<const tokenizer::Tokenizer>(tokenizer::Tokenizer::load(a.dir));
  const Backend backend = make_backend(a.gen.device);
  const Transformer model(a.dir, backend.ops);
  Engine engine(model, engine_options(a.gen, a.dir, tok));
  const bool interactive = ::isatty(STDIN_FILENO) != 0;
  const bool color = ::isatty(STDOUT_FILENO) != 0;

  chat::EncodeOptions options;
  options.mode = a.chat ? chat::ThinkingMode::kChat : chat::ThinkingMode::kThinking;
  options.reasoning_effort = a.effort;
  chat::Json messages = chat::Json::array();
  auto reset = [&] {
    messages = chat::Json::array();
    if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  };
  reset();
  if (interactive)
    std::printf("dsv4 chat (%s mode; /reset, /exit)\n", options.mode == chat::ThinkingMode::kChat ? "chat" : "thinking");

  std::string line;
  while (true) {
    if (interactive) {
      std::printf("\nyou: ");
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      reset();
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    const std::string prompt = chat::encode_messages(messages, options);
    GenerationRequest req;
    for (uint32_t id : tok->encode(prompt)) req.prompt.push_back(int32_t(id));
    req.params = params;

    chat::ChatStream stream(*tok, options.mode);
    TurnPrinter printer(color);
    engine.submit(req, [&](uint64_t, const SampledToken& t) { printer.print(stream.push(uint32_t(t.id))); });
    const GenerationResult r = engine.run().at(0);
    printer.print(stream.finish());
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr, "[%zu tokens, %s; prompt %lld tokens at %.1f tokens/s, decode %.1f tokens/s]\n", r.ids.size(),
                 finish_reason_name(r.finish), static_cast<long long>(r.prompt_tokens), r.prompt_tokens_per_s,
                 r.decode_tokens_per_s);

    chat::Json reply = {{"role", "assistant"}, {"content", printer.content()}};
    if (options.mode == chat::ThinkingMode::kThinking) reply["reasoning_content"] = printer.reasoning();
    if (!printer.calls().empty()) {
      chat::Json calls = chat::Json::array();
      for (const chat::ToolCall& c : printer.calls())
        calls.push_back({{"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      reply["tool_calls"] = calls;
    }
    messages.push_back(reply);
  }
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Interactive multi-turn chat (reads user turns from standard input)");
  auto a = std::make_shared<ChatArgs>();
  a->gen.params.max_tokens = 512;
  cmd->add_option("MODEL_DIR", a->dir, "Checkpoint directory (config.json, safetensors, tokenizer.json)")->required();
  auto* t = cmd->add_flag("--thinking", a->thinking, "Thinking mode: the model reasons first (the default)");
  auto* c = cmd->add_flag("--chat", a->chat, "Chat (non-thinking) mode");
  t->excludes(c);
  cmd->add_option("--system", a->system, "A system prompt");
  cmd->add_option("--reasoning-effort", a->effort, "high or max (max adds the effort paragraph)");
  add_generation_options(cmd, a->gen);
  cmd->callback([a] { with_context("chat with " + a->dir, [&] { run_chat(*a); }); });
}

}  // namespace dsv4::tools
