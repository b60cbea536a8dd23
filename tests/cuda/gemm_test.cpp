// GPU linear (backends/cuda/sm90/gemm/linear.h) against the CPU linear: the §9.1 activation quant
// bit-exact, the exact path to fp32 reordering, the FP8 tensor-core path by normalized MSE against
// fake_quant_fp8 + CPU linear, NVFP4 activations, groups (wo_a), accumulate/alpha, batch
// invariance (bitwise), guard bytes, Status errors. Host-side codec checks run without a GPU.
// The skinny-fp32 decode path (act_quant none, BF16/F32/FP8 weights, M <= skinny_max_m()) has its
// own block (Skinny*): every format and M, odd shapes, the Flash/Pro projections it serves, groups,
// accumulate/alpha, NaN/Inf positions, determinism and launch-shape independence (bitwise).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <limits>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cuda/sm90/gemm/gemm_codec.h"
#include "backends/cuda/sm90/gemm/linear.h"
#include "backends/cuda/sm90/gemm/skinny/skinny.h"
#include "backends/ops.h"
#include "cuda/cuda_test_support.h"
#include "cuda/gemm_test_support.h"
#include "support/test_support.h"

namespace dsv4::cuda {
namespace {

using namespace gemmtest;
using test::DeviceBuffer;
using dsv4::test::fresh_seed;

// ---------------------------------------------------------------- host codec checks (no GPU)

TEST(GemmCodec, Fp8ActScaleMatchesCore) {
  std::mt19937_64 rng(fresh_seed("GemmCodec.Fp8ActScale"));
  std::uniform_real_distribution<float> ex(-40.0f, 40.0f);
  for (int i = 0; i < 200000; ++i) {
    const float amax = std::exp2(ex(rng)) * (i % 7 == 0 ? 1.0f : 1.37f);
    ASSERT_EQ(gemm::fp8_act_scale(amax), fp8_block_scale(amax)) << amax;
  }
  for (float a : {0.0f, 1e-4f, 448.0f, 1.0f, 0.5f, 3.0e38f}) ASSERT_EQ(gemm::fp8_act_scale(a), fp8_block_scale(a)) << a;
}

TEST(GemmCodec, E2m1EncodeMatchesCore) {
  std::mt19937_64 rng(fresh_seed("GemmCodec.E2m1"));
  std::uniform_real_distribution<float> u(-8.0f, 8.0f);
  std::vector<float> vals = {0.0f, -0.0f, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, 6.0f, 7.0f, 1e30f, -1e30f};
  for (float v : std::vector<float>(vals)) {
    vals.push_back(-v);
    vals.push_back(std::nextafter(v, 100.0f));
    vals.push_back(std::nextafter(v, -100.0f));
  }
  for (int i = 0; i < 200000; ++i) vals.push_back(u(rng));
  for (float v : vals) {
    ASSERT_EQ(gemm::f32_to_e2m1_code(v), f32_to_e2m1(v)) << v;
    ASSERT_EQ(gemm::e2m1_code_value(f32_to_e2m1(v)), e2m1_to_f32(f32_to_e2m1(v))) << v;
  }
}

TEST(GemmCodec, E2m1ToE4m3Exact) {
  for (uint32_t nib = 0; nib < 65536; ++nib) {
    const uint32_t w = gemm::e2m1x4_to_e4m3x4(nib);
    for (int i = 0; i < 4; ++i) {
      const uint8_t code = uint8_t((nib >> (4 * i)) & 0xF);
      const uint8_t b = uint8_t(w >> (8 * i));
      const float want = e2m1_to_f32(code), got = e4m3_to_f32(b);
      ASSERT_EQ(got, want) << "nibbles " << nib << " element " << i;
      ASSERT_EQ(std::signbit(got), std::signbit(want));
    }
  }
}

TEST(GemmCodec, E8m0Value) {
  for (int s = 0; s < 255; ++s) ASSERT_EQ(gemm::e8m0_value(uint32_t(s)), e8m0_to_f32(uint8_t(s))) << s;
  ASSERT_TRUE(std::isnan(gemm::e8m0_value(255)));
}

// ---------------------------------------------------------------- Status errors (no GPU)

TEST(GemmCuda, CheckLinearErrors) {
  std::mt19937_64 rng(1);
  TestWeight w;
  make_weight(w, WeightFormat::FP8Block, 64, 96, rng);
  float dummy[4];
  LinearParams p;
  p.x = dummy;
  p.y = dummy;
  p.w = &w.host;
  p.M = 1;
  p.N = 64;
  p.ldx = 96;
  p.ldy = 64;
  EXPECT_TRUE(check_linear(p).is_ok());
  LinearParams q = p;
  q.N = 65;
  EXPECT_FALSE(check_linear(q).is_ok());
  q = p;
  q.ldx = 95;
  EXPECT_FALSE(check_linear(q).is_ok());
  q = p;
  q.act_quant = ActQuant::Fp8Block128;
  TestWeight w2;
  make_weight(w2, WeightFormat::FP8Block, 64, 100, rng);
  q.w = &w2.host;
  q.ldx = 100;
  EXPECT_FALSE(check_linear(q).is_ok()) << "K % 32 != 0 on the FP8 path";
  q = p;
  q.act_quant = ActQuant::Fp8Block128;
  EXPECT_FALSE(check_linear(q).is_ok()) << "the FP8 path needs a workspace";
  alignas(256) static uint8_t ws_host[4096];
  q.workspace = ws_host;
  q.workspace_bytes = sizeof(ws_host);
  EXPECT_TRUE(check_linear(q).is_ok()) << check_linear(q).message();
  q.workspace_bytes = linear_workspace_bytes(1, 96) - 1;
  EXPECT_FALSE(check_linear(q).is_ok()) << "workspace too small";
  q = p;
  q.act_quant = ActQuant::Nvfp4;
  EXPECT_FALSE(check_linear(q).is_ok()) << "nvfp4 activations need an NVFP4 weight";
  TestWeight wb;
  make_weight(wb, WeightFormat::BF16, 64, 96, rng);
  q = p;
  q.w = &wb.host;
  q.act_quant = ActQuant::Fp8Block128;
  EXPECT_FALSE(check_linear(q).is_ok()) << "fp8 activations need an FP8/MXFP4 weight";
  q = p;
  q.groups = 2;
  q.N = 32;
  q.ldx = 192;
  EXPECT_TRUE(check_linear(q).is_ok());
  q.ldx = 191;
  EXPECT_FALSE(check_linear(q).is_ok());
  q = p;
  q.x = nullptr;
  EXPECT_FALSE(check_linear(q).is_ok());
  q.M = 0;
  EXPECT_TRUE(check_linear(q).is_ok()) << "empty calls need no pointers";
  LinearPlan plan;
  ASSERT_TRUE(plan_linear(p, &plan).is_ok());
  EXPECT_STREQ(plan.path, "skinny-fp32") << "FP8Block weight, act none, M=1";
  set_skinny_max_m(64);
  q = p;
  q.M = 65;
  ASSERT_TRUE(plan_linear(q, &plan).is_ok());
  EXPECT_STREQ(plan.path, "simt-fp32") << "M above a skinny limit";
  set_skinny_max_m(-1);
  q.M = 1 << 20;
  ASSERT_TRUE(plan_linear(q, &plan).is_ok());
  EXPECT_STREQ(plan.path, "skinny-fp32") << "no limit by default (batch invariance)";
  TestWeight wm;
  make_weight(wm, WeightFormat::MXFP4, 64, 96, rng);
  q = p;
  q.w = &wm.host;
  ASSERT_TRUE(plan_linear(q, &plan).is_ok());
  EXPECT_STREQ(plan.path, "simt-fp32") << "MXFP4 weights stay on simt";
  set_skinny_max_m(0);
  ASSERT_TRUE(plan_linear(p, &plan).is_ok());
  EXPECT_STREQ(plan.path, "simt-fp32") << "skinny switched off";
  set_skinny_max_m(-1);
  EXPECT_EQ(skinny_max_m(), kSkinnyDefaultMaxM);
}

// The skinny numerics' K split depends on (format, K) only; the launch shape fills the GPU at the
// router's N = 256 (host only: no GPU needed).
TEST(GemmCuda, SkinnyKSlicesAndConfig) {
  EXPECT_EQ(skinny_k_slices(SkinnyFormat::BF16, 4096), 4);
  EXPECT_EQ(skinny_k_slices(SkinnyFormat::BF16, 7168), 4);
  EXPECT_EQ(skinny_k_slices(SkinnyFormat::F32, 4096), 8);
  EXPECT_EQ(skinny_k_slices(SkinnyFormat::FP8Block, 4096), 2);
  EXPECT_EQ(skinny_k_slices(SkinnyFormat::BF16, 1), 1);
  EXPECT_EQ(skinny_k_slices(SkinnyFormat::BF16, 1792), 1);
  EXPECT_EQ(skinny_k_slices(SkinnyFormat::BF16, 1793), 2);
  for (int64_t M : {1, 8, 32, 64})
    for (int64_t N : {256, 512, 1024, 4096}) {
      SkinnyParams p;
      p.M = M;
      p.N = N;
      p.K = 4096;
      p.format = SkinnyFormat::BF16;
      const SkinnyConfig c = skinny_config(p);
      EXPECT_GE(c.ctas, 132) << "M " << M << " N " << N;
      EXPECT_LE(c.ks * c.nw, 8);
      EXPECT_GE(c.mr * ((M + c.mr - 1) / c.mr), M);
    }
}

// ---------------------------------------------------------------- device tests

// CPU reference for the rows in `rows` of x [M, ldx]: (act_quant) then cpu linear; out [rows, N].
// (noinline: inlined into a test with constant shapes, GCC 12 warns of a null dereference in resize.)
[[gnu::noinline]] std::vector<float> cpu_linear_rows(const std::vector<float>& x, int64_t ldx, const std::vector<int64_t>& rows,
                                   const LinearWeight& w, int64_t row0, int64_t N, ActQuant aq, int64_t G = 1,
                                   std::vector<float>* absref = nullptr) {
  const int64_t K = w.in, R = int64_t(rows.size());
  std::vector<float> out(static_cast<size_t>(R * G * N));
  std::vector<float> wd(static_cast<size_t>(G * N * K));
  dequantize_rows(w, row0, G * N, wd.data());
  for (int64_t g = 0; g < G; ++g) {
    std::vector<float> xg(static_cast<size_t>(R * K));
    for (int64_t r = 0; r < R; ++r) std::memcpy(xg.data() + r * K, x.data() + rows[size_t(r)] * ldx + g * K, size_t(K) * 4);
    if (aq == ActQuant::Fp8Block128) cpu_ops().fake_quant_fp8(xg.data(), R, K, 0, K, 128, false);
    if (aq == ActQuant::Nvfp4) cpu_ops().fake_quant_nvfp4(xg.data(), R, K, w.input_scale);
    cpu_ops().linear(xg.data(), R, K, w, row0 + g * N, N, out.data() + g * N, G * N);
    if (absref != nullptr) {
      absref->resize(out.size());
      for (int64_t r = 0; r < R; ++r)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k) s += std::fabs(double(xg[size_t(r * K + k)]) * double(wd[size_t((g * N + j) * K + k)]));
          (*absref)[size_t(r * G * N + g * N + j)] = float(s);
        }
    }
  }
  return out;
}

