// GPU routed experts (backends/cuda/sm90/moe/moe_routed.h) against the CPU composition of
// src/model/moe.cpp + expert.cpp (per expert: project w1/w3 -> swiglu with the routing weight ->
// project w2, summed per token), in exact and official numerics, for MXFP4, FP8Block, NVFP4 and
// BF16 experts; golden-a and Flash shapes; T = 0 .. 4096; skipped ids; one expert for all tokens;
// batch invariance; guard bytes; Status errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "backends/cuda/sm90/gemm/linear.h"
#include "backends/cuda/sm90/moe/moe_routed.h"
#include "backends/ops.h"
#include "cuda/cuda_test_support.h"
#include "cuda/gemm_test_support.h"
#include "support/test_support.h"

namespace dsv4::cuda {
namespace {

using namespace gemmtest;
using test::DeviceBuffer;
using dsv4::test::fresh_seed;

struct Experts {
  std::vector<std::unique_ptr<TestWeight>> w1, w3, w2;
  ExpertTable table;
  int64_t E = 0, d = 0, I = 0;
  WeightFormat fmt = WeightFormat::MXFP4;
  ~Experts() { free_expert_table(&table); }
};

bool make_experts(Experts& ex, WeightFormat f, int64_t E, int64_t d, int64_t I, std::mt19937_64& rng, bool quantize) {
  ex.E = E;
  ex.d = d;
  ex.I = I;
  ex.fmt = f;
  std::vector<ExpertWeightsView> views(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    for (auto* v : {&ex.w1, &ex.w3, &ex.w2}) v->push_back(std::make_unique<TestWeight>());
    make_weight(*ex.w1.back(), f, I, d, rng, quantize);
    make_weight(*ex.w3.back(), f, I, d, rng, quantize);
    make_weight(*ex.w2.back(), f, d, I, rng, quantize);
    ex.w3.back()->host.input_scale = ex.w1.back()->host.input_scale;
    ex.w2.back()->host.input_scale = 0.5f / (448.0f * 6.0f);  // h is smaller than x
    for (auto* v : {&ex.w1, &ex.w3, &ex.w2})
      if (!v->back()->upload()) return false;
    views[size_t(e)] = {&ex.w1.back()->dev, &ex.w3.back()->dev, &ex.w2.back()->dev};
  }
  return prepare_expert_table(views.data(), E, &ex.table).is_ok();
}

// project() of forward_context.cpp on host weights.
void cpu_project(bool official, const float* x, int64_t M, const LinearWeight& w, float* y) {
  const bool quantized = w.format == WeightFormat::FP8Block || w.format == WeightFormat::MXFP4 || w.format == WeightFormat::NVFP4;
  if (official && quantized) {
    std::vector<float> xq(x, x + M * w.in);
    if (w.format == WeightFormat::NVFP4)
      cpu_ops().fake_quant_nvfp4(xq.data(), M, w.in, w.input_scale);
    else
      cpu_ops().fake_quant_fp8(xq.data(), M, w.in, 0, w.in, 128, false);
    cpu_ops().linear(xq.data(), M, w.in, w, 0, w.out, y, w.out);
  } else {
    cpu_ops().linear(x, M, w.in, w, 0, w.out, y, w.out);
  }
}

// moe.cpp's routed part for the tokens in `toks`: out [toks, d].
std::vector<float> cpu_moe(const Experts& ex, const std::vector<float>& x, const std::vector<int32_t>& ids,
                           const std::vector<float>& wts, int64_t k, const std::vector<int64_t>& toks, float limit,
                           bool official) {
  const int64_t d = ex.d, I = ex.I;
  std::vector<float> Y(toks.size() * size_t(d), 0.0f);
  for (int64_t e = 0; e < ex.E; ++e) {
    std::vector<int64_t> rows;
    std::vector<float> rw;
    for (size_t s = 0; s < toks.size(); ++s)
      for (int64_t j = 0; j < k; ++j)
        if (ids[size_t(toks[s] * k + j)] == e) {
          rows.push_back(int64_t(s));
          rw.push_back(wts[size_t(toks[s] * k + j)]);
        }
    if (rows.empty()) continue;
    const int64_t M = int64_t(rows.size());
    std::vector<float> xg(static_cast<size_t>(M * d)), g(static_cast<size_t>(M * I)), u(static_cast<size_t>(M * I)), yg(static_cast<size_t>(M * d));
    for (int64_t m = 0; m < M; ++m) std::memcpy(xg.data() + m * d, x.data() + toks[size_t(rows[size_t(m)])] * d, size_t(d) * 4);
    cpu_project(official, xg.data(), M, ex.w1[size_t(e)]->host, g.data());
    cpu_project(official, xg.data(), M, ex.w3[size_t(e)]->host, u.data());
    cpu_ops().swiglu(g.data(), u.data(), M, I, limit, rw.data(), g.data());
    cpu_project(official, g.data(), M, ex.w2[size_t(e)]->host, yg.data());
    for (int64_t m = 0; m < M; ++m)
      for (int64_t c = 0; c < d; ++c) Y[size_t(rows[size_t(m)] * d + c)] += yg[size_t(m * d + c)];
  }
  return Y;
}

struct Routing {
  std::vector<int32_t> ids;
  std::vector<float> wts;
};

Routing random_routing(int64_t T, int64_t k, int64_t E, std::mt19937_64& rng, double skip = 0.0) {
  Routing r;
  r.ids.resize(static_cast<size_t>(T * k));
  r.wts.resize(static_cast<size_t>(T * k));
  std::uniform_real_distribution<float> u(0.05f, 1.0f);
  std::uniform_real_distribution<double> p(0.0, 1.0);
  std::vector<int32_t> perm(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t e = 0; e < E; ++e) perm[size_t(e)] = int32_t(e);
    for (int64_t j = 0; j < k; ++j) {
      std::swap(perm[size_t(j)], perm[size_t(j + int64_t(rng() % uint64_t(E - j)))]);
      r.ids[size_t(t * k + j)] = p(rng) < skip ? -1 : perm[size_t(j)];
      r.wts[size_t(t * k + j)] = u(rng) * 1.5f / float(k);
    }
  }
  return r;
}

struct MoeRun {
  std::vector<float> y;
  bool guards_ok = false;
  Status st;
};

MoeRun run_gpu(const Experts& ex, const std::vector<float>& x, const Routing& r, int64_t T, int64_t k, float limit,
               bool official, int64_t expert0 = 0) {
  MoeRun out;
  DeviceBuffer dx(x.size() * 4), dids(r.ids.size() * 4), dw(r.wts.size() * 4);
  cudaMemcpy(dx.get(), x.data(), x.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dids.get(), r.ids.data(), r.ids.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dw.get(), r.wts.data(), r.wts.size() * 4, cudaMemcpyHostToDevice);
  const size_t wsb = moe_workspace_bytes(T, k, ex.d, ex.I, ex.E);
  DeviceBuffer ws(wsb);
  cudaMemset(ws.get(), 0xFF, wsb);
  GuardedOut y(static_cast<size_t>(std::max<int64_t>(T * ex.d, 1)));
  MoeRoutedParams p;
  p.x = reinterpret_cast<const float*>(dx.get());
  p.T = T;
  p.ids = reinterpret_cast<const int32_t*>(dids.get());
  p.weights = reinterpret_cast<const float*>(dw.get());
  p.k = k;
  p.table = &ex.table;
  p.expert0 = expert0;
  p.swiglu_limit = limit;
  p.official = official;
  p.y = y.ptr();
  p.workspace = ws.get();
  p.workspace_bytes = wsb;
  out.st = moe_routed(p, nullptr);
  if (!out.st) return out;
  if (cudaDeviceSynchronize() != cudaSuccess) {
    out.st = Status::error("kernel fault");
    return out;
  }
  out.guards_ok = y.fetch(&out.y);
  if (T == 0) out.y.clear();
  return out;
}

// Compares the GPU against the CPU composition on `sample` tokens (0: all). Official numerics: the
// tolerance is a fraction of the FP8/FP4 activation-quantization noise itself (CPU official vs
// CPU exact, measured here on the same tokens).
void check_moe(const Experts& ex, int64_t T, int64_t k, std::mt19937_64& rng, bool official, int64_t sample = 0,
               double skip = 0.0, const Routing* fixed = nullptr) {
  SCOPED_TRACE(testing::Message() << weight_format_name(ex.fmt) << (official ? " official" : " exact") << " E " << ex.E
                                  << " d " << ex.d << " I " << ex.I << " T " << T << " k " << k);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(T * ex.d));
  for (auto& v : x) v = nd(rng);
  const Routing r = fixed != nullptr ? *fixed : random_routing(T, k, ex.E, rng, skip);
  const float limit = 10.0f;
  const MoeRun g = run_gpu(ex, x, r, T, k, limit, official);
  ASSERT_TRUE(g.st.is_ok()) << g.st.message();
  ASSERT_TRUE(g.guards_ok) << "guard bytes around y overwritten";
  if (T == 0) return;
  std::vector<int64_t> toks;
  if (sample == 0 || sample >= T)
    for (int64_t t = 0; t < T; ++t) toks.push_back(t);
  else
    for (int64_t i = 0; i < sample; ++i) toks.push_back(i * (T - 1) / (sample - 1));
  const std::vector<float> ref = cpu_moe(ex, x, r.ids, r.wts, k, toks, limit, official);
  std::vector<float> got(ref.size());
  for (size_t s = 0; s < toks.size(); ++s) std::memcpy(got.data() + s * size_t(ex.d), g.y.data() + toks[s] * ex.d, size_t(ex.d) * 4);
  const double e = nmse(got.data(), ref.data(), ref.size());
  bool all_zero_ref = true;
  for (float v : ref) all_zero_ref = all_zero_ref && v == 0.0f;
  if (all_zero_ref) {
    for (float v : got) ASSERT_EQ(v, 0.0f);
    return;
  }
  if (!official || ex.fmt == WeightFormat::BF16) {
    std::printf("[moe %s exact] E=%lld d=%lld I=%lld T=%lld: nmse %.3g\n", weight_format_name(ex.fmt), (long long)ex.E,
                (long long)ex.d, (long long)ex.I, (long long)T, e);
    ASSERT_LT(e, 1e-10);
  } else {
    const std::vector<float> exact = cpu_moe(ex, x, r.ids, r.wts, k, toks, limit, false);
    const double noise = nmse(exact.data(), ref.data(), ref.size());
    std::printf("[moe %s official] E=%lld d=%lld I=%lld T=%lld: nmse vs cpu official %.3g (quantization noise %.3g)\n",
                weight_format_name(ex.fmt), (long long)ex.E, (long long)ex.d, (long long)ex.I, (long long)T, e, noise);
    ASSERT_LT(e, std::max(1e-9, 0.02 * noise));
  }
}

