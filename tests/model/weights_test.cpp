// Weight binding: the golden checkpoint, make-model outputs in every expert format, sparse
// Flash/Pro-shaped checkpoints (headers only), and the all-at-once error report.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <cstring>
#include <map>

#include "core/error.h"
#include "core/safetensors.h"
#include "model/config.h"
#include "model/model_stats.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/weights.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;

// Writes one safetensors file holding `specs` whose data section is a hole (sparse file): the
// header is real, the bytes are never written. Returns the path.
std::string write_sparse_safetensors(const std::string& path, const std::vector<TensorSpec>& specs) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  for (const TensorSpec& s : specs) {
    const uint64_t size = shape_numel(s.shape) * dtype_size(s.dtype);
    header[s.name] = {{"dtype", std::string(dtype_name(s.dtype))}, {"shape", s.shape}, {"data_offsets", {offset, offset + size}}};
    offset += size;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  uint64_t n = text.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(text.data(), std::streamsize(text.size()));
  out.close();
  fs::resize_file(path, 8 + text.size() + offset);
  return path;
}

void write_config(const std::string& dir, const ModelConfig& c) {
  std::ofstream(dir + "/config.json") << c.to_json().dump(2);
}

std::string bind_error(const std::string& dir) {
  try {
    const ModelConfig c = ModelConfig::from_file(dir + "/config.json");
    Checkpoint ckpt(dir);
    bind_weights(ckpt, c);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Weights, BindsTheGoldenCheckpoint) {
  const std::string dir = test::golden_dir("golden-a");
  const ModelConfig c = ModelConfig::from_file(dir + "/config.json");
  const Checkpoint ckpt(dir);
  EXPECT_EQ(ckpt.names().size(), 932u);
  const ModelWeights w = bind_weights(ckpt, c);
  EXPECT_EQ(w.expert_format, ExpertFormat::MXFP4);
  ASSERT_EQ(w.layers.size(), 6u);
  ASSERT_EQ(w.mtp.size(), 1u);
  EXPECT_FALSE(w.layers[0].attn.has_compressor);
  EXPECT_TRUE(w.layers[1].attn.has_indexer);
  EXPECT_EQ(w.layers[1].attn.compressor.ratio, 4);
  EXPECT_EQ(w.layers[2].attn.compressor.ratio, 128);
  EXPECT_FALSE(w.layers[2].attn.has_indexer);
  EXPECT_NE(w.layers[0].ffn.tid2eid.data, nullptr);
  EXPECT_EQ(w.layers[0].ffn.gate_bias.data, nullptr);
  EXPECT_NE(w.layers[2].ffn.gate_bias.data, nullptr);
  EXPECT_NE(w.mtp[0].block.ffn.gate_bias.data, nullptr);
  EXPECT_EQ(w.layers[3].ffn.experts.size(), 16u);
  EXPECT_EQ(w.layers[3].ffn.experts[5].w2.format, WeightFormat::MXFP4);
  EXPECT_EQ(w.layers[3].attn.wo_a.in, 4 * 512);
}

// Dequantization against the formula of golden/README.md §2, computed independently here.
TEST(Weights, DequantizeMatchesTheCheckpointFormula) {
  const std::string dir = test::golden_dir("golden-a");
  const ModelConfig c = ModelConfig::from_file(dir + "/config.json");
  const Checkpoint ckpt(dir);
  const ModelWeights w = bind_weights(ckpt, c);
  const LinearWeight& fp8 = w.layers[1].attn.wq_b;  // [4096, 128]
  std::vector<float> rows(size_t(3 * fp8.in));
  dequantize_rows(fp8, 127, 3, rows.data());  // crosses a 128-row scale block
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t j = 0; j < fp8.in; ++j) {
      const int64_t i = 127 + r;
      const uint8_t q = fp8.weight.bytes()[i * fp8.in + j];
      const uint8_t s = fp8.scale.bytes()[(i / 128) * ((fp8.in + 127) / 128) + j / 128];
      const int sign = (q & 0x80) ? -1 : 1, e = (q >> 3) & 0xF, m = q & 7;
      const double v = e == 0 ? m / 8.0 * std::ldexp(1.0, -6) : (1 + m / 8.0) * std::ldexp(1.0, e - 7);
      ASSERT_EQ(double(rows[size_t(r * fp8.in + j)]), sign * v * std::ldexp(1.0, int(s) - 127)) << i << "," << j;
    }
  const LinearWeight& fp4 = w.layers[4].ffn.experts[3].w1;  // [256, 256]
  std::vector<float> row(size_t(fp4.in));
  const double table[16] = {0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6};
  for (int64_t i : {int64_t(0), int64_t(17), fp4.out - 1}) {
    dequantize_rows(fp4, i, 1, row.data());
    for (int64_t j = 0; j < fp4.in; ++j) {
      const uint8_t byte = fp4.weight.bytes()[i * fp4.in / 2 + j / 2];
      const int code = (j % 2 == 0) ? (byte & 15) : (byte >> 4);
      const uint8_t s = fp4.scale.bytes()[i * fp4.in / 32 + j / 32];
      ASSERT_EQ(double(row[size_t(j)]), table[code] * std::ldexp(1.0, int(s) - 127));
    }
  }
  EXPECT_THROW(dequantize_rows(fp4, fp4.out - 1, 2, row.data()), Error);
}