struct Case {
  WeightFormat fmt;
  ActQuant aq;
  int64_t M, N, K;
  int64_t row0 = 0;
  int64_t G = 1;
  int64_t extra_ld = 0;  // ldx/ldy padding
  bool quantize = true;
  const char* path = nullptr;  // the path that must run (null: any)
};

// Runs one case; `sample` limits the CPU reference to that many rows (spread over M; 0 = all).
void run_case(const Case& c, std::mt19937_64& rng, int64_t sample = 0) {
  SCOPED_TRACE(testing::Message() << weight_format_name(c.fmt) << " act " << act_quant_name(c.aq) << " M " << c.M
                                  << " N " << c.N << " K " << c.K << " row0 " << c.row0 << " G " << c.G);
  TestWeight w;
  make_weight(w, c.fmt, c.row0 + c.G * c.N + 3, c.K, rng, c.quantize);
  ASSERT_TRUE(w.upload());
  const int64_t ldx = c.G * c.K + c.extra_ld, ldy = c.G * c.N + c.extra_ld;
  const std::vector<float> x = random_x(c.M * ldx, rng);
  DevX dx(x);
  GuardedOut y(static_cast<size_t>(std::max<int64_t>(c.M * ldy, 1)));
  LinearParams p;
  p.x = dx.ptr();
  p.M = c.M;
  p.ldx = ldx;
  p.w = &w.dev;
  p.row0 = c.row0;
  p.N = c.N;
  p.y = y.ptr();
  p.ldy = ldy;
  p.act_quant = c.aq;
  p.groups = c.G;
  DeviceBuffer ws(linear_workspace_bytes(c.M, c.K));
  p.workspace = ws.get();
  p.workspace_bytes = ws.size();
  LinearPlan plan;
  ASSERT_TRUE(plan_linear(p, &plan).is_ok());
  if (c.path != nullptr && c.M > 0 && c.N > 0) {
    ASSERT_STREQ(plan.path, c.path) << plan.why;
  }
  const Status st = linear(p, nullptr);
  ASSERT_TRUE(st.is_ok()) << st.message();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<float> got;
  ASSERT_TRUE(y.fetch(&got)) << "guard bytes overwritten";
  if (c.M == 0) return;
  std::vector<int64_t> rows;
  if (sample == 0 || sample >= c.M) {
    for (int64_t m = 0; m < c.M; ++m) rows.push_back(m);
  } else {
    for (int64_t i = 0; i < sample; ++i) rows.push_back(i * (c.M - 1) / (sample - 1));
  }
  const bool exactish = c.aq != ActQuant::Fp8Block128;
  std::vector<float> absref;
  const std::vector<float> ref = cpu_linear_rows(x, ldx, rows, w.host, c.row0, c.N, c.aq, c.G, exactish ? &absref : nullptr);
  std::vector<float> g(ref.size());
  const int64_t GN = c.G * c.N;
  uint32_t poison_word;
  std::memset(&poison_word, 0xA5, 4);
  for (size_t r = 0; r < rows.size(); ++r) {
    std::memcpy(g.data() + r * GN, got.data() + rows[r] * ldy, size_t(GN) * 4);
    for (int64_t j = GN; j < ldy; ++j) {  // padding columns untouched
      uint32_t u;
      std::memcpy(&u, &got[size_t(rows[r] * ldy + j)], 4);
      ASSERT_EQ(u, poison_word) << "padding column " << j << " of row " << rows[r] << " written";
    }
  }
  if (exactish) {
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const double err = std::fabs(double(g[i]) - double(ref[i])) / (double(absref[i]) + 1e-30);
      worst = std::max(worst, err);
      ASSERT_LE(err, 2e-6) << "output " << i << " gpu " << g[i] << " cpu " << ref[i] << " Σ|xw| " << absref[i];
    }
    std::printf("[linear %s/%s] %s M=%lld N=%lld K=%lld: max |gpu-cpu|/Σ|xw| = %.3g\n", weight_format_name(c.fmt),
                act_quant_name(c.aq), plan.path, (long long)c.M, (long long)c.N, (long long)c.K, worst);
  } else {
    const double e = nmse(g.data(), ref.data(), ref.size());
    std::printf("[linear %s/%s] %s %dx%d M=%lld N=%lld K=%lld: nmse vs fake_quant+cpu = %.3g\n", weight_format_name(c.fmt),
                act_quant_name(c.aq), plan.path, plan.tile_m, plan.tile_n, (long long)c.M, (long long)c.N, (long long)c.K, e);
    ASSERT_LT(e, 1e-5);
  }
}

