// dsv4 logits driven as a user would: golden-a p0 through --ids-file reproduces the reference's
// prefill logits; --ids and --numerics official work; bad input fails with a message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

using Result = test::CliResult;
Result dsv4(const std::string& args) { return test::run_cli(args); }

std::vector<float> f32_tensor(const SafetensorsFile& f, const std::string& name) {
  const TensorEntry* e = f.find(name);
  if (e == nullptr) return {};
  const TensorView v = f.view(*e);
  std::vector<float> out(v.numel());
  std::memcpy(out.data(), v.data, out.size() * 4);
  return out;
}

TEST(CliLogits, GoldenP0ThroughIdsFileMatchesReference) {
  const std::string golden = test::golden_dir("golden-a");
  std::ifstream in(golden + "/expected.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  const std::vector<int64_t> ids = j.at("prompts").at(0).at("token_ids").get<std::vector<int64_t>>();
  const std::string dir = test::make_temp_dir("dsv4-logits");
  {
    std::ofstream f(dir + "/ids.txt");
    for (size_t i = 0; i < ids.size(); ++i) f << ids[i] << (i % 3 == 0 ? ",\n" : i % 3 == 1 ? " " : ", ");
  }
  const Result r = dsv4("logits " + golden + " --ids-file " + dir + "/ids.txt --out " + dir + "/l.safetensors");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("top-5"), std::string::npos) << r.out;
  const SafetensorsFile got(dir + "/l.safetensors");
  const SafetensorsFile want(golden + "/expected.safetensors");
  ASSERT_NE(got.find("logits"), nullptr);
  EXPECT_EQ(got.find("logits")->shape, (Shape{int64_t(ids.size()), 2048}));
  const std::vector<float> a = f32_tensor(got, "logits"), b = f32_tensor(want, "logits_fp32_prefill/p0");
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
  EXPECT_LE(worst, 1e-4);
  // The printed top-1 is the argmax of the last row.
  size_t best = a.size() - 2048;
  for (size_t i = a.size() - 2048; i < a.size(); ++i)
    if (a[i] > a[best]) best = i;
  EXPECT_NE(r.out.find(std::to_string(best - (a.size() - 2048))), std::string::npos) << r.out;
}

TEST(CliLogits, IdsAndOfficialNumerics) {
  const std::string golden = test::golden_dir("golden-a");
  Result r = dsv4("logits " + golden + " --ids 0,5,9 --numerics official");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("official"), std::string::npos) << r.out;
}

TEST(CliLogits, BadInputFailsWithAMessage) {
  const std::string golden = test::golden_dir("golden-a");
  Result r = dsv4("logits " + golden + " --ids 0,5,99999");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("99999"), std::string::npos) << r.out;
  r = dsv4("logits " + golden + " --ids 0,x");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("'x'"), std::string::npos) << r.out;
  r = dsv4("logits " + golden);
  EXPECT_NE(r.code, 0);
  r = dsv4("logits " + golden + " --ids 1 --numerics bf16");
  EXPECT_NE(r.code, 0);
  r = dsv4("logits /no/such/dir --ids 1");
  EXPECT_NE(r.code, 0);
}

}  // namespace
}  // namespace dsv4
