// ModelConfig: parsing the real configs, the derived schedule, and validation errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/config.h"
#include "model/presets.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

using nlohmann::json;

json golden_config_json() {
  std::ifstream in(test::golden_dir("golden-a") + "/config.json");
  return json::parse(in);
}

// The message of the Error thrown by parsing `j`, or "" when it parses.
std::string parse_error(const json& j) {
  try {
    ModelConfig::from_json(j, "test-config");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, GoldenParsesWithItsSchedule) {
  const ModelConfig c = ModelConfig::from_file(test::golden_dir("golden-a") + "/config.json");
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.num_layers, 6);
  EXPECT_EQ(c.num_mtp_layers, 1);
  ASSERT_EQ(c.layers.size(), 7u);
  const int ratios[] = {0, 4, 128, 4, 128, 4, 0};
  for (size_t i = 0; i < 7; ++i) {
    const LayerSpec& l = c.layers[i];
    EXPECT_EQ(l.compress_ratio, ratios[i]) << i;
    EXPECT_EQ(l.is_mtp, i == 6);
    EXPECT_EQ(l.hash_routed, i < 2) << i;
    EXPECT_EQ(l.has_indexer(), ratios[i] == 4);
    if (ratios[i] == 0) {
      EXPECT_DOUBLE_EQ(l.rope.base, 10000.0);
      EXPECT_FALSE(l.rope.yarn);
    } else {
      EXPECT_DOUBLE_EQ(l.rope.base, 160000.0);
      EXPECT_TRUE(l.rope.yarn);
      EXPECT_DOUBLE_EQ(l.rope.factor, 16.0);
      EXPECT_EQ(l.rope.original_max_positions, 65536);
      EXPECT_DOUBLE_EQ(l.rope.beta_fast, 32.0);
      EXPECT_DOUBLE_EQ(l.rope.beta_slow, 1.0);
    }
  }
  EXPECT_EQ(c.nope_head_dim(), 448);
  EXPECT_EQ(c.index_n_heads, 16);
  EXPECT_EQ(c.expert_format, ExpertFormat::MXFP4);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 1.5);
  EXPECT_DOUBLE_EQ(c.swiglu_limit, 10.0);
}

struct KindTotals {
  int swa = 0, csa = 0, hca = 0;
};
KindTotals totals(const ModelConfig& c) {
  KindTotals t;
  for (const LayerSpec& l : c.layers) {
    if (l.is_mtp) continue;
    if (l.attention == AttentionKind::SlidingWindow) ++t.swa;
    if (l.attention == AttentionKind::CompressedSparse) ++t.csa;
    if (l.attention == AttentionKind::HeavilyCompressed) ++t.hca;
  }
  return t;
}

TEST(Config, FlashAndProSchedulesMatchTheSpec) {
  const ModelConfig flash = preset_config("flash");
  EXPECT_EQ(flash.compress_ratios.size(), 44u);
  const KindTotals f = totals(flash);
  EXPECT_EQ(f.swa, 2);
  EXPECT_EQ(f.csa, 21);
  EXPECT_EQ(f.hca, 20);
  EXPECT_EQ(flash.layers[2].compress_ratio, 4);
  EXPECT_EQ(flash.layers[3].compress_ratio, 128);
  EXPECT_EQ(flash.layers[42].compress_ratio, 4);
  EXPECT_EQ(flash.mtp_layer().compress_ratio, 0);
  EXPECT_FALSE(flash.mtp_layer().hash_routed);
  EXPECT_TRUE(flash.layers[2].hash_routed);
  EXPECT_FALSE(flash.layers[3].hash_routed);

  const ModelConfig pro = preset_config("pro");
  EXPECT_EQ(pro.compress_ratios.size(), 62u);
  const KindTotals p = totals(pro);
  EXPECT_EQ(p.swa, 0);
  EXPECT_EQ(p.csa, 30);
  EXPECT_EQ(p.hca, 31);
  EXPECT_EQ(pro.layers[0].compress_ratio, 128);
  EXPECT_EQ(pro.index_topk, 1024);
  EXPECT_EQ(pro.heads_per_group(), 8);
}

TEST(Config, RoundTripsThroughJson) {
  for (const char* shape : {"tiny", "flash", "pro"}) {
    const ModelConfig a = preset_config(shape);
    const ModelConfig b = ModelConfig::from_json(a.to_json(), shape);
    EXPECT_EQ(a.to_json(), b.to_json()) << shape;
    EXPECT_EQ(a.compress_ratios, b.compress_ratios);
  }
}