class MakeModelFormats : public ::testing::TestWithParam<ExpertFormat> {};

TEST_P(MakeModelFormats, WritesACheckpointThatBindsAndIsWellConditioned) {
  const uint64_t seed = test::fresh_seed("make-model");
  DSV4_SEED_TRACE(seed);
  PresetOverrides o;
  o.layers = 3;
  o.experts = 8;
  o.vocab = 1000;
  o.expert_format = GetParam();
  const ModelConfig c = preset_config("tiny", o);
  const std::string dir = test::make_temp_dir("dsv4-mm");
  RandomCheckpointOptions opts;
  opts.seed = seed;
  opts.max_shard_bytes = 4 << 20;  // several shards
  write_random_checkpoint(c, dir, opts);
  const ModelConfig c2 = ModelConfig::from_file(dir + "/config.json");
  const Checkpoint ckpt(dir);
  EXPECT_GT(ckpt.shard_count(), 1u);
  const ModelWeights w = bind_weights(ckpt, c2);
  EXPECT_EQ(w.expert_format, GetParam());

  // Linear weights ~N(0, 1/fan_in) before quantization: check the dequantized std.
  auto check_std = [](const LinearWeight& lw, double rel_tol) {
    std::vector<float> all(size_t(lw.out * lw.in));
    dequantize_rows(lw, 0, lw.out, all.data());
    double ss = 0;
    for (float v : all) {
      ASSERT_TRUE(std::isfinite(v)) << lw.name;
      ss += double(v) * double(v);
    }
    const double std = std::sqrt(ss / double(all.size()));
    EXPECT_NEAR(std * std::sqrt(double(lw.in)), 1.0, rel_tol) << lw.name;
  };
  check_std(w.layers[1].attn.wq_b, 0.05);
  check_std(w.layers[2].ffn.shared.w2, 0.05);
  check_std(w.layers[2].ffn.experts[0].w1, 0.15);  // FP4: coarser
  check_std(w.layers[2].ffn.experts[2].w2, 0.15);

  // Same seed, same bytes (independent of threads).
  const std::string dir2 = test::make_temp_dir("dsv4-mm");
  opts.threads = 1;
  write_random_checkpoint(c, dir2, opts);
  const Checkpoint again(dir2);
  for (const std::string& name : {std::string("layers.1.attn.wq_b.weight"), std::string("embed.weight"),
                                  std::string("layers.2.ffn.experts.1.w3.weight")}) {
    const TensorView a = ckpt.get(name), b = again.get(name);
    ASSERT_EQ(a.nbytes(), b.nbytes());
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes()), 0) << name;
  }
  fs::remove_all(dir);
  fs::remove_all(dir2);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, MakeModelFormats,
                         ::testing::Values(ExpertFormat::MXFP4, ExpertFormat::NVFP4, ExpertFormat::FP8, ExpertFormat::BF16),
                         [](const auto& param_info) { return std::string(expert_format_name(param_info.param)); });