TEST(MoeCuda, Errors) {
  MoeRoutedParams p;
  EXPECT_FALSE(check_moe_routed(p).is_ok()) << "no table";
  EXPECT_FALSE(prepare_expert_table(nullptr, 0, nullptr).is_ok());
  EXPECT_GT(moe_workspace_bytes(4096, 6, 4096, 2048, 256), size_t(4096) * 6 * (4096 + 2048) * 4);
  EXPECT_GT(moe_workspace_bytes(1, 6, 256, 256, 16), size_t(0));
}

TEST(MoeCuda, GoldenShapesAllFormats) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("MoeCuda.GoldenShapesAllFormats"));
  for (WeightFormat f : {WeightFormat::MXFP4, WeightFormat::FP8Block, WeightFormat::NVFP4, WeightFormat::BF16}) {
    Experts ex;
    ASSERT_TRUE(make_experts(ex, f, 16, 256, 256, rng, true));
    for (bool official : {false, true})
      for (int64_t T : {0, 1, 7, 64, 256}) check_moe(ex, T, 6, rng, official);
    check_moe(ex, 33, 6, rng, true, 0, 0.3);   // ids with -1
    check_moe(ex, 33, 6, rng, false, 0, 1.0);  // every id skipped: y = 0
    // all experts empty but one: every token to expert 3 (slot 0), other slots skipped
    const int64_t T = 50;
    Routing one;
    one.ids.assign(static_cast<size_t>(T * 6), -1);
    one.wts.assign(static_cast<size_t>(T * 6), 0.3f);
    for (int64_t t = 0; t < T; ++t) one.ids[size_t(t * 6)] = 3;
    check_moe(ex, T, 6, rng, true, 0, 0.0, &one);
    check_moe(ex, T, 6, rng, false, 0, 0.0, &one);
  }
}

