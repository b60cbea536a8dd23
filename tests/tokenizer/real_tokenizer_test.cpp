// The real DeepSeek-V4 tokenizer: the published id vectors (../shared/tokenizer/SOURCE.md §3.1)
// and the ids of the tokens the chat encoder uses (SOURCE.md §4).
#include <gtest/gtest.h>

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
