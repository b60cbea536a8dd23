// Duplicate keys in untrusted JSON (checkpoint headers, configs) are errors, not silent overwrites.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "core/json_util.h"
#include "core/safetensors.h"

namespace dsv4 {
namespace {

TEST(JsonUtil, FindsDuplicateKeysAtAnyDepth) {
  const std::string text = R"({"a": 1, "b": {"x": 1, "x": 2}, "c": [{"k": 1}, {"k": 2}], "a": 3})";
  std::vector<std::string> dups;
  const auto j = parse_json_checked(text.data(), text.data() + text.size(), &dups);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(dups, (std::vector<std::string>{"x", "a"}));  // "k" in two sibling objects is fine
  dups.clear();
  const std::string bad = R"({"a": )";
  EXPECT_TRUE(parse_json_checked(bad.data(), bad.data() + bad.size(), &dups).is_discarded());
  EXPECT_EQ(describe_json(nlohmann::json::parse(R"([[1,[2]]])")), "(a array)");
  EXPECT_EQ(describe_json(std::string(100, 'x')).size(), 43u);
}

TEST(JsonUtil, SafetensorsRejectsARepeatedTensorName) {
  const std::string header =
      R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})";
  std::vector<uint8_t> file(8 + header.size() + 8, 0);
  const uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  std::memcpy(file.data() + 8, header.data(), header.size());
  try {
    parse_safetensors(file.data(), file.size(), "dup.safetensors");
    FAIL() << "accepted a repeated tensor name";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("key 'w' appears more than once"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dup.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsv4