TEST(GemmCuda, ActQuantFp8BitExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.ActQuantFp8BitExact"));
  for (auto [M, K] : {std::pair<int64_t, int64_t>{1, 4096}, {7, 200}, {33, 128}, {5, 1}, {64, 7168}}) {
    std::vector<float> x = random_x(M * K, rng);
    for (int64_t i = 0; i < M * K; i += 13) x[size_t(i)] *= std::exp2(float(int(rng() % 40) - 20));
    for (int64_t i = 0; i < std::min<int64_t>(K, 128); ++i) x[size_t(i)] = 1e-6f * float(i);  // amax below the floor
    DevX dx(x);
    const int64_t KB = cdiv(K, 128);
    DeviceBuffer dq(static_cast<size_t>(M * K)), ds(static_cast<size_t>(M * KB) * 4);
    ASSERT_TRUE(act_quant_fp8(dx.ptr(), M, K, K, dq.get(), reinterpret_cast<float*>(ds.get()), nullptr).is_ok());
    std::vector<uint8_t> q(static_cast<size_t>(M * K));
    std::vector<float> s(static_cast<size_t>(M * KB));
    DSV4_CUDA_OK(cudaMemcpy(q.data(), dq.get(), q.size(), cudaMemcpyDeviceToHost));
    DSV4_CUDA_OK(cudaMemcpy(s.data(), ds.get(), s.size() * 4, cudaMemcpyDeviceToHost));
    std::vector<uint8_t> qr(static_cast<size_t>(K)), sr(static_cast<size_t>(KB));
    for (int64_t m = 0; m < M; ++m) {
      quantize_fp8_blocks(x.data() + m * K, size_t(K), 128, qr.data(), sr.data());
      for (int64_t k = 0; k < K; ++k) ASSERT_EQ(q[size_t(m * K + k)], qr[size_t(k)]) << "M " << M << " K " << K << " at " << m << "," << k;
      for (int64_t b = 0; b < KB; ++b) ASSERT_EQ(s[size_t(m * KB + b)], e8m0_to_f32(sr[size_t(b)]));
    }
  }
}

