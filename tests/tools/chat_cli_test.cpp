// dsv4 chat and text prompts for dsv4 generate, driven as a user would on the built-in default
// model (random weights, real tokenizer): the text printed is the detokenized ids, a conversation
// is the chat encoding's prompt, and the chat loop keeps turns and answers each one.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace dsv4 {
namespace {

std::string default_model() { return test::binary_dir() + "/models/default"; }

TEST(CliText, GenerateFromTextPrintsTheDetokenizedIds) {
  const auto r = test::run_cli("generate " + default_model() +
                               " --prompt 'The capital of France is' --max-tokens 6 --temperature 0 --json 2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["ids"].size(), 6u);
  std::string ids;
  for (const auto& id : j["ids"]) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(id.get<int>());
  }
  const auto detok = test::run_cli("detokenize " + default_model() + " --ids " + ids + " 2>/dev/null");
  ASSERT_EQ(detok.code, 0) << detok.out;
  EXPECT_EQ(detok.out.substr(0, j["text"].get<std::string>().size()), j["text"].get<std::string>());
  // The prompt is the tokenizer's ids for the text, nothing added.
  const auto tok = test::run_cli("tokenize " + default_model() + " --text 'The capital of France is' 2>/dev/null");
  EXPECT_EQ(j["prompt_tokens"].get<size_t>(), nlohmann::json::parse(tok.out).size());
}

TEST(CliText, GenerateFromMessagesUsesTheChatEncoding) {
  const std::string dir = test::make_temp_dir("dsv4-chat");
  std::ofstream(dir + "/m.json") << R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}])";
  const auto rendered = test::run_cli("render --chat --messages " + dir + "/m.json > " + dir + "/prompt.txt");
  ASSERT_EQ(rendered.code, 0) << rendered.out;
  const auto tok = test::run_cli("tokenize " + default_model() + " --file " + dir + "/prompt.txt 2>/dev/null");
  ASSERT_EQ(tok.code, 0) << tok.out;
  const auto r = test::run_cli("generate " + default_model() + " --messages " + dir +
                               "/m.json --chat --max-tokens 3 --temperature 0 --json 2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["prompt_tokens"].get<size_t>(), nlohmann::json::parse(tok.out).size());
  std::filesystem::remove_all(dir);
}

TEST(CliText, ConflictingOrMissingPromptsAreErrors) {
  auto r = test::run_cli("generate " + default_model() + " --ids 1,2 --prompt hello");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("excludes"), std::string::npos) << r.out;
  r = test::run_cli("generate " + default_model());
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("give a prompt"), std::string::npos) << r.out;
  r = test::run_cli("generate " + default_model() + " --messages /nonexistent.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/nonexistent.json"), std::string::npos) << r.out;
}

TEST(CliChat, AnswersEveryTurnAndKeepsTheConversation) {
  // Two turns, a reset, one more: three answers, and the second turn's prompt holds the first.
  test::CliResult r;
  r.code = test::run_command("printf 'Hello\\nHow are you?\\n/reset\\nHello\\n/exit\\nnever read\\n' | " +
                                 test::cli_path() + " chat " + default_model() +
                                 " --chat --max-tokens 4 --temperature 0 --system 'Be brief.' 2>&1",
                             &r.out);
  ASSERT_EQ(r.code, 0) << r.out;
  std::vector<long long> prompt_tokens;
  for (size_t pos = 0; (pos = r.out.find("; prompt ", pos)) != std::string::npos; ++pos)
    prompt_tokens.push_back(std::stoll(r.out.substr(pos + 9)));
  ASSERT_EQ(prompt_tokens.size(), 3u) << r.out;
  EXPECT_GT(prompt_tokens[1], prompt_tokens[0] + 4);  // turn 2 re-reads turn 1 and its answer
  EXPECT_EQ(prompt_tokens[2], prompt_tokens[0]);      // after /reset: the same first turn again
  EXPECT_NE(r.out.find("assistant: "), std::string::npos) << r.out;
}

TEST(CliChat, MissingTokenizerIsAClearError) {
  const auto r = test::run_cli("chat " + test::golden_dir("golden-a") + " </dev/null");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("tokenizer"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace dsv4
