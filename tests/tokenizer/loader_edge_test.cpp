// The loader on small tokenizer.json files written here: not tied to DeepSeek's ids, added-token
// matching rules, split behaviours, merge ranks against a brute-force reference, unk handling and
// clear errors for what it does not support.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using dsv4::tokenizer::Tokenizer;
using nlohmann::json;

// The 256 byte symbols get ids 0..255 in a scrambled order (nothing like DeepSeek's); added tokens
// and merges get ids from 256 on, as Hugging Face numbers them.
json tiny_spec() {
  json vocab = json::object();
  const auto& alphabet = dsv4::tokenizer::byte_level_alphabet();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    dsv4::tokenizer::append_utf8(s, alphabet[size_t(b)]);
    vocab[s] = (b * 167 + 13) % 256;
  }
  json spec = {
      {"version", "1.0"},
      {"added_tokens", json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}};
  return spec;
}

void add_merge(json& spec, const std::string& a, const std::string& b, int id) {
  spec["model"]["vocab"][a + b] = id;
  spec["model"]["merges"].push_back(a + " " + b);
}

Tokenizer build(const json& spec) { return Tokenizer::from_json_text(spec.dump(), "test spec"); }

uint32_t byte_id(char c) { return (static_cast<uint8_t>(c) * 167u + 13u) % 256u; }

TEST(LoaderEdge, ByteSymbolsAndMergesByRank) {
  json spec = tiny_spec();
  add_merge(spec, "a", "b", 1000);
  add_merge(spec, "b", "c", 1001);
  add_merge(spec, "ab", "c", 1002);
  const Tokenizer t = build(spec);
  // "abc": a+b has the better rank, then ab+c.
  EXPECT_EQ(t.encode("abc"), std::vector<uint32_t>{1002});
  EXPECT_EQ(t.encode("bc"), std::vector<uint32_t>{1001});
  EXPECT_EQ(t.encode("xbc"), (std::vector<uint32_t>{byte_id('x'), 1001}));
  // GPT-2 split: " abc" is one word with its space; "Ġ" is the space symbol.
  EXPECT_EQ(t.encode(" abc"), (std::vector<uint32_t>{byte_id(' '), 1002}));
  EXPECT_EQ(t.decode(t.encode("héllo wörld ✓")), "héllo wörld ✓");
}

TEST(LoaderEdge, MergeOrderIsRankNotPosition) {
  json spec = tiny_spec();
  add_merge(spec, "b", "c", 1000);  // better rank than a+b
  add_merge(spec, "a", "b", 1001);
  const Tokenizer t = build(spec);
  EXPECT_EQ(t.encode("abc"), (std::vector<uint32_t>{byte_id('a'), 1000}));
  // Equal pairs: leftmost first ("aaa" -> "aa" "a").
  json spec2 = tiny_spec();
  add_merge(spec2, "a", "a", 2000);
  EXPECT_EQ(build(spec2).encode("aaa"), (std::vector<uint32_t>{2000, byte_id('a')}));
  EXPECT_EQ(build(spec2).encode("aaaa"), (std::vector<uint32_t>{2000, 2000}));
}

TEST(LoaderEdge, QueueMergeEqualsSimpleMergeOnRandomWords) {
  const uint64_t seed = dsv4::test::fresh_seed("bpe merge loops");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  json spec = tiny_spec();
  // Random merges over a 4-letter alphabet, built up from existing tokens.
  std::vector<std::string> toks = {"a", "b", "c", "d"};
  int next_id = 1000;
  for (int m = 0; m < 60; ++m) {
    const std::string l = toks[rng() % toks.size()], r = toks[rng() % toks.size()];
    if (spec["model"]["vocab"].contains(l + r)) continue;
    add_merge(spec, l, r, next_id++);
    toks.push_back(l + r);
  }
  const Tokenizer t = build(spec);
  for (int iter = 0; iter < 300; ++iter) {
    std::string word;
    const size_t n = 1 + rng() % 200;
    for (size_t i = 0; i < n; ++i) word.push_back("abcd"[rng() % 4]);
    // Brute force: repeatedly merge the lowest-rank adjacent pair (leftmost on ties).
    std::vector<std::string> syms;
    for (char c : word) syms.emplace_back(1, c);
    const auto& merges = spec["model"]["merges"];
    while (true) {
      size_t best = SIZE_MAX, best_rank = SIZE_MAX;
      for (size_t i = 0; i + 1 < syms.size(); ++i)
        for (size_t r = 0; r < merges.size() && r < best_rank; ++r)
          if (merges[r] == syms[i] + " " + syms[i + 1]) {
            best_rank = r;
            best = i;
          }
      if (best == SIZE_MAX) break;
      syms[best] += syms[best + 1];
      syms.erase(syms.begin() + std::ptrdiff_t(best) + 1);
    }
    std::vector<uint32_t> want;
    for (const auto& s : syms) want.push_back(spec["model"]["vocab"][s].get<uint32_t>());
    ASSERT_EQ(t.encode(word), want) << word;
  }
}

