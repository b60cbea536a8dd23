// Official numerics on NVFP4 experts: the GEMM input is NVFP4-quantized under the weight's
// input_scale (ModelOpt W4A4), not FP8 — and exact numerics leave it alone.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "backends/ops.h"
#include "core/quant.h"
#include "model/forward_context.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

TEST(Project, OfficialQuantizesNvfp4InputsWithTheirGlobalScale) {
  const uint64_t seed = test::fresh_seed("project-nvfp4");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const int64_t M = 4, K = 64, N = 3;
  std::vector<float> x(size_t(M * K));
  for (auto& v : x) v = nd(gen);
  // W = 1 everywhere: e2m1 code 2 (1.0) in both nibbles, e4m3 block scale 1.0, global scale 1.
  std::vector<uint8_t> w(size_t(N * K / 2), 0x22), s(size_t(N * K / 16), 0x38);
  LinearWeight nv{WeightFormat::NVFP4, N, K, TensorView{w.data(), DType::U8, {N, K / 2}, Device::Host},
                  TensorView{s.data(), DType::F8_E4M3, {N, K / 16}, Device::Host}, 1.0f, 0.0f, "nv"};
  nv.input_scale = 7.0f / (448.0f * 6.0f);
  const ModelConfig cfg;
  Workspace ws(cpu_ops());
  const ForwardContext exact{cfg, cpu_ops(), ws, Numerics::Exact, nullptr};
  const ForwardContext official{cfg, cpu_ops(), ws, Numerics::Official, nullptr};
  std::vector<float> y_exact(size_t(M * N)), y_official(size_t(M * N));
  project(exact, x.data(), M, nv, y_exact.data());
  project(official, x.data(), M, nv, y_official.data());
  for (int64_t m = 0; m < M; ++m) {
    std::vector<float> row(x.begin() + m * K, x.begin() + (m + 1) * K), q = row;
    quant_dequant_nvfp4(q.data(), size_t(K), nv.input_scale);
    double plain = 0, quant = 0;
    for (int64_t k = 0; k < K; ++k) {
      plain += double(row[size_t(k)]);
      quant += double(q[size_t(k)]);
    }
    for (int64_t j = 0; j < N; ++j) {
      EXPECT_NEAR(y_exact[size_t(m * N + j)], plain, 1e-3);
      EXPECT_NEAR(y_official[size_t(m * N + j)], quant, 1e-3);
    }
    EXPECT_GT(std::fabs(quant - plain), 1e-3);
  }
}

}  // namespace
}  // namespace dsv4
