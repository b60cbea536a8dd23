// dsv4 generate driven as a user would: golden-a p0 through --ids-file gives the reference's
// greedy continuation, with and without --speculative mtp; --json is one parseable object;
// streaming prints the ids and the rates; bad input fails with a message and exit code 1.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace dsv4 {
namespace {

struct Result {
  int code;
  std::string out;
};

Result dsv4(const std::string& args, bool merge_stderr = true) {
  Result r;
  r.code = test::run_command(test::cli_path() + " " + args + (merge_stderr ? " 2>&1" : " 2>/dev/null"), &r.out);
  return r;
}

struct P0 {
  std::string golden, ids_file;
  std::vector<int32_t> greedy;
  P0() {
    golden = test::golden_dir("golden-a");
    std::ifstream in(golden + "/expected.json");
    const nlohmann::json j = nlohmann::json::parse(in);
    const auto& p = j.at("prompts").at(0);
    greedy = p.at("greedy_tokens").get<std::vector<int32_t>>();
    ids_file = test::make_temp_dir("generate_cli") + "/p0.txt";
    std::ofstream out(ids_file);
    for (int64_t id : p.at("token_ids").get<std::vector<int64_t>>()) out << id << "\n";
  }
};

TEST(CliGenerate, GreedyJsonMatchesTheReferenceWithAndWithoutSpeculation) {
  const P0 p;
  for (const std::string extra : {"", " --speculative mtp --draft-tokens 3"}) {
    const Result r = dsv4("generate " + p.golden + " --ids-file " + p.ids_file +
                              " --temperature 0 --max-tokens 24 --ignore-eos --json" + extra,
                          false);
    ASSERT_EQ(r.code, 0) << r.out;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("ids").get<std::vector<int32_t>>(), p.greedy) << extra;
    EXPECT_GT(j.at("prompt_tokens_per_s").get<double>(), 0.0);
    EXPECT_GT(j.at("decode_tokens_per_s").get<double>(), 0.0);
    if (extra.empty()) {
      EXPECT_TRUE(j.at("acceptance_rate").is_null());
    } else {
      EXPECT_GE(j.at("acceptance_rate").get<double>(), 0.0);
      EXPECT_GT(j.at("drafted").get<int>(), 0);
    }
  }
}

TEST(CliGenerate, StreamsIdsAndReportsRates) {
  const P0 p;
  const Result r = dsv4("generate " + p.golden + " --ids-file " + p.ids_file +
                        " --temperature 0 --max-tokens 4 --ignore-eos --stop-ids " + std::to_string(p.greedy[2]));
  ASSERT_EQ(r.code, 0) << r.out;
  std::string want;
  for (int i = 0; i < 3; ++i) want += std::to_string(p.greedy[size_t(i)]) + " ";
  EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("finish: stop after 3 tokens"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
  const Result s = dsv4("generate " + p.golden + " --ids 5,6,7 --temperature 0.7 --seed 3 --top-k 5 --max-tokens 3 "
                        "--speculative mtp --draft-tokens 2 --logprobs 2");
  ASSERT_EQ(s.code, 0) << s.out;
  EXPECT_NE(s.out.find("acceptance rate"), std::string::npos) << s.out;
}

TEST(CliGenerate, BadInputIsAnErrorWithExitCodeOne) {
  const P0 p;
  const std::string g = "generate " + p.golden;
  for (const std::string& args : {g + " --ids 5,x", g + " --ids 5,99999", g, g + " --ids 5 --speculative eagle",
                                 g + " --ids 5 --speculative mtp --draft-tokens 9", g + " --ids 5 --top-p 0",
                                 g + " --ids-file /nonexistent/ids.txt", g + " --ids 5 --numerics fast",
                                 g + " --ids 5 --stop abc" /* golden-a has no tokenizer.json */,
                                 std::string("generate /nonexistent/model --ids 5")}) {
    const Result r = dsv4(args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("error"), std::string::npos) << args << "\n" << r.out;
  }
}

}  // namespace
}  // namespace dsv4