TEST(Weights, ListsEveryMissingMismatchedAndUnexpectedTensor) {
  PresetOverrides o;
  o.layers = 2;
  o.experts = 4;
  o.vocab = 300;
  const ModelConfig c = preset_config("tiny", o);
  std::vector<TensorSpec> specs = expected_tensors(c, ExpertFormat::MXFP4);
  // Remove two, corrupt two, add two.
  std::vector<TensorSpec> edited;
  for (TensorSpec s : specs) {
    if (s.name == "layers.1.attn.wkv.scale" || s.name == "mtp.0.hnorm.weight") continue;
    if (s.name == "layers.0.attn.attn_sink") s.shape = {7};
    if (s.name == "layers.1.ffn.experts.2.w2.weight") s.dtype = DType::BF16;
    edited.push_back(s);
  }
  edited.push_back({"layers.9.attn.wq_a.weight", DType::F8_E4M3, {128, 256}});
  edited.push_back({"model.embed_tokens.weight", DType::BF16, {300, 256}});
  const std::string dir = test::make_temp_dir("dsv4-bad");
  write_config(dir, c);
  write_sparse_safetensors(dir + "/model.safetensors", edited);
  const std::string e = bind_error(dir);
  for (const char* needle : {"2 missing", "2 mismatched", "2 unexpected", "layers.1.attn.wkv.scale", "mtp.0.hnorm.weight",
                             "layers.0.attn.attn_sink: expected F32 [8], found F32 [7]",
                             "layers.1.ffn.experts.2.w2.weight: expected I8", "layers.9.attn.wq_a.weight",
                             "model.embed_tokens.weight", dir.c_str()})
    EXPECT_NE(e.find(needle), std::string::npos) << "missing '" << needle << "' in:\n" << e;
  fs::remove_all(dir);
}

TEST(Weights, ConfigDeclaringAnotherExpertFormatIsAnError) {
  PresetOverrides o;
  o.layers = 1;
  o.experts = 2;
  o.vocab = 300;
  o.expert_format = ExpertFormat::BF16;
  const ModelConfig declared_bf16 = preset_config("tiny", o);
  const std::string dir = test::make_temp_dir("dsv4-fmt");
  write_config(dir, declared_bf16);
  write_sparse_safetensors(dir + "/model.safetensors", expected_tensors(declared_bf16, ExpertFormat::MXFP4));
  EXPECT_NE(bind_error(dir).find("config declares bf16 routed experts but the tensors are mxfp4"), std::string::npos)
      << bind_error(dir);
  fs::remove_all(dir);
}

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt + u.ru_majflt;
}

// Full Flash- and Pro-shaped checkpoints as sparse files (headers only): binding touches the
// headers, never the ~160 GB / ~865 GB of weight bytes; parameter counts match spec §2.5.
class RealShapes : public ::testing::TestWithParam<const char*> {};

TEST_P(RealShapes, BindWithoutTouchingWeightBytes) {
  const std::string shape = GetParam();
  const ModelConfig c = preset_config(shape);
  const std::vector<TensorSpec> specs = expected_tensors(c, ExpertFormat::MXFP4);
  const std::string dir = test::make_temp_dir("dsv4-" + shape);
  write_config(dir, c);
  // Shard it like the real checkpoints: ~46 files, index included.
  std::map<std::string, std::string> weight_map;
  const size_t per_shard = specs.size() / 46 + 1;
  uint64_t total = 0;
  for (size_t s = 0, i = 0; i < specs.size(); ++s) {
    const std::string file = fmt::format("model-{:05d}-of-00046.safetensors", s + 1);
    std::vector<TensorSpec> part(specs.begin() + long(i), specs.begin() + long(std::min(specs.size(), i + per_shard)));
    for (const auto& t : part) {
      weight_map[t.name] = file;
      total += shape_numel(t.shape) * dtype_size(t.dtype);
    }
    write_sparse_safetensors(dir + "/" + file, part);
    i += part.size();
  }
  write_safetensors_index(dir + "/model.safetensors.index.json", total, weight_map);

  const long faults_before = minor_faults();
  const Checkpoint ckpt(dir);
  const ModelWeights w = bind_weights(ckpt, ModelConfig::from_file(dir + "/config.json"));
  const long faults = minor_faults() - faults_before;
  EXPECT_LT(faults, 20000) << "binding touched weight pages";  // the weights are millions of pages
  EXPECT_EQ(w.layers.size(), size_t(c.num_layers));

  const ParameterCounts p = count_parameters(c, tensor_specs(ckpt));
  if (shape == "flash") {
    EXPECT_NEAR(double(p.total) / 1e9, 284.3, 0.05);
    EXPECT_NEAR(double(p.active) / 1e9, 13.8, 0.05);
  } else {
    EXPECT_NEAR(double(p.total) / 1e9, 1573.0, 0.05);
    EXPECT_NEAR(double(p.mtp) / 1e9, 25.8, 0.05);
    EXPECT_NEAR(double(p.active) / 1e9, 49.8, 0.05);
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(FlashPro, RealShapes, ::testing::Values("flash", "pro"));

}  // namespace
}  // namespace dsv4