TEST(LoaderEdge, AddedTokensLeftmostLongestAndNormalizedPass) {
  json spec = tiny_spec();
  spec["added_tokens"] = json::array({
      {{"id", 256}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
      {{"id", 257}, {"content", "<s>x"}, {"special", true}, {"normalized", false}},
      {{"id", 258}, {"content", "END"}, {"special", false}, {"normalized", true}, {"rstrip", true}, {"lstrip", true}},
      {{"id", 259}, {"content", "ww"}, {"special", false}, {"normalized", true}, {"single_word", true}},
      {{"id", byte_id('<')}, {"content", "<"}, {"special", false}, {"normalized", true}},
  });
  const Tokenizer t = build(spec);
  // Expected ids checked against Hugging Face tokenizers 0.21.1 on the same file.
  EXPECT_EQ(t.encode("<s>x"), std::vector<uint32_t>{257});                                     // longest
  EXPECT_EQ(t.encode("<s>y"), (std::vector<uint32_t>{256, byte_id('y')}));                     // then shorter
  EXPECT_EQ(t.encode("a<b"), (std::vector<uint32_t>{byte_id('a'), byte_id('<'), byte_id('b')}));
  EXPECT_EQ(t.encode("a  END  b"), (std::vector<uint32_t>{byte_id('a'), 258, byte_id('b')}));  // strips spaces
  EXPECT_EQ(t.encode("a\tEND\nb"), (std::vector<uint32_t>{byte_id('a'), 258, byte_id('b')}));
  EXPECT_EQ(t.encode("a ww b"), (std::vector<uint32_t>{byte_id('a'), byte_id(' '), 259, byte_id(' '), byte_id('b')}));
  EXPECT_EQ(t.encode("awwb"), (std::vector<uint32_t>{byte_id('a'), byte_id('w'), byte_id('w'), byte_id('b')}));
  EXPECT_EQ(t.encode("ww"), std::vector<uint32_t>{259});
  EXPECT_TRUE(t.is_special(256));
  EXPECT_FALSE(t.is_special(258));
  EXPECT_EQ(t.decode({256, byte_id('y')}, /*skip_special=*/true), "y");
  EXPECT_EQ(t.id_bound(), 260u);
  EXPECT_THROW(t.decode({260}), dsv4::Error);
}

TEST(LoaderEdge, SplitBehaviours) {
  auto with_split = [](const std::string& behavior, bool invert) {
    json spec = tiny_spec();
    spec["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers",
                              json::array({{{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior},
                                            {"invert", invert}},
                                           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
    add_merge(spec, "a", "-", 1000);
    add_merge(spec, "-", "b", 1001);
    return build(spec);
  };
  const uint32_t a = byte_id('a'), b = byte_id('b'), dash = byte_id('-');
  EXPECT_EQ(with_split("Isolated", false).encode("a-b"), (std::vector<uint32_t>{a, dash, b}));
  EXPECT_EQ(with_split("Removed", false).encode("a-b"), (std::vector<uint32_t>{a, b}));
  EXPECT_EQ(with_split("MergedWithPrevious", false).encode("a-b"), (std::vector<uint32_t>{1000, b}));
  EXPECT_EQ(with_split("MergedWithNext", false).encode("a-b"), (std::vector<uint32_t>{a, 1001}));
  EXPECT_EQ(with_split("Contiguous", false).encode("a--b"), (std::vector<uint32_t>{a, dash, dash, b}));
  EXPECT_EQ(with_split("Removed", true).encode("a-b"), (std::vector<uint32_t>{dash}));
}

TEST(LoaderEdge, PrefixSpaceAndNoRegex) {
  json spec = tiny_spec();
  spec["pre_tokenizer"]["add_prefix_space"] = true;
  const Tokenizer t = build(spec);
  EXPECT_EQ(t.encode("a"), (std::vector<uint32_t>{byte_id(' '), byte_id('a')}));
  EXPECT_EQ(t.encode(" a"), (std::vector<uint32_t>{byte_id(' '), byte_id('a')}));
}

TEST(LoaderEdge, InvalidUtf8IsRepairedLikePython) {
  const Tokenizer t = build(tiny_spec());
  // "\xe0\x80" is two maximal subparts; "\xe2\x82" at the end is one.
  EXPECT_EQ(t.decode(t.encode("x\xe0\x80y\xe2\x82")), "x\xEF\xBF\xBD\xEF\xBF\xBDy\xEF\xBF\xBD");
  EXPECT_EQ(dsv4::tokenizer::repair_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(dsv4::tokenizer::repair_utf8("\xf4\x90\x80\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(LoaderEdge, UnsupportedOrBrokenFilesFailClearly) {
  auto expect_error = [](const json& spec, const std::string& needle) {
    try {
      build(spec);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const dsv4::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  json s1 = tiny_spec();
  s1["model"]["merges"].push_back("q zz");
  expect_error(s1, "not in the vocabulary");
  json s2 = tiny_spec();
  s2["normalizer"] = {{"type", "NFC"}};
  expect_error(s2, "normalizer type 'NFC'");
  json s3 = tiny_spec();
  s3["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(s3, "pre-tokenizer type 'Whitespace'");
  json s4 = tiny_spec();
  s4["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_error(s4, "does not compile");
  json s5 = tiny_spec();
  s5["model"]["type"] = "WordPiece";
  expect_error(s5, "WordPiece");
  EXPECT_THROW(Tokenizer::from_json_text("{not json"), dsv4::Error);
  EXPECT_THROW(Tokenizer::load("/nonexistent/dir"), dsv4::Error);
}

TEST(LoaderEdge, UnknownBytesUseUnkOrAreDropped) {
  json spec = tiny_spec();
  spec["model"]["vocab"].erase("Ā");  // byte 0x00's symbol
  spec["model"]["vocab"]["<unk>"] = 300;
  EXPECT_EQ(build(spec).encode(std::string("a\0b", 3)),
            (std::vector<uint32_t>{byte_id('a'), byte_id('b')}));  // no unk_token: dropped
  spec["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(build(spec).encode(std::string("a\0b", 3)), (std::vector<uint32_t>{byte_id('a'), 300, byte_id('b')}));
}

}  // namespace
