// The dsv4 binary driven as a user would: help, version, inspect (text and JSON), make-model,
// and clear errors with a non-zero exit for bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;

using Result = test::CliResult;
Result dsv4(const std::string& args) { return test::run_cli(args); }

TEST(Cli, HelpAndVersion) {
  Result r = dsv4("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("inspect"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("make-model"), std::string::npos) << r.out;
  r = dsv4("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out.rfind("dsv4 ", 0), 0u) << r.out;
  r = dsv4("");
  EXPECT_NE(r.code, 0);
  r = dsv4("no-such-command");
  EXPECT_NE(r.code, 0);
}

TEST(Cli, InspectGolden) {
  const Result r = dsv4("inspect " + test::golden_dir("golden-a"));
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* needle : {"6 layers + 1 MTP", "csa", "hca", "sliding", "hash (tid2eid)", "932 in 1 shard",
                             "F8_E4M3", "I8", "parameters", "per 1K tokens", "mxfp4"})
    EXPECT_NE(r.out.find(needle), std::string::npos) << needle << "\n" << r.out;
}

TEST(Cli, InspectJson) {
  const Result r = dsv4("inspect --json " + test::golden_dir("golden-a"));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensors"]["count"], 932);
  EXPECT_EQ(j["layers"].size(), 7u);
  EXPECT_EQ(j["layers"][1]["attention"], "csa");
  EXPECT_EQ(j["expert_format"], "mxfp4");
  // Parameters: total = active + (1 - k/E) * routed.
  const double total = j["parameters"]["total"], active = j["parameters"]["active"], routed = j["parameters"]["routed"];
  EXPECT_NEAR(total - active, routed * (1.0 - 6.0 / 16.0), 1.0);
}

TEST(Cli, DefaultModelIsBuilt) {
  const std::string dir = test::binary_dir() + "/models/default";
  const Result r = dsv4("inspect " + dir);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("vocab 129280"), std::string::npos) << r.out;
}

TEST(Cli, MakeModelEveryExpertFormatThenInspect) {
  for (const char* f : {"mxfp4", "nvfp4", "fp8", "bf16"}) {
    const std::string dir = test::make_temp_dir("dsv4-cli");
    Result r = dsv4(std::string("make-model --shape tiny --layers 2 --experts 4 --vocab 512 --seed 7 --expert-format ") + f +
                    " --out " + dir);
    ASSERT_EQ(r.code, 0) << r.out;
    r = dsv4("inspect " + dir);
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find(std::string("routed experts ") + f), std::string::npos) << r.out;
    fs::remove_all(dir);
  }
}

TEST(Cli, BadInputGivesAClearErrorAndExitCode) {
  Result r = dsv4("inspect /nonexistent/dir");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/nonexistent/dir"), std::string::npos) << r.out;

  // A checkpoint whose shard is truncated: the error names the file and the tensor.
  const std::string dir = test::make_temp_dir("dsv4-cli");
  ASSERT_EQ(dsv4("make-model --shape tiny --layers 1 --experts 2 --vocab 256 --out " + dir).code, 0);
  const std::string shard = dir + "/model-00001-of-00001.safetensors";
  fs::resize_file(shard, fs::file_size(shard) - 1000);
  r = dsv4("inspect " + dir);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(shard), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("truncated"), std::string::npos) << r.out;

  // A config with a wrong compress_ratios list.
  std::ofstream(dir + "/config.json") << R"({"model_type": "deepseek_v4", "compress_ratios": [0, 4]})";
  r = dsv4("inspect " + dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("config.json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("missing required key 'hidden_size'"), std::string::npos) << r.out;

  r = dsv4("make-model --shape huge --out " + dir);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("huge"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsv4
