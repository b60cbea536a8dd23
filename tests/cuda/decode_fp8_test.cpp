// mma-fp8-decode (src/backends/cuda/sm90/gemm/decode/decode_fp8.h): bitwise equal to the tiled mma-fp8
// kernel at every decode M and shape (so linear may switch on M), against the CPU linear at real
// Flash/Pro projection shapes, NaN scales in the right outputs, guard bytes, and its config.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backends/cuda/sm90/gemm/decode/decode_fp8.h"
#include "backends/cuda/sm90/gemm/linear.h"
#include "cuda/cuda_test_support.h"
#include "cuda/gemm_test_support.h"
#include "support/test_support.h"

namespace dsv4::cuda {
namespace {

using namespace gemmtest;
using dsv4::test::fresh_seed;
using test::DeviceBuffer;

class DecodeLimit {
 public:
  explicit DecodeLimit(int64_t m) { set_mma_decode_max_m(m); }
  ~DecodeLimit() { set_mma_decode_max_m(-1); }
  DecodeLimit(const DecodeLimit&) = delete;
  DecodeLimit& operator=(const DecodeLimit&) = delete;
};

// The same official-numerics linear through mma-fp8-decode and through the tiled mma-fp8 kernel.
struct Pair {
  std::vector<float> decode, tiled;
};

void run_both(const LinearWeight& w, const float* x, int64_t M, int64_t ldx, int64_t row0, int64_t N, int64_t ldy,
              float alpha, bool accumulate, const std::vector<float>& y0, Pair* out) {
  std::vector<float>* dst[2] = {&out->decode, &out->tiled};
  for (int pass = 0; pass < 2; ++pass) {
    const DecodeLimit lim(pass == 0 ? -1 : 0);
    GuardedOut y(static_cast<size_t>(M * ldy));
    if (accumulate) {
      ASSERT_EQ(cudaMemcpy(y.ptr(), y0.data(), y0.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
    }
    LinearParams p;
    p.x = x;
    p.M = M;
    p.ldx = ldx;
    p.w = &w;
    p.row0 = row0;
    p.N = N;
    p.y = y.ptr();
    p.ldy = ldy;
    p.alpha = alpha;
    p.accumulate = accumulate;
    p.act_quant = ActQuant::Fp8Block128;
    DeviceBuffer ws(linear_workspace_bytes(M, w.in));
    p.workspace = ws.get();
    p.workspace_bytes = ws.size();
    LinearPlan plan;
    ASSERT_TRUE(plan_linear(p, &plan).is_ok());
    ASSERT_STREQ(plan.path, pass == 0 ? "mma-fp8-decode" : "mma-fp8") << plan.why;
    const Status st = linear(p, nullptr);
    ASSERT_TRUE(st.is_ok()) << st.message();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    ASSERT_TRUE(y.fetch(dst[pass])) << "guard bytes overwritten";
  }
}

void expect_bitwise(const Pair& p, int64_t M, int64_t N, int64_t ldy) {
  uint32_t poison;
  std::memset(&poison, 0xA5, 4);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = 0; j < ldy; ++j) {
      const size_t i = size_t(m * ldy + j);
      uint32_t a, b;
      std::memcpy(&a, &p.decode[i], 4);
      std::memcpy(&b, &p.tiled[i], 4);
      if (j >= N) {
        ASSERT_EQ(a, poison) << "padding column " << j << " of row " << m << " written";
        continue;
      }
      ASSERT_EQ(a, b) << "row " << m << " column " << j << ": decode " << p.decode[i] << " tiled " << p.tiled[i];
    }
}

TEST(DecodeFp8, EqualsTiledBitwiseEveryM) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("DecodeFp8.EqualsTiledBitwiseEveryM"));
  // N: one column, a partial fragment, both fragment widths; K: one k32 step, a 128-block tail,
  // several blocks; row0: strips that straddle a 128-row scale block.
  for (auto [N, K, row0] : {std::array<int64_t, 3>{1, 32, 0}, {37, 96, 5}, {300, 1056, 100}, {4608, 640, 64}}) {
    TestWeight w;
    make_weight(w, WeightFormat::FP8Block, row0 + N + 3, K, rng);
    ASSERT_TRUE(w.upload());
    for (int64_t M : {1, 2, 7, 8, 9, 16, 17, 31, 32, 33, 63, 64}) {
      SCOPED_TRACE(testing::Message() << "M " << M << " N " << N << " K " << K << " row0 " << row0);
      const int64_t ldy = N + 3;
      const std::vector<float> x = random_x(M * K, rng);
      DevX dx(x);
      Pair pr;
      run_both(w.dev, dx.ptr(), M, K, row0, N, ldy, 1.0f, false, {}, &pr);
      expect_bitwise(pr, M, N, ldy);
    }
  }
}

TEST(DecodeFp8, EqualsTiledAccumulateAlphaAndSpecials) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("DecodeFp8.EqualsTiledAccumulateAlphaAndSpecials"));
  const int64_t M = 5, N = 200, K = 512;
  TestWeight w;
  make_weight(w, WeightFormat::FP8Block, N, K, rng);
  w.s[size_t(1 * 4 + 2)] = 0xFF;  // rows 128..199, K block 2: NaN scale
  ASSERT_TRUE(w.upload());
  std::vector<float> x = random_x(M * K, rng);
  x[size_t(3 * K + 7)] = std::numeric_limits<float>::infinity();  // row 3: an infinite block scale
  DevX dx(x);
  const std::vector<float> y0 = random_x(M * N, rng);
  Pair pr;
  run_both(w.dev, dx.ptr(), M, K, 0, N, N, -0.75f, true, y0, &pr);
  expect_bitwise(pr, M, N, N);
  int64_t nan = 0;
  for (float v : pr.decode) nan += std::isnan(v) ? 1 : 0;
  EXPECT_GE(nan, M * 72) << "the NaN scale reached its outputs";
}