// Expert parallelism: the table is a rank's share [expert0, expert0 + 8) of 16 experts and the
// ids are global; other ranks' ids are skipped. Bitwise the run with the ids shifted to the table
// and the others -1.
TEST(MoeCuda, WeightShare) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("MoeCuda.WeightShare"));
  Experts ex;
  ASSERT_TRUE(make_experts(ex, WeightFormat::MXFP4, 8, 256, 256, rng, true));
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (bool official : {false, true})
    for (int64_t expert0 : {0, 4, 8}) {
      const int64_t T = 37, k = 6;
      const Routing global = random_routing(T, k, 16, rng, 0.1);
      Routing local = global;
      for (auto& id : local.ids) id = id >= expert0 && id < expert0 + 8 ? int32_t(id - expert0) : -1;
      std::vector<float> x(static_cast<size_t>(T * ex.d));
      for (auto& v : x) v = nd(rng);
      const MoeRun got = run_gpu(ex, x, global, T, k, 10.0f, official, expert0);
      const MoeRun want = run_gpu(ex, x, local, T, k, 10.0f, official);
      ASSERT_TRUE(got.st.is_ok()) << got.st.message();
      ASSERT_TRUE(want.st.is_ok()) << want.st.message();
      EXPECT_TRUE(got.guards_ok);
      EXPECT_TRUE(got.y == want.y) << "expert0 " << expert0 << (official ? " official" : " exact");
    }
}