// Both act-none paths: skinny-fp32 where it applies (default limit), simt-fp32 everywhere (limit 0).
class SkinnyLimit {
 public:
  explicit SkinnyLimit(int64_t m) { set_skinny_max_m(m); }
  ~SkinnyLimit() { set_skinny_max_m(-1); }
  SkinnyLimit(const SkinnyLimit&) = delete;
  SkinnyLimit& operator=(const SkinnyLimit&) = delete;
};

TEST(GemmCuda, ExactAllFormatsSmallOdd) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.ExactAllFormatsSmallOdd"));
  for (int64_t limit : {kSkinnyDefaultMaxM, int64_t(0)}) {
    for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::FP8Block, WeightFormat::MXFP4, WeightFormat::NVFP4}) {
      const SkinnyLimit lim(limit);
      const bool fp4 = f == WeightFormat::MXFP4 || f == WeightFormat::NVFP4;
      run_case({f, ActQuant::None, 1, 1, fp4 ? 32 : 1}, rng);
      run_case({f, ActQuant::None, 7, 65, fp4 ? 96 : 200, 5, 1, 3}, rng);
      run_case({f, ActQuant::None, 33, 130, fp4 ? 160 : 129}, rng);
      run_case({f, ActQuant::None, 0, 16, 64}, rng);
      run_case({f, ActQuant::None, 3, 0, 64}, rng);
      run_case({f, ActQuant::None, 64, 256, 4096}, rng);
    }
  }
}

TEST(GemmCuda, ExactFlashShapes) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.ExactFlashShapes"));
  for (int64_t limit : {kSkinnyDefaultMaxM, int64_t(0)}) {
    const SkinnyLimit lim(limit);
    run_case({WeightFormat::FP8Block, ActQuant::None, 8, 1024, 4096}, rng);   // wq_a
    run_case({WeightFormat::BF16, ActQuant::None, 5, 256, 4096}, rng);        // router gate
    run_case({WeightFormat::F32, ActQuant::None, 3, 512, 4096}, rng);
    run_case({WeightFormat::MXFP4, ActQuant::None, 4, 2048, 4096}, rng);      // expert w1
  }
}

