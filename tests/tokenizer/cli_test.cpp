// The CLI commands tokenize, detokenize and render, driven through the built dsv4 binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tokenizer/tokenizer_test_util.h"

namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string model_dir_with_tokenizer() {
  const std::string dir = dsv4::test::make_temp_dir("dsv4-cli-tok");
  fs::copy_file(dsv4::test::real_tokenizer_dir() + "/tokenizer.json", dir + "/tokenizer.json");
  fs::copy_file(dsv4::test::shared_dir() + "/tokenizer/deepseek-v4/tokenizer_config.json", dir + "/tokenizer_config.json");
  return dir;
}

TEST(TokenizerCli, TokenizeAndDetokenize) {
  ASSERT_TRUE(fs::exists(dsv4::test::cli_path())) << "build the dsv4 binary first";
  ASSERT_NE(dsv4::test::real_tokenizer(), nullptr);
  const std::string dir = model_dir_with_tokenizer();
  std::string out;
  ASSERT_EQ(dsv4::test::run_command(dsv4::test::cli_path() + " tokenize " + dir +
                                        " --text '<｜User｜>你好<｜Assistant｜><think>推理</think>答案<｜end▁of▁sentence｜>'",
                                    &out),
            0);
  EXPECT_EQ(out, "[128803, 30594, 128804, 128821, 36101, 128822, 7624, 1]\n");
  out.clear();
  ASSERT_EQ(dsv4::test::run_command(dsv4::test::cli_path() + " detokenize " + dir +
                                        " --ids 128803,30594,128804,128821,36101,128822,7624,1",
                                    &out),
            0);
  EXPECT_EQ(out, "<｜User｜>你好<｜Assistant｜><think>推理</think>答案<｜end▁of▁sentence｜>");
  const std::string file = dir + "/in.txt";
  std::ofstream(file, std::ios::binary) << "Hello! 毕老师！1 + 1 = 2 ĠÑĤÐ²ÑĬÑĢ";
  out.clear();
  ASSERT_EQ(dsv4::test::run_command(dsv4::test::cli_path() + " tokenize " + dir + " --file " + file, &out), 0);
  EXPECT_EQ(out, "[19923, 3, 223, 5464, 5008, 1175, 19, 940, 223, 19, 438, 223, 20, 6113, 257, 76589, 131, 100, "
                 "76032, 1628, 76589, 131, 108, 76589, 131, 98]\n");
  EXPECT_NE(dsv4::test::run_command(dsv4::test::cli_path() + " detokenize " + dir + " --ids 999999 2>/dev/null", &out), 0);
}

TEST(TokenizerCli, RenderMatchesTheOfficialCases) {
  ASSERT_TRUE(fs::exists(dsv4::test::cli_path())) << "build the dsv4 binary first";
  const std::string dir = dsv4::test::shared_dir() + "/encoding/dsv4/";
  for (int n = 1; n <= 4; ++n) {
    std::string out;
    const std::string mode = n == 4 ? " --chat" : " --thinking";
    ASSERT_EQ(dsv4::test::run_command(dsv4::test::cli_path() + " render" + mode + " --messages " + dir + "case" +
                                          std::to_string(n) + ".input.json",
                                      &out),
              0);
    EXPECT_EQ(out, read_all(dir + "case" + std::to_string(n) + ".expected.txt")) << "case " << n;
  }
}

}  // namespace