TEST(MoeCuda, FlashShapes) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("MoeCuda.FlashShapes"));
  {
    Experts ex;  // the 4-GPU share: 64 experts
    ASSERT_TRUE(make_experts(ex, WeightFormat::MXFP4, 64, 4096, 2048, rng, false));
    for (int64_t T : {1, 7, 64}) check_moe(ex, T, 6, rng, true);
    check_moe(ex, 4096, 6, rng, true, 24);
    check_moe(ex, 7, 6, rng, false);
  }
  {
    Experts ex;  // all 256 experts
    ASSERT_TRUE(make_experts(ex, WeightFormat::MXFP4, 256, 4096, 2048, rng, false));
    check_moe(ex, 256, 6, rng, true, 32);
    check_moe(ex, 1, 6, rng, true);
  }
}

// A token's output does not depend on the batch it is in (same x row, same ids/weights).
TEST(MoeCuda, BatchInvariance) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("MoeCuda.BatchInvariance"));
  for (bool official : {true, false}) {
    Experts ex;
    ASSERT_TRUE(make_experts(ex, WeightFormat::MXFP4, 16, 256, 256, rng, true));
    const int64_t T = 512, k = 6;
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(T * ex.d));
    for (auto& v : x) v = nd(rng);
    const Routing r = random_routing(T, k, ex.E, rng);
    const MoeRun all = run_gpu(ex, x, r, T, k, 10.0f, official);
    ASSERT_TRUE(all.st.is_ok() && all.guards_ok);
    set_mma_large_tile_override(3);
    const MoeRun other = run_gpu(ex, x, r, T, k, 10.0f, official);
    set_mma_large_tile_override(0);
    ASSERT_TRUE(other.st.is_ok() && other.guards_ok);
    ASSERT_EQ(std::memcmp(other.y.data(), all.y.data(), all.y.size() * 4), 0) << "64x64 vs 64x128 tiles";
    for (int64_t t : {int64_t(0), T / 3, T - 1}) {
      const std::vector<float> x1(x.begin() + t * ex.d, x.begin() + (t + 1) * ex.d);
      Routing r1;
      r1.ids.assign(r.ids.begin() + t * k, r.ids.begin() + (t + 1) * k);
      r1.wts.assign(r.wts.begin() + t * k, r.wts.begin() + (t + 1) * k);
      const MoeRun one = run_gpu(ex, x1, r1, 1, k, 10.0f, official);
      ASSERT_TRUE(one.st.is_ok() && one.guards_ok);
      ASSERT_EQ(std::memcmp(one.y.data(), all.y.data() + t * ex.d, size_t(ex.d) * 4), 0)
          << (official ? "official" : "exact") << ": token " << t << " of T=" << T << " differs from the token alone";
    }
  }
}

