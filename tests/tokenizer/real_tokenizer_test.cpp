// The real DeepSeek-V4 tokenizer: the published id vectors (../shared/tokenizer/SOURCE.md §3.1)
// and the ids of the tokens the chat encoder uses (SOURCE.md §4).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "tokenizer/tokenizer_test_util.h"

namespace {

using dsv4::test::real_tokenizer;

TEST(RealTokenizer, PublishedVectorPlainText) {
  const auto* tok = real_tokenizer();
  ASSERT_NE(tok, nullptr);
  const std::string text = "Hello! 毕老师！1 + 1 = 2 ĠÑĤÐ²ÑĬÑĢ";
  const std::vector<uint32_t> want = {19923, 3, 223, 5464, 5008, 1175, 19, 940, 223, 19, 438, 223, 20,
                                      6113, 257, 76589, 131, 100, 76032, 1628, 76589, 131, 108, 76589, 131, 98};
  EXPECT_EQ(tok->encode(text), want);
  EXPECT_EQ(tok->decode(want), text);
}

TEST(RealTokenizer, PublishedVectorChatTokens) {
  const auto* tok = real_tokenizer();
  ASSERT_NE(tok, nullptr);
  const std::string text = "<｜User｜>你好<｜Assistant｜><think>推理</think>答案<｜end▁of▁sentence｜>";
  const std::vector<uint32_t> want = {128803, 30594, 128804, 128821, 36101, 128822, 7624, 1};
  EXPECT_EQ(tok->encode(text), want);
  EXPECT_EQ(tok->decode(want), text);
}

TEST(RealTokenizer, EncoderTokenIds) {
  const auto* tok = real_tokenizer();
  ASSERT_NE(tok, nullptr);
  const std::vector<std::pair<std::string, uint32_t>> table = {
      {"<｜begin▁of▁sentence｜>", 0}, {"<｜end▁of▁sentence｜>", 1}, {"<｜User｜>", 128803},
      {"<｜Assistant｜>", 128804}, {"<think>", 128821}, {"</think>", 128822}, {"｜DSML｜", 128825},
      {"<｜latest_reminder｜>", 128828}, {"<｜action｜>", 128829}, {"<｜query｜>", 128830},
      {"<｜authority｜>", 128831}, {"<｜domain｜>", 128832}, {"<｜title｜>", 128836},
      {"<｜read_url｜>", 128845}, {"<｜image｜>", 129279}, {"<|place_holder_mm_span_0021|>", 128847}};
  for (const auto& [text, id] : table) {
    EXPECT_EQ(tok->encode(text), std::vector<uint32_t>{id}) << text;
    EXPECT_EQ(tok->token_id(text), id) << text;
  }
  EXPECT_EQ(tok->id_bound(), 129280u);
  EXPECT_EQ(tok->bos_id(), std::nullopt);  // no tokenizer_config.json next to the cached file
  // The DSML tag is not one token: only the ｜DSML｜ part is.
  const auto ids = tok->encode("<｜DSML｜invoke");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[1], 128825u);
}

}  // namespace

namespace {

TEST(RealTokenizer, ConfigGivesBosAndEos) {
  ASSERT_NE(dsv4::test::real_tokenizer(), nullptr);
  const std::string dir = dsv4::test::make_temp_dir("dsv4-tok-config");
  std::filesystem::copy_file(dsv4::test::real_tokenizer_dir() + "/tokenizer.json", dir + "/tokenizer.json");
  std::filesystem::copy_file(dsv4::test::shared_dir() + "/tokenizer/deepseek-v4/tokenizer_config.json",
                             dir + "/tokenizer_config.json");
  const auto tok = dsv4::tokenizer::Tokenizer::load(dir);
  EXPECT_EQ(tok.bos_id(), 0u);
  EXPECT_EQ(tok.eos_id(), 1u);
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_FALSE(tok.is_special(128803));  // <｜User｜> is an added token, not special
}

TEST(RealTokenizer, ConcurrentEncodesAgree) {
  const auto* tok = dsv4::test::real_tokenizer();
  ASSERT_NE(tok, nullptr);
  std::vector<std::string> texts;
  for (int i = 0; i < 400; ++i)
    texts.push_back("line " + std::to_string(i) + " 中文 words   and\tmore 🤖 " + std::string(size_t(i % 70), ' ') + "x");
  std::vector<std::vector<uint32_t>> want;
  for (const auto& t : texts) want.push_back(tok->encode(t));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int th = 0; th < 4; ++th)
    threads.emplace_back([&, th] {
      for (size_t k = 0; k < texts.size(); ++k) {
        const size_t i = (k * 7 + size_t(th) * 13) % texts.size();
        if (tok->encode(texts[i]) != want[i]) ++bad;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