TEST(GemmCuda, OfficialFp8) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.OfficialFp8"));
  for (int tile : {0, 3})
    for (WeightFormat f : {WeightFormat::FP8Block, WeightFormat::MXFP4}) {
      set_mma_large_tile_override(tile);
      run_case({f, ActQuant::Fp8Block128, 130, 129, 160, 0, 1, 4}, rng);
      run_case({f, ActQuant::Fp8Block128, 70, 200, 640, 0, 1, 0}, rng);
      set_mma_large_tile_override(0);
    }
  for (WeightFormat f : {WeightFormat::FP8Block, WeightFormat::MXFP4}) {
    run_case({f, ActQuant::Fp8Block128, 1, 64, 128}, rng);
    run_case({f, ActQuant::Fp8Block128, 3, 3000, 640}, rng);  // 16x64 decode tile (N > 2048)
    run_case({f, ActQuant::Fp8Block128, 7, 65, 96, 5, 1, 4}, rng);
    run_case({f, ActQuant::Fp8Block128, 33, 200, 320}, rng);
    run_case({f, ActQuant::Fp8Block128, 130, 129, 160, 0, 1, 4}, rng);
    run_case({f, ActQuant::Fp8Block128, 0, 64, 128}, rng);
  }
  // Flash shapes at decode and (sampled) prefill sizes
  for (int64_t M : {1, 8, 32, 64}) run_case({WeightFormat::FP8Block, ActQuant::Fp8Block128, M, 1024, 4096}, rng);  // wq_a
  run_case({WeightFormat::FP8Block, ActQuant::Fp8Block128, 4096, 4096, 2048, 0, 1, 0, false}, rng, 48);  // w2 shared, prefill
  run_case({WeightFormat::FP8Block, ActQuant::Fp8Block128, 17, 4096, 8192, 0, 1, 0, false}, rng);          // wo_b
  run_case({WeightFormat::MXFP4, ActQuant::Fp8Block128, 64, 2048, 4096, 0, 1, 0, false}, rng);            // expert w1
  run_case({WeightFormat::FP8Block, ActQuant::Fp8Block128, 5, 1536, 7168, 0, 1, 0, false}, rng);          // Pro wq_a
}

TEST(GemmCuda, OfficialNvfp4) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.OfficialNvfp4"));
  run_case({WeightFormat::NVFP4, ActQuant::Nvfp4, 1, 64, 32}, rng);
  run_case({WeightFormat::NVFP4, ActQuant::Nvfp4, 9, 77, 208, 3, 1, 2}, rng);
  run_case({WeightFormat::NVFP4, ActQuant::Nvfp4, 16, 2048, 4096}, rng);
}

TEST(GemmCuda, GroupedWoA) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.GroupedWoA"));
  for (int64_t limit : {kSkinnyDefaultMaxM, int64_t(0)}) {
    const SkinnyLimit lim(limit);
    run_case({WeightFormat::FP8Block, ActQuant::None, 5, 48, 64, 0, 2}, rng);
    run_case({WeightFormat::BF16, ActQuant::None, 3, 33, 40, 7, 3, 5}, rng);
    run_case({WeightFormat::FP8Block, ActQuant::None, 3, 1024, 4096, 0, 8}, rng);  // Flash wo_a: G 8, o_lora 1024, (H/G)·D 4096
  }
}

// Output rows are bitwise independent of M and of the other rows, on every path: the act-none
// BF16/FP8 cases run once on simt-fp32 alone (skinny limit 0), once with M <= the skinny limit
// (skinny-fp32 for the batch and for the row alone) and once with the limit lifted (skinny-fp32 at
// M = 200).
TEST(GemmCuda, BatchInvariance) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.BatchInvariance"));
  struct C {
    WeightFormat f;
    ActQuant aq;
    int64_t M;
    int64_t skinny_limit = kSkinnyDefaultMaxM;
  };
  for (const C& c : {C{WeightFormat::FP8Block, ActQuant::Fp8Block128, 200}, C{WeightFormat::MXFP4, ActQuant::Fp8Block128, 100},
                     C{WeightFormat::BF16, ActQuant::None, 70, 0}, C{WeightFormat::NVFP4, ActQuant::Nvfp4, 40},
                     C{WeightFormat::BF16, ActQuant::None, 64}, C{WeightFormat::FP8Block, ActQuant::None, 37},
                     C{WeightFormat::BF16, ActQuant::None, 200, INT64_MAX}}) {
    const SkinnyLimit lim(c.skinny_limit);
    const int64_t N = 320, K = 1024;
    TestWeight w;
    make_weight(w, c.f, N, K, rng);
    ASSERT_TRUE(w.upload());
    const std::vector<float> x = random_x(c.M * K, rng);
    DevX dx(x);
    GuardedOut yb(static_cast<size_t>(c.M * N)), y1(static_cast<size_t>(N));
    LinearParams p;
    p.x = dx.ptr();
    p.M = c.M;
    p.ldx = K;
    p.w = &w.dev;
    p.N = N;
    p.y = yb.ptr();
    p.ldy = N;
    p.act_quant = c.aq;
    DeviceBuffer ws(linear_workspace_bytes(c.M, K));
    p.workspace = ws.get();
    p.workspace_bytes = ws.size();
    ASSERT_TRUE(linear(p, nullptr).is_ok());
    std::vector<float> all, one, other;
    ASSERT_TRUE(yb.fetch(&all));
    set_mma_large_tile_override(3);  // the 64x64 tile gives the same bits
    ASSERT_TRUE(linear(p, nullptr).is_ok());
    set_mma_large_tile_override(0);
    ASSERT_TRUE(yb.fetch(&other));
    ASSERT_EQ(std::memcmp(other.data(), all.data(), all.size() * 4), 0) << weight_format_name(c.f) << ": 64x64 vs 64x128 tiles";
    for (int64_t r : {int64_t(0), c.M / 2, c.M - 1}) {
      LinearParams q = p;
      q.x = dx.ptr() + r * K;
      q.M = 1;
      q.y = y1.ptr();
      ASSERT_TRUE(linear(q, nullptr).is_ok());
      ASSERT_TRUE(y1.fetch(&one));
      ASSERT_EQ(std::memcmp(one.data(), all.data() + r * N, size_t(N) * 4), 0)
          << weight_format_name(c.f) << ": row " << r << " of M=" << c.M << " differs from the same row alone";
    }
  }
}

