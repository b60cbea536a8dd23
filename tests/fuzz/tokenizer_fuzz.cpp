// Fuzz (under ASan/UBSan): random bytes and random Unicode through the real DeepSeek-V4 tokenizer
// and the streaming detokenizer. No crash, no hang (time-bounded), decode(encode(s)) == s for
// valid UTF-8 and == repaired s otherwise.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>

#include "support/test_support.h"
#include "core/error.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using dsv4::tokenizer::Tokenizer;

constexpr double kSecondsPerTest = 12.0;

const Tokenizer& real() {
  static const Tokenizer t = Tokenizer::load(dsv4::test::source_dir() + "/.cache/tokenizer/deepseek-v4");
  return t;
}

bool have_real() {
  const bool ok = std::filesystem::exists(dsv4::test::source_dir() + "/.cache/tokenizer/deepseek-v4/tokenizer.json");
  if (!ok) ADD_FAILURE() << "the DeepSeek-V4 tokenizer.json is missing: run scripts/setup.sh first";
  return ok;
}

std::string random_bytes(std::mt19937_64& rng) {
  std::string s(rng() % 300, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

std::string random_unicode(std::mt19937_64& rng) {
  static const std::vector<std::string> pieces = {"<｜User｜>", "<think>", "</think>", "｜DSML｜", "<｜end▁of▁sentence｜>",
                                                  "<｜", "｜>", "\r\n", "   ", "\t", "123456", "Ġ", "👨‍👩‍👧"};
  std::string s;
  const size_t n = rng() % 200;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = rng() % 10;
    if (k == 0) {
      s += pieces[rng() % pieces.size()];
    } else {
      uint32_t cp;
      do {
        cp = k < 5 ? uint32_t(rng() % 0x3000) : k < 8 ? uint32_t(rng() % 0x10000) : uint32_t(rng() % 0x110000);
      } while (cp >= 0xD800 && cp <= 0xDFFF);
      dsv4::tokenizer::append_utf8(s, cp);
    }
  }
  return s;
}

template <typename Make>
void fuzz(const char* what, Make make) {
  const uint64_t seed = dsv4::test::fresh_seed(what);
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const Tokenizer& tok = real();
  const auto start = std::chrono::steady_clock::now();
  size_t cases = 0;
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < kSecondsPerTest) {
    const std::string s = make(rng);
    const auto ids = tok.encode(s);
    const std::string back = tok.decode(ids);
    const std::string want = dsv4::tokenizer::is_valid_utf8(s) ? s : dsv4::tokenizer::repair_utf8(s);
    ASSERT_EQ(back, want) << "case " << cases;
    dsv4::tokenizer::StreamDetokenizer stream(tok);
    std::string joined;
    for (uint32_t id : ids) {
      const std::string piece = stream.push(id);
      ASSERT_TRUE(dsv4::tokenizer::is_valid_utf8(piece));
      joined += piece;
    }
    joined += stream.finish();
    ASSERT_EQ(joined, want);
    ++cases;
  }
  std::printf("[fuzz] %s: %zu cases\n", what, cases);
}

TEST(TokenizerFuzz, RandomBytes) {
  if (!have_real()) return;
  fuzz("tokenizer random bytes", random_bytes);
}

TEST(TokenizerFuzz, RandomUnicode) {
  if (!have_real()) return;
  fuzz("tokenizer random unicode", random_unicode);
}

TEST(TokenizerFuzz, RandomIdsDecode) {
  if (!have_real()) return;
  const uint64_t seed = dsv4::test::fresh_seed("tokenizer random ids");
  std::mt19937_64 rng(seed);
  const Tokenizer& tok = real();
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint32_t> ids(rng() % 50);
    for (auto& id : ids) id = static_cast<uint32_t>(rng() % (tok.id_bound() + 10));
    try {
      (void)tok.decode(ids);
    } catch (const dsv4::Error&) {
      // ids past the vocabulary are reported, not a crash
    }
  }
}

TEST(TokenizerFuzz, RandomSmallTokenizerFiles) {
  // Random bytes mutated into a small tokenizer.json: loading must throw dsv4::Error or succeed.
  const uint64_t seed = dsv4::test::fresh_seed("tokenizer random files");
  std::mt19937_64 rng(seed);
  const std::string base =
      R"({"added_tokens":[{"id":3,"content":"<x>","special":true}],"normalizer":null,)"
      R"("pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},"decoder":{"type":"ByteLevel"},)"
      R"("model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}})";
  for (int i = 0; i < 3000; ++i) {
    std::string s = base;
    for (int m = 0; m < 1 + int(rng() % 3); ++m) s[rng() % s.size()] = static_cast<char>(rng() & 0xFF);
    try {
      const Tokenizer t = Tokenizer::from_json_text(s);
      (void)t.encode("abab <x> b");
    } catch (const dsv4::Error&) {
    }
  }
}

}  // namespace
