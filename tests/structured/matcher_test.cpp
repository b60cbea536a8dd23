// The byte-level matcher: hand cases (UTF-8, escapes, whitespace bound, numbers, prefixes), and
// random schemas with random valid texts (must be accepted, and every prefix must stay alive)
// and random mutations of them (must be rejected whenever an independent parser + validator
// says the mutated text is not a valid instance).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/error.h"
#include "runtime/structured/json_schema.h"
#include "runtime/structured/matcher.h"
#include "structured/json_testing.h"
#include "support/test_support.h"

namespace dsv4::structured {
namespace {

using OJson = nlohmann::ordered_json;

std::shared_ptr<const Grammar> any_string() { return compile_json_schema(OJson::parse(R"({"type": "string"})")); }

TEST(Matcher, Utf8IsCheckedByteByByte) {
  const auto g = any_string();
  for (const char* ok : {"\"\xc3\xa9\"", "\"\xe4\xb8\xad\"", "\"\xf0\x9f\x98\x80\"", "\"\xed\x9f\xbf\"", "\"\xf4\x8f\xbf\xbf\"", "\"\x7f\""})
    EXPECT_TRUE(matches(*g, ok)) << ok;
  for (const char* bad : {"\"\xc0\xaf\"",               // overlong
                          "\"\xe0\x80\xaf\"",           // overlong 3-byte
                          "\"\xed\xa0\x80\"",           // UTF-16 surrogate
                          "\"\xf4\x90\x80\x80\"",       // above U+10FFFF
                          "\"\xf5\x80\x80\x80\"", "\"\xff\"", "\"\x80\"",
                          "\"\xc3\"",                   // truncated
                          "\"\xe4\xb8\"", "\"\x01\"", "\"\n\""})
    EXPECT_FALSE(matches(*g, bad)) << testing::PrintToString(std::string(bad));
}

TEST(Matcher, EscapesAsJsonHasThemWithoutSurrogates) {
  const auto g = any_string();
  for (const char* ok : {R"("\"\\\/\b\f\n\r\t")", R"("\u0000\u00e9\uFFFF\uabcd\uD7FF\uE000")"}) EXPECT_TRUE(matches(*g, ok)) << ok;
  for (const char* bad : {R"("\a")", R"("\u12")", R"("\u12G4")", R"("\uD800")", R"("\udc00")", R"("\uDBFF\uDFFF")", R"("\)"})
    EXPECT_FALSE(matches(*g, bad)) << bad;
}

TEST(Matcher, WhitespaceRunsAreBounded) {
  GrammarLimits limits;
  limits.max_whitespace = 3;
  const auto g = compile_json_schema(OJson::parse(R"({"type": "array", "items": {"type": "integer"}})"), limits);
  EXPECT_TRUE(matches(*g, "[ \n\t1 \r ,   2   ]"));
  EXPECT_FALSE(matches(*g, "[    1]"));
  EXPECT_FALSE(matches(*g, "[1    ]"));
  EXPECT_FALSE(matches(*g, " [1]"));  // nothing before the value
  EXPECT_FALSE(matches(*g, "[1] "));  // nor after it
  EXPECT_FALSE(matches(*g, "[1,\f2]"));
  // The default bound.
  const auto d = compile_json_schema(OJson::parse(R"({"type": "array"})"));
  EXPECT_TRUE(matches(*d, "[" + std::string(20, ' ') + "]"));
  EXPECT_FALSE(matches(*d, "[" + std::string(21, ' ') + "]"));
}

TEST(Matcher, NumbersEndWhereTheirParentContinues) {
  const auto g = compile_json_schema(OJson::parse(R"({"type": "number"})"));
  const Matcher m(*g);
  MatchState s = m.start();
  ASSERT_TRUE(m.feed(s, "12"));
  EXPECT_TRUE(m.accepting(s));
  EXPECT_FALSE(m.finished(s));  // more digits may follow
  ASSERT_TRUE(m.feed(s, "."));
  EXPECT_FALSE(m.accepting(s));
  ASSERT_TRUE(m.feed(s, "5e-7"));
  EXPECT_TRUE(m.accepting(s));
  const auto obj = compile_json_schema(OJson::parse(R"({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})"));
  EXPECT_TRUE(matches(*obj, R"({"n":-12})"));
  EXPECT_TRUE(matches(*obj, "{\"n\":0 }"));
  EXPECT_FALSE(matches(*obj, R"({"n":-})"));
  EXPECT_FALSE(matches(*obj, R"({"n":00})"));
}

TEST(Matcher, AnObjectIsFinishedAtItsBrace) {
  const auto g = json_object_grammar();
  const Matcher m(*g);
  MatchState s = m.start();
  ASSERT_TRUE(m.feed(s, "{\"a\": [1, 2]"));
  EXPECT_FALSE(m.accepting(s));
  ASSERT_TRUE(m.feed(s, "}"));
  EXPECT_TRUE(m.accepting(s));
  EXPECT_TRUE(m.finished(s));
  MatchState t = s;
  EXPECT_FALSE(m.feed(t, " "));
}

TEST(Matcher, FeedRejectionLeavesTheStateUnchanged) {
  const auto g = json_object_grammar();
  const Matcher m(*g);
  MatchState s = m.start();
  ASSERT_TRUE(m.feed(s, "{\"k\":"));
  const MatchState before = s;
  EXPECT_FALSE(m.feed(s, " ]"));
  EXPECT_EQ(s.frames.size(), before.frames.size());
  EXPECT_TRUE(m.feed(s, " true}"));
  EXPECT_TRUE(m.finished(s));
}

TEST(Matcher, DepthLimitRefusesDeeperNesting) {
  GrammarLimits limits;
  limits.max_depth = 4;
  const auto g = compile_json_schema(OJson::parse("{}"), limits);
  EXPECT_TRUE(matches(*g, "[[[1]]]"));
  EXPECT_FALSE(matches(*g, "[[[[[1]]]]]"));
}

TEST(Matcher, RandomSchemasAcceptTheirRandomInstancesAndRejectMutations) {
  const uint64_t seed = test::fresh_seed("matcher random schemas");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  int accepted = 0, rejected = 0, skipped = 0;
  for (int round = 0; round < 300; ++round) {
    const OJson schema = test::random_schema(rng);
    SCOPED_TRACE(schema.dump());
    std::shared_ptr<const Grammar> g;
    try {
      g = compile_json_schema(schema);
    } catch (const Error& e) {
      // Only possible for a random enum whose values are all filtered out, which our generator
      // never makes: any error is a failure.
      FAIL() << e.what();
    }
    const Matcher m(*g);
    for (int v = 0; v < 10; ++v) {
      const std::string text = test::random_value_text(rng, schema);
      ASSERT_TRUE(test::text_valid(text, schema)) << "generator bug: " << text;
      MatchState s = m.start();
      for (size_t i = 0; i < text.size(); ++i) {
        MatchState next;
        ASSERT_TRUE(m.feed(s, uint8_t(text[i]), next)) << "rejected byte " << i << " of " << text;
        s = std::move(next);
      }
      ASSERT_TRUE(m.accepting(s)) << "not complete: " << text;
      ++accepted;
      for (int k = 0; k < 5; ++k) {
        const std::string bad = test::mutate(rng, text);
        if (test::text_valid(bad, schema)) {
          ++skipped;  // still a valid instance: nothing to check in this direction
          continue;
        }
        EXPECT_FALSE(matches(*g, bad)) << "accepted an invalid text: " << bad << "\n(from " << text << ")";
        ++rejected;
      }
    }
  }
  std::printf("accepted %d valid texts, rejected %d invalid mutations (%d mutations stayed valid)\n", accepted, rejected, skipped);
}

}  // namespace
}  // namespace dsv4::structured