// ---------------------------------------------------------------- skinny-fp32

// Every weight format at every decode M, odd N and K (scalar load paths), row0 offsets, ld padding.
TEST(GemmCuda, SkinnyAllFormatsAllM) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.SkinnyAllFormatsAllM"));
  const char* sk = "skinny-fp32";
  for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::FP8Block})
    for (int64_t M : {1, 2, 3, 5, 8, 16, 31, 32, 64}) {
      run_case({f, ActQuant::None, M, 77, 333, 5, 1, 3, true, sk}, rng);     // odd K: scalar loads
      run_case({f, ActQuant::None, M, 130, 1024, 0, 1, 0, true, sk}, rng);   // vector loads, N tail
      run_case({f, ActQuant::None, M, 9, 2056, 131, 1, 1, true, sk}, rng);   // K slices 1/2/4 (FP8/BF16/F32), K % 16 = 8, ldx % 4 = 1
    }
  for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::FP8Block}) {
    run_case({f, ActQuant::None, 1, 1, 1, 0, 1, 0, true, sk}, rng);
    run_case({f, ActQuant::None, 4, 3, 7, 2, 1, 0, true, sk}, rng);
    run_case({f, ActQuant::None, 0, 16, 64, 0, 1, 0, true, sk}, rng);
    run_case({f, ActQuant::None, 3, 0, 64, 0, 1, 0, true, sk}, rng);
    run_case({f, ActQuant::None, 6, 200, 16384, 0, 1, 0, true, sk}, rng);  // 8 K slices, long rows
  }
}

// The projections skinny-fp32 serves, at their real shapes (spec §7.3, §7.4; presets.cpp):
// router gate [E, d] bf16, compressor wkv/wgate [1024 | 512, d] bf16, indexer compressor [256, d],
// indexer weights_proj [64, d] bf16, wo_a grouped FP8 (G x [1024, H·D/G]).
TEST(GemmCuda, SkinnyFlashProShapes) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.SkinnyFlashProShapes"));
  const char* sk = "skinny-fp32";
  const WeightFormat B = WeightFormat::BF16;
  for (int64_t M : {1, 8, 32, 64}) {
    run_case({B, ActQuant::None, M, 256, 4096, 0, 1, 0, true, sk}, rng);   // flash ffn.gate
    run_case({B, ActQuant::None, M, 1024, 4096, 0, 1, 0, true, sk}, rng);  // flash compressor wkv (ratio 4)
    run_case({B, ActQuant::None, M, 512, 4096, 0, 1, 0, true, sk}, rng);   // flash compressor wkv (ratio 128)
    run_case({B, ActQuant::None, M, 256, 4096, 0, 1, 0, true, sk}, rng);   // flash indexer compressor
    run_case({B, ActQuant::None, M, 64, 4096, 0, 1, 0, true, sk}, rng);    // flash indexer weights_proj
  }
  for (int64_t M : {1, 8, 64})
    run_case({WeightFormat::FP8Block, ActQuant::None, M, 1024, 4096, 0, 8, 0, false, sk}, rng, 8);  // flash wo_a
  for (int64_t M : {1, 5}) {
    run_case({B, ActQuant::None, M, 384, 7168, 0, 1, 0, true, sk}, rng);   // pro ffn.gate
    run_case({B, ActQuant::None, M, 1024, 7168, 0, 1, 0, true, sk}, rng);  // pro compressor
    run_case({B, ActQuant::None, M, 64, 7168, 0, 1, 0, true, sk}, rng);    // pro weights_proj
  }
  run_case({WeightFormat::FP8Block, ActQuant::None, 2, 1024, 4096, 0, 16, 0, false, sk}, rng);  // pro wo_a: G 16
}

