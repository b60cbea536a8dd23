// dsv4 tokenize MODEL_DIR --text ... | --file F: prints the token ids as a JSON array.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "tools/commands.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::tools {

void add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
  auto model_dir = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  cmd->add_option("model_dir", *model_dir, "Model directory holding tokenizer.json")->required();
  auto* text_opt = cmd->add_option("--text", *text, "The text to tokenize");
  auto* file_opt = cmd->add_option("--file", *file, "A file whose bytes are tokenized");
  text_opt->excludes(file_opt);
  cmd->callback([=] {
    if (text_opt->count() == 0 && file_opt->count() == 0) fail("tokenize needs --text or --file");
    std::string input = *text;
    if (file_opt->count() > 0) {
      input = read_file(*file, "text file");
    }
    const auto tokenizer = tokenizer::Tokenizer::load(*model_dir);
    const auto ids = tokenizer.encode(input);
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ", ";
      out += std::to_string(ids[i]);
    }
    out += "]\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  });
}

}  // namespace dsv4::tools