TEST(Config, ExpertFormats) {
  json j = golden_config_json();
  j["expert_dtype"] = "bf16";
  EXPECT_EQ(ModelConfig::from_json(j, "x").expert_format, ExpertFormat::BF16);
  j["expert_dtype"] = "fp8";
  EXPECT_EQ(ModelConfig::from_json(j, "x").expert_format, ExpertFormat::FP8);
  j.erase("expert_dtype");
  EXPECT_FALSE(ModelConfig::from_json(j, "x").expert_format_declared);
  j["quantization_config"]["moe_quant_algo"] = "NVFP4";
  EXPECT_EQ(ModelConfig::from_json(j, "x").expert_format, ExpertFormat::NVFP4);
  j["expert_dtype"] = "int3";
  EXPECT_NE(parse_error(j).find("expert_dtype 'int3'"), std::string::npos);
}

TEST(Config, CompressRatiosMustHaveLayersPlusOneEntries) {
  json j = golden_config_json();
  j["compress_ratios"] = {0, 4, 128, 4, 128, 4};
  const std::string e = parse_error(j);
  EXPECT_NE(e.find("num_hidden_layers + 1 = 7"), std::string::npos) << e;
  EXPECT_NE(e.find("test-config"), std::string::npos) << e;
}

TEST(Config, OnlyRatiosZeroFourAnd128Exist) {
  json j = golden_config_json();
  j["compress_ratios"][2] = 8;
  const std::string e = parse_error(j);
  EXPECT_NE(e.find("compress_ratios[2] = 8"), std::string::npos) << e;
  EXPECT_NE(e.find("only ratios 0, 4 and 128"), std::string::npos) << e;
}

TEST(Config, HeadDimMinusRopeDivisibleBy64) {
  json j = golden_config_json();
  j["head_dim"] = 500;
  const std::string e = parse_error(j);
  EXPECT_NE(e.find("divisible by 64"), std::string::npos) << e;
}

TEST(Config, ReportsEveryProblemAtOnce) {
  json j = golden_config_json();
  j.erase("hidden_size");
  j["num_attention_heads"] = "eight";
  j["scoring_func"] = "softmax";
  j["o_groups"] = 3;
  j["index_head_dim"] = 96;
  j["rope_scaling"]["type"] = "linear";
  const std::string e = parse_error(j);
  EXPECT_NE(e.find("missing required key 'hidden_size'"), std::string::npos) << e;
  EXPECT_NE(e.find("'num_attention_heads' must be an integer"), std::string::npos) << e;
  EXPECT_NE(e.find("scoring_func 'softmax'"), std::string::npos) << e;
  EXPECT_NE(e.find("index_head_dim 96"), std::string::npos) << e;
  EXPECT_NE(e.find("rope_scaling: type 'linear'"), std::string::npos) << e;
  EXPECT_NE(e.find("problems"), std::string::npos) << e;
}

TEST(Config, RejectsOtherModelTypesAndStructures) {
  json j = golden_config_json();
  j["model_type"] = "deepseek_v3";
  EXPECT_NE(parse_error(j).find("model_type 'deepseek_v3'"), std::string::npos);
  j = golden_config_json();
  j["num_key_value_heads"] = 8;
  EXPECT_NE(parse_error(j).find("num_key_value_heads"), std::string::npos);
  j = golden_config_json();
  j["num_experts_per_tok"] = 32;
  EXPECT_NE(parse_error(j).find("exceeds n_routed_experts"), std::string::npos);
  j = golden_config_json();
  j["quantization_config"]["weight_block_size"] = {64, 64};
  EXPECT_NE(parse_error(j).find("weight_block_size"), std::string::npos);
  j = golden_config_json();
  j["vocab_size"] = -5;
  EXPECT_NE(parse_error(j).find("'vocab_size' = -5 is out of range"), std::string::npos);
  EXPECT_NE(parse_error(json::array()).find("must be a JSON object"), std::string::npos);
}

TEST(Config, MalformedFileNamesThePath) {
  const std::string dir = test::make_temp_dir("dsv4-config");
  const std::string path = dir + "/config.json";
  std::ofstream(path) << "{\"model_type\": \"deepseek_v4\", ";
  try {
    ModelConfig::from_file(path);
    FAIL() << "accepted truncated JSON";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
  EXPECT_THROW(ModelConfig::from_file(dir + "/missing.json"), Error);
}

}  // namespace
}  // namespace dsv4