// y = y0 + alpha · x·Wᵀ with groups, every format, against the CPU to fp32 reordering.
TEST(GemmCuda, SkinnyGroupsAccumulateAlpha) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.SkinnyGroupsAccumulateAlpha"));
  for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::FP8Block})
    for (auto [M, G, N, K] : {std::array<int64_t, 4>{1, 3, 33, 520}, {7, 2, 129, 256}, {64, 4, 70, 1000}}) {
      SCOPED_TRACE(testing::Message() << weight_format_name(f) << " M " << M << " G " << G << " N " << N << " K " << K);
      const int64_t row0 = 3;
      TestWeight w;
      make_weight(w, f, row0 + G * N, K, rng);
      ASSERT_TRUE(w.upload());
      const int64_t ldx = G * K + 1, ldy = G * N + 2;
      const std::vector<float> x = random_x(M * ldx, rng), y0 = random_x(M * ldy, rng);
      DevX dx(x);
      GuardedOut y(static_cast<size_t>(M * ldy));
      DSV4_CUDA_OK(cudaMemcpy(y.ptr(), y0.data(), y0.size() * 4, cudaMemcpyHostToDevice));
      LinearParams p;
      p.x = dx.ptr();
      p.M = M;
      p.ldx = ldx;
      p.w = &w.dev;
      p.row0 = row0;
      p.N = N;
      p.y = y.ptr();
      p.ldy = ldy;
      p.groups = G;
      p.alpha = -0.75f;
      p.accumulate = true;
      LinearPlan plan;
      ASSERT_TRUE(plan_linear(p, &plan).is_ok());
      ASSERT_STREQ(plan.path, "skinny-fp32");
      ASSERT_TRUE(linear(p, nullptr).is_ok());
      std::vector<float> got;
      ASSERT_TRUE(y.fetch(&got)) << "guard bytes overwritten";
      std::vector<int64_t> rows;
      for (int64_t m = 0; m < M; ++m) rows.push_back(m);
      std::vector<float> absref;
      const std::vector<float> ref = cpu_linear_rows(x, ldx, rows, w.host, row0, N, ActQuant::None, G, &absref);
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t j = 0; j < G * N; ++j) {
          const size_t i = size_t(m * G * N + j);
          const double want = double(y0[size_t(m * ldy + j)]) + double(-0.75f * ref[i]);
          const double err = std::fabs(double(got[size_t(m * ldy + j)]) - want);
          ASSERT_LE(err, 2e-6 * (0.75 * double(absref[i]) + std::fabs(double(y0[size_t(m * ldy + j)]))) + 1e-30)
              << "row " << m << " col " << j;
        }
        for (int64_t j = G * N; j < ldy; ++j)
          ASSERT_EQ(std::memcmp(&got[size_t(m * ldy + j)], &y0[size_t(m * ldy + j)], 4), 0) << "padding column " << j << " written";
      }
    }
}

// NaN and ±Inf in x and in the weight (BF16/F32 values, FP8 NaN scale byte 0xFF): the output is NaN
// / ±Inf exactly where the CPU linear's is; the finite outputs match to fp32 reordering.
TEST(GemmCuda, SkinnyNanInfPositions) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.SkinnyNanInfPositions"));
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::FP8Block}) {
    SCOPED_TRACE(weight_format_name(f));
    const int64_t M = 6, N = 300, K = 1024;
    TestWeight w;
    make_weight(w, f, N, K, rng);
    // weight specials: row 10 NaN at k 5; row 20 +Inf at k 700; row 21 -Inf at k 3 and +Inf at k 900 (NaN);
    // FP8: scale block (row block 2, k block 3) NaN: rows 256..299 NaN.
    auto set_w = [&](int64_t r, int64_t k, float v) {
      if (f == WeightFormat::F32) std::memcpy(w.q.data() + (r * K + k) * 4, &v, 4);
      if (f == WeightFormat::BF16) {
        const uint16_t b = f32_to_bf16(v);
        std::memcpy(w.q.data() + (r * K + k) * 2, &b, 2);
      }
    };
    if (f == WeightFormat::FP8Block) {
      w.s[size_t(2 * 8 + 3)] = 0xFF;
    } else {
      set_w(10, 5, nan);
      set_w(20, 700, inf);
      set_w(21, 3, -inf);
      set_w(21, 900, inf);
    }
    ASSERT_TRUE(w.upload());
    std::vector<float> x = random_x(M * K, rng);
    x[size_t(1 * K + 17)] = nan;   // row 1: all NaN
    x[size_t(2 * K + 1000)] = inf; // row 2: ±Inf by the sign of w[j, 1000] (NaN where it is 0)
    x[size_t(3 * K + 0)] = inf;    // row 3: +Inf and -Inf: ±Inf or NaN by the signs of w
    x[size_t(3 * K + 512)] = -inf;
    DevX dx(x);
    GuardedOut y(static_cast<size_t>(M * N));
    LinearParams p;
    p.x = dx.ptr();
    p.M = M;
    p.ldx = K;
    p.w = &w.dev;
    p.N = N;
    p.y = y.ptr();
    p.ldy = N;
    LinearPlan plan;
    ASSERT_TRUE(plan_linear(p, &plan).is_ok());
    ASSERT_STREQ(plan.path, "skinny-fp32");
    ASSERT_TRUE(linear(p, nullptr).is_ok());
    std::vector<float> got;
    ASSERT_TRUE(y.fetch(&got));
    std::vector<int64_t> rows;
    for (int64_t m = 0; m < M; ++m) rows.push_back(m);
    std::vector<float> absref;
    const std::vector<float> ref = cpu_linear_rows(x, K, rows, w.host, 0, N, ActQuant::None, 1, &absref);
    int64_t specials = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const float g = got[i], r = ref[i];
      ASSERT_EQ(std::isnan(g), std::isnan(r)) << "output " << i << " gpu " << g << " cpu " << r;
      if (std::isnan(r)) {
        ++specials;
        continue;
      }
      ASSERT_EQ(std::isinf(g), std::isinf(r)) << "output " << i << " gpu " << g << " cpu " << r;
      if (std::isinf(r)) {
        ++specials;
        ASSERT_EQ(g, r) << "output " << i;
        continue;
      }
      ASSERT_LE(std::fabs(double(g) - double(r)), 2e-6 * double(absref[i]) + 1e-30) << "output " << i;
    }
    EXPECT_GT(specials, N) << "the specials reached the outputs";
  }
}

