// The forward pass on random tiny models in every routed-expert format (MXFP4, NVFP4, FP8, BF16):
// finite logits, causal prefix consistency across the CSA/HCA/window boundaries, MTP, and the
// official numerics changing the result by a plausible amount. Plus project()'s quantization rule.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/quant.h"
#include "model/presets.h"
#include "model/random_checkpoint.h"
#include "model/transformer.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

double rel_l2(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / den);
}

class ForwardFormats : public ::testing::TestWithParam<ExpertFormat> {};

TEST_P(ForwardFormats, PrefillIsFiniteCausalAndOfficialIsClose) {
  const uint64_t seed = test::fresh_seed("forward formats");
  DSV4_SEED_TRACE(seed);
  PresetOverrides o;
  o.layers = 3;  // SWA/CSA/HCA kinds as the preset's pattern gives them
  o.experts = 8;
  o.vocab = 1000;
  o.expert_format = GetParam();
  const ModelConfig c = preset_config("tiny", o);
  const std::string dir = test::make_temp_dir("dsv4-fwd");
  RandomCheckpointOptions opts;
  opts.seed = seed;
  write_random_checkpoint(c, dir, opts);
  const Transformer model(dir);
  const int64_t V = model.config().vocab_size;

  std::mt19937_64 gen(seed);
  std::vector<int64_t> ids(133);
  for (auto& id : ids) id = int64_t(gen() % uint64_t(V));
  const PrefillResult full = model.prefill(ids);
  for (float v : full.logits) ASSERT_TRUE(std::isfinite(v));

  for (size_t len : {1u, 3u, 4u, 5u, 128u, 129u}) {
    const PrefillResult r = model.prefill(std::vector<int64_t>(ids.begin(), ids.begin() + long(len)));
    const float* a = r.logits.data() + (len - 1) * size_t(V);
    const float* b = full.logits.data() + (len - 1) * size_t(V);
    double worst = 0;
    for (int64_t i = 0; i < V; ++i) worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
    EXPECT_LE(worst, 2e-5) << "prefix " << len;
  }

  const Floats mtp = model.mtp_logits(full.streams, ids);
  ASSERT_EQ(mtp.size(), (ids.size() - 1) * size_t(V));
  for (float v : mtp) ASSERT_TRUE(std::isfinite(v));

  ForwardOptions off;
  off.numerics = Numerics::Official;
  const PrefillResult q = model.prefill(ids, off);
  const double d = rel_l2(q.logits.data(), full.logits.data(), full.logits.size());
  std::printf("[forward] %s: official vs exact rel_l2 %.3g\n", expert_format_name(GetParam()), d);
  EXPECT_GT(d, 1e-4);
  EXPECT_LT(d, 0.5);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, ForwardFormats,
                         ::testing::Values(ExpertFormat::MXFP4, ExpertFormat::NVFP4, ExpertFormat::FP8, ExpertFormat::BF16),
                         [](const auto& param_info) { return std::string(expert_format_name(param_info.param)); });

TEST(Project, OfficialQuantizesInputsOfFp8WeightsOnly) {
  const uint64_t seed = test::fresh_seed("project");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  const int64_t M = 3, K = 256, N = 5;
  std::vector<float> x(size_t(M * K)), wf(size_t(N * K));
  for (auto& v : x) v = nd(gen);
  for (auto& v : wf) v = nd(gen);
  std::vector<uint8_t> w8(size_t(N * K), 0x38), s8 = {127, 127};  // e4m3 1.0 everywhere, scale 1
  LinearWeight fp32{WeightFormat::F32, N, K, TensorView{wf.data(), DType::F32, {N, K}, Device::Host}, {}, 1, 1, "w"};
  LinearWeight fp8{WeightFormat::FP8Block, N, K, TensorView{w8.data(), DType::F8_E4M3, {N, K}, Device::Host},
                   TensorView{s8.data(), DType::F8_E8M0, {1, 2}, Device::Host}, 1, 1, "w8"};
  const ModelConfig cfg;
  Workspace ws(cpu_ops());
  const ForwardContext exact{cfg, cpu_ops(), ws, Numerics::Exact, nullptr};
  const ForwardContext official{cfg, cpu_ops(), ws, Numerics::Official, nullptr};

  std::vector<float> xq = x;
  for (int64_t m = 0; m < M; ++m) quant_dequant_fp8(xq.data() + m * K, size_t(K), 128);
  std::vector<float> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m) {
    double plain = 0, quant = 0;
    for (int64_t k = 0; k < K; ++k) {
      plain += double(x[size_t(m * K + k)]);
      quant += double(xq[size_t(m * K + k)]);
    }
    project(exact, x.data(), M, fp8, y.data());
    EXPECT_NEAR(y[size_t(m * N)], plain, 1e-3);
    project(official, x.data(), M, fp8, y.data());
    EXPECT_NEAR(y[size_t(m * N)], quant, 1e-3);
    EXPECT_GT(std::fabs(quant - plain), 1e-4);  // the quantization did something
  }
  std::vector<float> y1(size_t(M * N)), y2(size_t(M * N));
  project(exact, x.data(), M, fp32, y1.data());
  project(official, x.data(), M, fp32, y2.data());
  EXPECT_EQ(y1, y2);  // F32/BF16 weights: no activation quantization
}

}  // namespace
}  // namespace dsv4