// Real projection shapes (Flash and Pro), decode M: bitwise equal to the tiled kernel (which
// GemmCuda.OfficialFp8 checks against the CPU; at M <= 64 those cases run this kernel too).
TEST(DecodeFp8, FlashProShapes) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("DecodeFp8.FlashProShapes"));
  struct Shape {
    const char* name;
    int64_t N, K;
  };
  for (const Shape& s : {Shape{"flash wq_a", 1024, 4096}, Shape{"flash wkv", 512, 4096}, Shape{"flash wq_b", 32768, 1024},
                         Shape{"flash wo_b", 4096, 8192}, Shape{"flash shared w1", 2048, 4096},
                         Shape{"flash shared w2", 4096, 2048}, Shape{"flash indexer wq_b", 8192, 1024},
                         Shape{"pro wq_a", 1536, 7168}, Shape{"pro wo_b", 7168, 16384}, Shape{"pro shared w2", 7168, 3072}}) {
    TestWeight w;
    make_weight(w, WeightFormat::FP8Block, s.N, s.K, rng, /*quantize=*/false);
    ASSERT_TRUE(w.upload());
    for (int64_t M : {1, 8, 64}) {
      SCOPED_TRACE(testing::Message() << s.name << " M " << M);
      const std::vector<float> x = random_x(M * s.K, rng);
      DevX dx(x);
      Pair pr;
      run_both(w.dev, dx.ptr(), M, s.K, 0, s.N, s.N, 1.0f, false, {}, &pr);
      expect_bitwise(pr, M, s.N, s.N);
    }
  }
}

TEST(DecodeFp8, ConfigAndErrors) {
  // Host only: the heuristic's choices and the argument checks.
  DecodeFp8Config c = decode_fp8_config(1, 1024, 4096);
  EXPECT_TRUE(c.half);
  EXPECT_EQ(c.fn, 1);
  EXPECT_EQ(c.ctas, 128);
  EXPECT_EQ(c.warps, 4) << "a narrow weight takes the K-split kernel";
  EXPECT_LE(c.smem, size_t(227 * 1024));
  c = decode_fp8_config(64, 32768, 16384);
  EXPECT_EQ(c.fm, 4);
  EXPECT_EQ(c.fn, 2);
  EXPECT_EQ(c.warps, 1);
  EXPECT_LE(c.smem, size_t(227 * 1024));
  DecodeFp8Params p;
  p.M = 65;
  p.N = 8;
  p.K = 128;
  p.ldy = 8;
  EXPECT_FALSE(decode_fp8_linear(p, nullptr).is_ok()) << "M above the decode limit";
  p.M = 1;
  p.K = 100;
  EXPECT_FALSE(decode_fp8_linear(p, nullptr).is_ok()) << "K % 32 != 0";
  p.K = 128;
  EXPECT_FALSE(decode_fp8_linear(p, nullptr).is_ok()) << "null pointers";
  p.N = 0;
  EXPECT_TRUE(decode_fp8_linear(p, nullptr).is_ok()) << "empty N queues nothing";
}

}  // namespace
}  // namespace dsv4::cuda