// Bitwise: the same call twice; a row alone, inside M = 13 and inside M = 64; a column range alone
// (other N and row0: another launch shape) — the per-output arithmetic depends on (format, K) only.
TEST(GemmCuda, SkinnyDeterministicAndShapeIndependent) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.SkinnyDeterministic"));
  for (WeightFormat f : {WeightFormat::F32, WeightFormat::BF16, WeightFormat::FP8Block})
    for (int64_t K : {int64_t(4096), int64_t(1000)}) {
      SCOPED_TRACE(testing::Message() << weight_format_name(f) << " K " << K);
      const int64_t N = 1024, M = 64;
      TestWeight w;
      make_weight(w, f, N, K, rng);
      ASSERT_TRUE(w.upload());
      const std::vector<float> x = random_x(M * K, rng);
      DevX dx(x);
      GuardedOut ya(static_cast<size_t>(M * N)), yb(static_cast<size_t>(M * N));
      LinearParams p;
      p.x = dx.ptr();
      p.M = M;
      p.ldx = K;
      p.w = &w.dev;
      p.N = N;
      p.y = ya.ptr();
      p.ldy = N;
      ASSERT_TRUE(linear(p, nullptr).is_ok());
      LinearParams q = p;
      q.y = yb.ptr();
      ASSERT_TRUE(linear(q, nullptr).is_ok());
      std::vector<float> a, b;
      ASSERT_TRUE(ya.fetch(&a));
      ASSERT_TRUE(yb.fetch(&b));
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << "two runs differ";
      for (int64_t sub : {int64_t(1), int64_t(13)}) {
        for (int64_t r0 : {int64_t(0), M - sub}) {
          q = p;
          q.x = dx.ptr() + r0 * K;
          q.M = sub;
          q.y = yb.ptr();
          ASSERT_TRUE(linear(q, nullptr).is_ok());
          ASSERT_TRUE(yb.fetch(&b));
          ASSERT_EQ(std::memcmp(b.data(), a.data() + r0 * N, size_t(sub * N) * 4), 0)
              << "rows " << r0 << "+" << sub << " alone differ from the same rows at M=" << M;
        }
      }
      q = p;
      q.row0 = 500;
      q.N = 37;
      q.ldy = N;
      q.y = yb.ptr();
      ASSERT_TRUE(linear(q, nullptr).is_ok());
      ASSERT_TRUE(yb.fetch(&b));
      for (int64_t m = 0; m < M; ++m)
        ASSERT_EQ(std::memcmp(b.data() + m * N, a.data() + m * N + 500, 37 * 4), 0) << "columns 500..536 alone, row " << m;
    }
}

TEST(GemmCuda, AccumulateAlpha) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("GemmCuda.AccumulateAlpha"));
  for (ActQuant aq : {ActQuant::None, ActQuant::Fp8Block128}) {
    const int64_t M = 9, N = 100, K = 256;
    TestWeight w;
    make_weight(w, WeightFormat::FP8Block, N, K, rng);
    ASSERT_TRUE(w.upload());
    const std::vector<float> x = random_x(M * K, rng), y0 = random_x(M * N, rng);
    DevX dx(x);
    GuardedOut y(static_cast<size_t>(M * N));
    DSV4_CUDA_OK(cudaMemcpy(y.ptr(), y0.data(), y0.size() * 4, cudaMemcpyHostToDevice));
    LinearParams p;
    p.x = dx.ptr();
    p.M = M;
    p.ldx = K;
    p.w = &w.dev;
    p.N = N;
    p.y = y.ptr();
    p.ldy = N;
    p.act_quant = aq;
    DeviceBuffer ws(linear_workspace_bytes(M, K));
    p.workspace = ws.get();
    p.workspace_bytes = ws.size();
    p.alpha = 0.5f;
    p.accumulate = true;
    ASSERT_TRUE(linear(p, nullptr).is_ok());
    std::vector<float> got;
    ASSERT_TRUE(y.fetch(&got));
    std::vector<int64_t> rows;
    for (int64_t m = 0; m < M; ++m) rows.push_back(m);
    std::vector<float> ref = cpu_linear_rows(x, K, rows, w.host, 0, N, aq);
    for (size_t i = 0; i < ref.size(); ++i) ref[i] = y0[i] + 0.5f * ref[i];
    const double e = nmse(got.data(), ref.data(), ref.size());
    EXPECT_LT(e, aq == ActQuant::None ? 1e-12 : 1e-5) << act_quant_name(aq);
  }
}

}  // namespace
}  // namespace dsv4::cuda