// The decode kernels (gemm/decode_fp8.h) against the tiled ones: bitwise, every decode T (tiles of
// 8 and 16 rows, experts with several tiles), skipped ids, both expert formats, golden and Flash shapes.
TEST(MoeCuda, DecodeEqualsTiledBitwise) {
  DSV4_REQUIRE_CUDA_DEVICE();
  std::mt19937_64 rng(fresh_seed("MoeCuda.DecodeEqualsTiledBitwise"));
  struct Shape {
    WeightFormat f;
    int64_t E, d, I;
  };
  for (const Shape& s : {Shape{WeightFormat::MXFP4, 16, 256, 384}, Shape{WeightFormat::FP8Block, 16, 384, 256},
                         Shape{WeightFormat::MXFP4, 64, 4096, 2048}}) {
    Experts ex;
    ASSERT_TRUE(make_experts(ex, s.f, s.E, s.d, s.I, rng, s.d <= 512));
    const int64_t k = 6;
    set_moe_decode_max_tokens(64);  // every decode T, including those the default leaves to the tiles
    for (int64_t T : {1, 3, 8, 9, 16, 40, 64}) {
      SCOPED_TRACE(testing::Message() << weight_format_name(s.f) << " E " << s.E << " d " << s.d << " I " << s.I << " T " << T);
      std::normal_distribution<float> nd(0.0f, 1.0f);
      std::vector<float> x(static_cast<size_t>(T * ex.d));
      for (auto& v : x) v = nd(rng);
      // T = 40: every token on experts 0..5 (experts with 3 tiles); else random with some skipped ids
      Routing r = random_routing(T, k, ex.E, rng, T == 3 ? 0.3 : 0.0);
      if (T == 40)
        for (int64_t i = 0; i < T * k; ++i) r.ids[size_t(i)] = int32_t(i % k);
      MoeRoutedParams probe;
      probe.T = T;
      probe.k = k;
      probe.table = &ex.table;
      EXPECT_STREQ(moe_routed_path(probe), "mma-fp8-decode");
      const MoeRun dec = run_gpu(ex, x, r, T, k, 10.0f, true);
      set_moe_decode_max_tokens(0);
      EXPECT_STRNE(moe_routed_path(probe), "mma-fp8-decode");
      const MoeRun tiled = run_gpu(ex, x, r, T, k, 10.0f, true);
      set_moe_decode_max_tokens(64);
      ASSERT_TRUE(dec.st.is_ok() && dec.guards_ok) << dec.st.message();
      ASSERT_TRUE(tiled.st.is_ok() && tiled.guards_ok) << tiled.st.message();
      for (size_t i = 0; i < dec.y.size(); ++i) {
        uint32_t a, b;
        std::memcpy(&a, &dec.y[i], 4);
        std::memcpy(&b, &tiled.y[i], 4);
        ASSERT_EQ(a, b) << "output " << i << ": decode " << dec.y[i] << " tiled " << tiled.y[i];
      }
    }
    set_moe_decode_max_tokens(-1);
  }
}

}  // namespace
}  // namespace dsv4::cuda
