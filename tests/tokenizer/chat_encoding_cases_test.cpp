// The four official DeepSeek-V4 encoding cases (../shared/encoding/dsv4): byte-for-byte.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/test_support.h"
#include "tokenizer/chat_encoding.h"

namespace {

using dsv4::chat::EncodeOptions;
using dsv4::chat::Json;
using dsv4::chat::ThinkingMode;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void check_case(int n, ThinkingMode mode) {
  const std::string dir = dsv4::test::shared_dir() + "/encoding/dsv4/";
  const Json input = Json::parse(read_all(dir + "case" + std::to_string(n) + ".input.json"));
  const std::string expected = read_all(dir + "case" + std::to_string(n) + ".expected.txt");
  EncodeOptions options;
  options.mode = mode;
  const std::string got = dsv4::chat::encode_messages(dsv4::chat::messages_from_request(input), options);
  if (got != expected) {
    size_t i = 0;
    while (i < got.size() && i < expected.size() && got[i] == expected[i]) ++i;
    ADD_FAILURE() << "case " << n << " differs at byte " << i << "\n  got:      ..."
                  << got.substr(i > 60 ? i - 60 : 0, 160) << "\n  expected: ..."
                  << expected.substr(i > 60 ? i - 60 : 0, 160);
  }
}

TEST(ChatEncodingCases, Case1ToolsThinking) { check_case(1, ThinkingMode::kThinking); }
TEST(ChatEncodingCases, Case2MultiTurnThinking) { check_case(2, ThinkingMode::kThinking); }
TEST(ChatEncodingCases, Case3DeveloperLatestReminderThinking) { check_case(3, ThinkingMode::kThinking); }
TEST(ChatEncodingCases, Case4ChatModeTask) { check_case(4, ThinkingMode::kChat); }

}  // namespace
