// Token masks on the real DeepSeek-V4 vocabulary (.cache/tokenizer/deepseek-v4/tokenizer.json,
// installed by scripts/setup_python.sh): the trie walk (with and without the plain-string fast
// path) equals feeding every token's bytes one by one; added tokens are never allowed; EOS only
// where the value is complete, and then only EOS; random walks through the masks always spell
// a valid instance; a shared vocabulary serves threads at once.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "runtime/structured/json_constraint.h"
#include "runtime/structured/json_schema.h"
#include "runtime/structured/matcher.h"
#include "runtime/structured/token_mask.h"
#include "structured/json_testing.h"
#include "support/test_support.h"
#include "tokenizer/tokenizer.h"

namespace dsv4::structured {
namespace {

using OJson = nlohmann::ordered_json;

struct RealVocab {
  std::unique_ptr<tokenizer::Tokenizer> tok;
  std::shared_ptr<const TokenTrie> trie;
  int32_t eos = -1;
  static RealVocab& get() {
    static RealVocab v;
    return v;
  }

 private:
  RealVocab() {
    const std::string file = test::source_dir() + "/.cache/tokenizer/deepseek-v4/tokenizer.json";
    if (!std::filesystem::exists(file)) return;
    tok = std::make_unique<tokenizer::Tokenizer>(tokenizer::Tokenizer::load(file));
    trie = TokenTrie::from_tokenizer(*tok);
    eos = int32_t(*tok->token_id("<｜end▁of▁sentence｜>"));
  }
};

const RealVocab& vocab() {
  const RealVocab& v = RealVocab::get();
  if (!v.tok) ADD_FAILURE() << "The DeepSeek-V4 tokenizer.json is missing: run scripts/setup_python.sh";
  return v;
}

std::vector<uint64_t> brute_force_mask(const Matcher& m, const TokenTrie& t, const MatchState& s) {
  std::vector<uint64_t> bits((t.vocab_size() + 63) / 64, 0);
  for (uint32_t id = 0; id < t.vocab_size(); ++id) {
    const std::string_view b = t.bytes(int32_t(id));
    if (b.empty()) continue;
    MatchState copy = s;
    if (m.feed(copy, b)) bits[id / 64] |= uint64_t(1) << (id % 64);
  }
  return bits;
}

size_t popcount(const std::vector<uint64_t>& bits) {
  size_t n = 0;
  for (uint64_t w : bits) n += size_t(__builtin_popcountll(w));
  return n;
}

TEST(TokenMask, TheVocabularyIsTheTokenizers) {
  const RealVocab& v = vocab();
  if (!v.tok) return;
  EXPECT_EQ(v.trie->vocab_size(), v.tok->id_bound());
  size_t added = 0;
  for (uint32_t id = 0; id < v.tok->id_bound(); ++id) {
    if (v.tok->is_added(id)) {
      ++added;
      EXPECT_TRUE(v.trie->bytes(int32_t(id)).empty()) << id;
    } else if (!v.trie->bytes(int32_t(id)).empty()) {
      EXPECT_EQ(std::string(v.trie->bytes(int32_t(id))), v.tok->decode({id})) << id;
    }
  }
  EXPECT_GT(added, 0u);
  EXPECT_GT(v.trie->plain_count(), 100000u);
}

TEST(TokenMask, TrieWalkEqualsFeedingEveryToken) {
  const RealVocab& v = vocab();
  if (!v.tok) return;
  const uint64_t seed = test::fresh_seed("token mask states");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  TokenMasker masker;
  int fast = 0;
  for (int round = 0; round < 24; ++round) {
    const OJson schema = test::random_schema(rng);
    const auto g = compile_json_schema(schema);
    const Matcher m(*g);
    const std::string text = test::random_value_text(rng, schema);
    size_t cut = std::uniform_int_distribution<size_t>(0, text.size())(rng);
    if (round % 2 == 0) {  // half of the states just after a quote: often inside a string
      std::vector<size_t> quotes;
      for (size_t i = 0; i < text.size(); ++i)
        if (text[i] == '"') quotes.push_back(i + 1);
      if (!quotes.empty()) cut = quotes[std::uniform_int_distribution<size_t>(0, quotes.size() - 1)(rng)];
    }
    MatchState s = m.start();
    ASSERT_TRUE(m.feed(s, text.substr(0, cut)));
    SCOPED_TRACE(schema.dump() + "\nprefix: " + text.substr(0, cut));
    const std::vector<uint64_t> expected = brute_force_mask(m, *v.trie, s);
    std::vector<uint64_t> walked, full;
    masker.compute(m, *v.trie, s, walked);
    fast += masker.stats().plain_fast_path;
    masker.compute(m, *v.trie, s, full, false);
    ASSERT_EQ(walked, expected) << popcount(walked) << " vs " << popcount(expected) << " allowed";
    ASSERT_EQ(full, expected);
  }
  std::printf("%d of 24 states took the plain-string fast path\n", fast);
}

TEST(TokenMask, StringStatesOfEveryKindMatchBruteForce) {
  const RealVocab& v = vocab();
  if (!v.tok) return;
  const auto g = compile_json_schema(OJson::parse(
      R"({"type": "object", "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 5},
          "t": {"type": "string"}}, "required": ["s", "t"]})"));
  const Matcher m(*g);
  TokenMasker masker;
  for (const char* prefix : {R"({"s": ")", R"({"s": "a)", R"({"s": "abcd)", R"({"s": "abcde)", "{\"s\": \"a\\",
                             "{\"s\": \"a\\u00", "{\"s\": \"\xe4\xb8", R"({"s": "ab", "t": ")", R"({"s": "ab", "t": "x)"}) {
    SCOPED_TRACE(prefix);
    MatchState s = m.start();
    ASSERT_TRUE(m.feed(s, prefix));
    std::vector<uint64_t> walked;
    masker.compute(m, *v.trie, s, walked);
    EXPECT_EQ(walked, brute_force_mask(m, *v.trie, s));
  }
}

TEST(TokenMask, AddedTokensNeverEosOnlyAtTheEndAndThenOnlyEos) {
  const RealVocab& v = vocab();
  if (!v.tok) return;
  const auto f = std::make_shared<JsonConstraintFactory>(
      compile_json_schema(OJson::parse(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})")),
      v.trie, "json_schema");
  const int32_t stop = 7;  // a request stop token: an end token like EOS
  auto c = f->start({v.eos, stop});
  auto expect_no_added = [&](const std::vector<uint64_t>& bits) {
    for (uint32_t id = 0; id < v.tok->id_bound(); ++id)
      if (v.tok->is_added(id) && int32_t(id) != v.eos) {
        ASSERT_FALSE(token_allowed(bits, int32_t(id))) << id;
      }
  };
  auto id_of = [&](std::string_view bytes) {  // the token spelling exactly these bytes
    for (uint32_t id = 0; id < v.trie->vocab_size(); ++id)
      if (v.trie->bytes(int32_t(id)) == bytes) return int32_t(id);
    return int32_t(-1);
  };
  for (const char* piece : {"{", "\"", "a", "\":", " ", "4", "2"}) {
    const auto& bits = c->allowed();
    EXPECT_FALSE(token_allowed(bits, v.eos));
    EXPECT_FALSE(c->complete());
    expect_no_added(bits);
    const int32_t id = id_of(piece);
    ASSERT_GE(id, 0) << piece;
    ASSERT_TRUE(token_allowed(bits, id)) << piece;
    ASSERT_TRUE(c->accept(id));
  }
  EXPECT_FALSE(c->accept(v.eos));  // {"a": 42 is not complete
  EXPECT_FALSE(c->accept(id_of("]")));
  ASSERT_TRUE(c->accept(id_of("}")));
  EXPECT_TRUE(c->complete());
  const auto& bits = c->allowed();
  EXPECT_EQ(popcount(bits), 2u);
  EXPECT_TRUE(token_allowed(bits, v.eos));
  EXPECT_TRUE(token_allowed(bits, stop));
  auto copy = c->clone();
  EXPECT_TRUE(c->accept(v.eos));
  EXPECT_EQ(popcount(c->allowed()), 0u);
  EXPECT_FALSE(c->accept(v.eos));
  EXPECT_TRUE(copy->accept(stop));  // the clone is independent
}

TEST(TokenMask, RandomWalksThroughTheMasksSpellValidInstances) {
  const RealVocab& v = vocab();
  if (!v.tok) return;
  const uint64_t seed = test::fresh_seed("token mask walks");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  int finished = 0, walks = 0;
  for (int round = 0; round < 40; ++round) {
    const OJson schema = round % 8 == 0 ? OJson{{"type", "object"}} : test::random_schema(rng);
    SCOPED_TRACE(schema.dump());
    const JsonConstraintFactory f(compile_json_schema(schema), v.trie, "json_schema");
    auto c = f.start({v.eos});
    std::vector<uint32_t> ids;
    bool ended = false;
    for (int step = 0; step < 300 && !ended; ++step) {
      const auto& bits = c->allowed();
      std::vector<int32_t> all, structural;
      for (uint32_t id = 0; id < bits.size() * 64; ++id)
        if (token_allowed(bits, int32_t(id))) {
          all.push_back(int32_t(id));
          if (int32_t(id) == v.eos || plain_string_code_points(v.trie->bytes(int32_t(id))) < 0) structural.push_back(int32_t(id));
        }
      ASSERT_FALSE(all.empty()) << "dead end after: " << v.tok->decode(ids);
      // Half of the time a token that is not plain string text, so strings end and values close.
      const auto& pool = !structural.empty() && std::bernoulli_distribution(0.5)(rng) ? structural : all;
      int32_t id = pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)];
      if (token_allowed(bits, v.eos) && std::bernoulli_distribution(0.5)(rng)) id = v.eos;
      ASSERT_TRUE(c->accept(id));
      if (id == v.eos)
        ended = true;
      else
        ids.push_back(uint32_t(id));
    }
    ++walks;
    if (!ended) continue;
    ++finished;
    const std::string text = v.tok->decode(ids);
    EXPECT_TRUE(test::text_valid(text, schema)) << text;
  }
  std::printf("%d of %d walks reached EOS; every one was a valid instance\n", finished, walks);
  EXPECT_GT(finished, walks / 2);
}

TEST(TokenMask, OneVocabularyServesThreadsAtOnce) {
  const RealVocab& v = vocab();
  if (!v.tok) return;
  const auto g = json_object_grammar();
  const Matcher m(*g);
  std::vector<MatchState> states;
  for (const char* prefix : {"", "{\"", "{\"k\": ", "{\"k\": [1, {\"a\": \"b", "{\"k\": tr"}) {
    states.push_back(m.start());
    ASSERT_TRUE(m.feed(states.back(), prefix));
  }
  std::vector<std::vector<uint64_t>> expected(states.size());
  TokenMasker serial;
  for (size_t i = 0; i < states.size(); ++i) serial.compute(m, *v.trie, states[i], expected[i]);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      TokenMasker masker;
      std::vector<uint64_t> bits;
      for (int r = 0; r < 10; ++r)
        for (size_t i = 0; i < states.size(); ++i) {
          masker.compute(m, *v.trie, states[(i + size_t(t)) % states.size()], bits);
          mismatches[size_t(t)] += bits != expected[(i + size_t(t)) % states.size()];
        }
    });
  for (auto& th : threads) th.join();
  for (int n : mismatches) EXPECT_EQ(n, 0);
}

}  // namespace
}  // namespace dsv4::structured
