// dsv4 detokenize MODEL_DIR --ids 1,2,3: prints the text the ids stand for (exact bytes).
#include <cstdio>

#include "core/error.h"
#include "tools/commands.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::tools {

namespace {

std::vector<uint32_t> parse_ids(const std::string& list) {
  std::vector<uint32_t> ids;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    size_t used = 0;
    unsigned long long v = 0;
    try {
      v = std::stoull(cur, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != cur.size() || v > UINT32_MAX) fail("'{}' is not a token id", cur);
    ids.push_back(static_cast<uint32_t>(v));
    cur.clear();
  };
  for (char c : list) {
    if (c == ',' || c == ' ' || c == '[' || c == ']' || c == '\n' || c == '\t') {
      flush();
    } else {
      cur.push_back(c);
    }
  }
  flush();
  return ids;
}

}  // namespace

void add_detokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("detokenize", "Print the text of a list of token ids");
  auto model_dir = std::make_shared<std::string>();
  auto ids = std::make_shared<std::string>();
  auto skip_special = std::make_shared<bool>(false);
  cmd->add_option("model_dir", *model_dir, "Model directory holding tokenizer.json")->required();
  cmd->add_option("--ids", *ids, "Comma-separated ids (a JSON array works too)")->required();
  cmd->add_flag("--skip-special", *skip_special, "Leave out special tokens");
  cmd->callback([=] {
    const auto tokenizer = tokenizer::Tokenizer::load(*model_dir);
    const std::string text = tokenizer.decode(parse_ids(*ids), *skip_special);
    std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

}  // namespace dsv4::tools
