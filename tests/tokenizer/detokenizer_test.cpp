// The streaming detokenizer on the real tokenizer: whole UTF-8 only, same text as decode(), special
// tokens, and invalid byte runs released as U+FFFD.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/utf8.h"

namespace {

using dsv4::tokenizer::is_valid_utf8;
using dsv4::tokenizer::StreamDetokenizer;

TEST(StreamDetokenizer, EmitsOnlyWholeCharactersAndMatchesDecode) {
  const auto* tok = dsv4::test::real_tokenizer();
  ASSERT_NE(tok, nullptr);
  const uint64_t seed = dsv4::test::fresh_seed("stream detokenizer");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const std::vector<std::string> samples = {"héllo 👨‍👩‍👧‍👦 世界 ĠÑĤ <think>x</think> 🇯🇵",
                                            "<｜User｜>你好<｜Assistant｜>答案<｜end▁of▁sentence｜>",
                                            "𝟘𝟙𝟚 ½ ⅫⅣ ٠١٢ 🫠🥲"};
  for (const std::string& text : samples) {
    const auto ids = tok->encode(text);
    StreamDetokenizer stream(*tok);
    std::string joined;
    for (uint32_t id : ids) {
      const std::string piece = stream.push(id);
      EXPECT_TRUE(is_valid_utf8(piece)) << "partial UTF-8 released for id " << id;
      joined += piece;
    }
    joined += stream.finish();
    EXPECT_EQ(joined, text);
  }
  // Random byte-level ids (any bytes): every release is valid UTF-8, and the whole equals the
  // repaired decode.
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<uint32_t> ids;
    for (int i = 0; i < 30; ++i) ids.push_back(static_cast<uint32_t>(rng() % 128000));
    if (iter % 3 == 0) ids.push_back(1);  // EOS, special
    StreamDetokenizer stream(*tok);
    std::string joined;
    for (uint32_t id : ids) {
      const std::string piece = stream.push(id);
      ASSERT_TRUE(is_valid_utf8(piece));
      joined += piece;
    }
    joined += stream.finish();
    EXPECT_EQ(joined, dsv4::tokenizer::repair_utf8(tok->decode(ids)));
  }
}

TEST(StreamDetokenizer, SkipsSpecialTokensWhenAsked) {
  const auto* tok = dsv4::test::real_tokenizer();
  ASSERT_NE(tok, nullptr);
  StreamDetokenizer stream(*tok, /*skip_special=*/true);
  std::string out;
  for (uint32_t id : tok->encode("<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>")) out += stream.push(id);
  out += stream.finish();
  EXPECT_EQ(out, "Hi");
}

TEST(StreamDetokenizer, HoldsSplitCharacterUntilComplete) {
  const auto* tok = dsv4::test::real_tokenizer();
  ASSERT_NE(tok, nullptr);
  // "ĠÑĤ" style ids: find single-byte tokens for the bytes of "世" (E4 B8 96).
  const auto& alphabet = dsv4::tokenizer::byte_level_alphabet();
  std::vector<uint32_t> ids;
  for (unsigned char b : std::string("世")) {
    std::string sym;
    dsv4::tokenizer::append_utf8(sym, alphabet[b]);
    ids.push_back(*tok->token_id(sym));
  }
  StreamDetokenizer stream(*tok);
  EXPECT_EQ(stream.push(ids[0]), "");
  EXPECT_EQ(stream.push(ids[1]), "");
  EXPECT_EQ(stream.push(ids[2]), "世");
  // A cut character followed by a special token: released as U+FFFD before the token.
  EXPECT_EQ(stream.push(ids[0]), "");
  EXPECT_EQ(stream.push(1), "\xEF\xBF\xBD<｜end▁of▁sentence｜>");
  EXPECT_EQ(stream.push(ids[0]), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");
}

}  // namespace
