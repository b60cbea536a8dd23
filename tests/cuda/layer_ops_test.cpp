// GPU layer ops (backends/cuda/sm90/layer_ops/) against the CPU ops (cpu_ops()): norm, RoPE, the
// quantization points, SwiGLU, embedding. Fresh random inputs each run (seed printed; DSV4_TEST_SEED
// fixes it), the real Flash / Pro / golden-a widths and S = 0, 1, 3, 127, 513; outputs framed by
// canaries and pre-poisoned; bit-exact where the op is a quantizer/codec. Device tests skip without
// a GPU; the Status checks run everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/sm90/layer_ops/add.h"
#include "backends/cuda/sm90/layer_ops/embed.h"
#include "backends/cuda/sm90/layer_ops/fake_quant_fp8.h"
#include "backends/cuda/sm90/layer_ops/fake_quant_nvfp4.h"
#include "backends/cuda/sm90/layer_ops/hadamard_fp4.h"
#include "backends/cuda/sm90/layer_ops/rms_norm.h"
#include "backends/cuda/sm90/layer_ops/rope.h"
#include "backends/cuda/sm90/layer_ops/swiglu.h"
#include "backends/ops.h"
#include "cuda/layer_ops_support.h"
#include "support/test_support.h"

namespace dsv4::cuda {
namespace {

using test::Guarded;

template <typename T>
Guarded<T> up(const std::vector<T>& v) {
  Guarded<T> g(v.size());
  g.upload(v);
  return g;
}

size_t count_bit_diffs(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += test::bitsf(a[i]) != test::bitsf(b[i]) && !(std::isnan(a[i]) && std::isnan(b[i]));
  return n;
}

const int64_t kRows[] = {0, 1, 3, 127, 513};

// ---------------- Status checks (no GPU) ----------------
TEST(LayerOpsStatus, BadParamsAreRejectedBeforeAnyLaunch) {
  float dummy = 0;
  RmsNormParams rn;
  rn.x = rn.y = &dummy;
  rn.rows = 1;
  rn.n = 8;
  rn.ld = 4;
  EXPECT_FALSE(check_rms_norm(rn));
  rn.ld = 8;
  rn.x = nullptr;
  EXPECT_FALSE(rms_norm(rn, nullptr));
  RopeParams rp;
  rp.rows = 1;
  rp.vecs = 2;
  rp.rope_dim = 63;
  EXPECT_FALSE(check_rope(rp));
  rp.rope_dim = 64;
  rp.vec_stride = 32;
  EXPECT_FALSE(check_rope(rp));
  FakeQuantFp8Params fq;
  fq.x = &dummy;
  fq.rows = 1;
  fq.ld = 10;
  fq.c0 = 4;
  fq.n = 8;
  EXPECT_FALSE(check_fake_quant_fp8(fq));
  fq.n = 6;
  fq.block = 0;
  EXPECT_FALSE(check_fake_quant_fp8(fq));
  FakeQuantNvfp4Params nq;
  nq.x = &dummy;
  nq.rows = nq.n = 1;
  nq.input_scale = 0.0f;
  EXPECT_FALSE(check_fake_quant_nvfp4(nq));
  nq.input_scale = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(check_fake_quant_nvfp4(nq));
  HadamardFp4Params hp;
  hp.x = &dummy;
  hp.rows = 1;
  hp.n = 96;
  EXPECT_FALSE(check_hadamard_fp4(hp));
  hp.n = 2048;
  EXPECT_FALSE(check_hadamard_fp4(hp));
  SwigluParams sp;
  sp.M = 1;
  sp.I = 4;
  EXPECT_FALSE(check_swiglu(sp));
  EmbedParams ep;
  ep.T = 1;
  ep.vocab = 10;
  ep.d = 8;
  ep.n = 0;
  EXPECT_FALSE(check_embed(ep));
  // empty work is fine with null pointers
  RmsNormParams empty;
  empty.n = empty.ld = 16;
  EXPECT_TRUE(check_rms_norm(empty));
  EXPECT_TRUE(rms_norm(empty, nullptr));
}

// ---------------- rms_norm ----------------
TEST(LayerOps, RmsNormMatchesCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.RmsNorm");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  double worst = 0;
  size_t diffs = 0, total = 0;
  for (int64_t n : {7168, 4096, 1536, 1024, 512, 256, 128, 7})
    for (int64_t rows : kRows)
      for (int variant = 0; variant < 3; ++variant) {  // 0: out of place weighted, 1: in place, 2: odd ld unweighted
        const int64_t ld = variant == 2 ? n + 3 : n;
        const bool weighted = variant != 2;
        auto x = test::randn(rng, size_t(rows * ld), 3.0f);
        auto w = test::randn(rng, size_t(n));
        std::vector<float> want(x.size(), 0.0f);
        if (variant == 1) want = x;
        if (rows > 0) cpu_ops().rms_norm(x.data(), rows, n, ld, weighted ? w.data() : nullptr, 1e-6f, variant == 1 ? want.data() : want.data());
        if (variant == 1 && rows > 0) {
          want = x;
          cpu_ops().rms_norm(want.data(), rows, n, ld, weighted ? w.data() : nullptr, 1e-6f, want.data());
        }
        auto dx = up(x);
        auto dw = up(w);
        Guarded<float> dy(x.size());
        if (variant != 1) dy.upload(std::vector<float>(x.size(), test::fbits(0xA5A5A5A5u)));
        RmsNormParams p;
        p.x = dx.get();
        p.y = variant == 1 ? dx.get() : dy.get();
        p.weight = weighted ? dw.get() : nullptr;
        p.rows = rows;
        p.n = n;
        p.ld = ld;
        p.eps = 1e-6f;
        ASSERT_TRUE(rms_norm(p, nullptr).is_ok());
        auto got = variant == 1 ? dx.download("rms_norm") : dy.download("rms_norm");
        if (variant != 1)  // untouched gaps of an ld > n layout stay poisoned on both sides
          for (int64_t r = 0; r < rows; ++r)
            for (int64_t i = n; i < ld; ++i) {
              ASSERT_EQ(test::bitsf(got[size_t(r * ld + i)]), 0xA5A5A5A5u);
              got[size_t(r * ld + i)] = want[size_t(r * ld + i)];
            }
        const std::string what = "rms_norm n=" + std::to_string(n) + " rows=" + std::to_string(rows) + " v" +
                                 std::to_string(variant);
        worst = std::max(worst, test::expect_close(got, want, 1e-6, 1e-30, what));
        diffs += count_bit_diffs(got, want);
        total += got.size();
      }
  std::printf("[rms_norm] max rel diff %.3g, %zu of %zu elements not bit-identical\n", worst, diffs, total);
}

// ---------------- rope ----------------
TEST(LayerOps, RopeMatchesCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.Rope");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  struct Case {
    int64_t vecs, vec_stride, offset;
    int rope_dim;
  };
  // q heads of Flash / Pro (512-wide heads, rope on the last 64), a single KV vector, golden-a.
  const Case cases[] = {{64, 512, 448, 64}, {128, 512, 448, 64}, {1, 512, 448, 64}, {8, 64, 0, 64}, {3, 17, 3, 14}};
  double worst_abs = 0;
  size_t diffs = 0, total = 0;
  for (const Case& c : cases)
    for (int64_t rows : kRows)
      for (bool inverse : {false, true}) {
        const int64_t row_stride = c.vecs * c.vec_stride + (rows % 2);
        auto x = test::randn(rng, size_t(std::max<int64_t>(rows * row_stride, 1)));
        if (rows == 0) x.clear();
        std::vector<int64_t> pos(static_cast<size_t>(rows));
        for (auto& v : pos) v = int64_t(rng() % (1u << 20));
        if (rows > 0) pos[0] = 0;
        RopeFrequencies f;
        for (int i = 0; i < c.rope_dim / 2; ++i) f.inv_freq.push_back(std::pow(10000.0f, -2.0f * float(i) / float(c.rope_dim)) / (1.0f + float(i % 3)));
        auto want = x;
        if (rows > 0) cpu_ops().rope(want.data(), rows, c.vecs, row_stride, c.vec_stride, c.offset, pos.data(), host_table(f), inverse);
        Guarded<float> dx(x.size());
        dx.upload(x);
        auto dpos = up(pos);
        auto dfreq = up(f.inv_freq);
        RopeParams p;
        p.x = dx.get();
        p.positions = dpos.get();
        p.inv_freq = dfreq.get();
        p.rows = rows;
        p.vecs = c.vecs;
        p.row_stride = row_stride;
        p.vec_stride = c.vec_stride;
        p.offset = c.offset;
        p.rope_dim = c.rope_dim;
        p.inverse = inverse;
        ASSERT_TRUE(rope(p, nullptr).is_ok());
        auto got = dx.download("rope");
        for (size_t i = 0; i < got.size(); ++i) {
          worst_abs = std::max(worst_abs, double(std::fabs(got[i] - want[i])));
          ASSERT_LE(std::fabs(got[i] - want[i]), 1e-5f * (1.0f + std::fabs(want[i]))) << "element " << i;
        }
        diffs += count_bit_diffs(got, want);
        total += got.size();
      }
  std::printf("[rope] max abs diff %.3g (values ~N(0,1)), %zu of %zu elements not bit-identical\n", worst_abs, diffs,
              total);
}

// ---------------- fake_quant_fp8 ----------------
TEST(LayerOps, FakeQuantFp8BitExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.FakeQuantFp8");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto grid = test::e4m3_grid();
  struct Case {
    int64_t ld, c0, n, block;
  };
  // GEMM inputs (hidden, q_lora, head dims), the KV non-rope part (448 of 512, block 64), odd.
  const Case cases[] = {{7168, 0, 7168, 128}, {4096, 0, 4096, 128}, {1536, 0, 1536, 128}, {1024, 0, 1024, 128},
                        {512, 0, 448, 64},    {576, 64, 448, 64},   {256, 0, 256, 128},   {301, 5, 290, 64}};
  for (const Case& c : cases)
    for (int64_t rows : kRows)
      for (bool bf16 : {false, true}) {
        auto x = test::boundary_rows(rng, rows, c.ld, c.c0, c.n, c.block, 448.0f, grid);
        auto want = x;
        if (rows > 0) cpu_ops().fake_quant_fp8(want.data(), rows, c.ld, c.c0, c.n, c.block, bf16);
        Guarded<float> dx(x.size());
        dx.upload(x);
        FakeQuantFp8Params p;
        p.x = dx.get();
        p.rows = rows;
        p.ld = c.ld;
        p.c0 = c.c0;
        p.n = c.n;
        p.block = c.block;
        p.bf16_out = bf16;
        ASSERT_TRUE(fake_quant_fp8(p, nullptr).is_ok());
        test::expect_bitwise(dx.download("fp8"), want,
                             "fake_quant_fp8 n=" + std::to_string(c.n) + " rows=" + std::to_string(rows) +
                                 (bf16 ? " bf16" : " fp32"),
                             &x);
      }
}

// ---------------- fake_quant_nvfp4 ----------------
TEST(LayerOps, FakeQuantNvfp4BitExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.FakeQuantNvfp4");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto grid = test::e2m1_grid();
  for (int64_t n : {7168, 4096, 2048, 3072, 37})
    for (int64_t rows : kRows)
      for (float input_scale : {1.0f, 0.0123f, 3.7e-5f, 1e30f}) {
        auto x = test::boundary_rows(rng, rows, n, 0, n, 16, 6.0f * 448.0f * input_scale, grid);
        auto want = x;
        if (rows > 0) cpu_ops().fake_quant_nvfp4(want.data(), rows, n, input_scale);
        Guarded<float> dx(x.size());
        dx.upload(x);
        FakeQuantNvfp4Params p;
        p.x = dx.get();
        p.rows = rows;
        p.n = n;
        p.input_scale = input_scale;
        ASSERT_TRUE(fake_quant_nvfp4(p, nullptr).is_ok());
        test::expect_bitwise(dx.download("nvfp4"), want,
                             "nvfp4 n=" + std::to_string(n) + " rows=" + std::to_string(rows) + " s=" +
                                 std::to_string(input_scale),
                             &x);
      }
}

// ---------------- hadamard_fp4 ----------------
TEST(LayerOps, HadamardFp4BitExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.HadamardFp4");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto grid = test::e2m1_grid();
  for (int64_t n : {128, 32, 64, 256, 512, 1024})
    for (int64_t rows : {int64_t(0), int64_t(1), int64_t(3), int64_t(127), int64_t(513), int64_t(64 * 33)}) {
      if (n != 128 && rows > 513) continue;
      auto x = test::boundary_rows(rng, rows, n, 0, n, 32, 6.0f, grid);
      auto want = x;
      if (rows > 0) cpu_ops().hadamard_fp4(want.data(), rows, n);
      Guarded<float> dx(x.size());
      dx.upload(x);
      HadamardFp4Params p;
      p.x = dx.get();
      p.rows = rows;
      p.n = n;
      ASSERT_TRUE(hadamard_fp4(p, nullptr).is_ok());
      test::expect_bitwise(dx.download("hadamard"), want,
                           "hadamard_fp4 n=" + std::to_string(n) + " rows=" + std::to_string(rows), &x);
    }
}

// ---------------- swiglu ----------------
TEST(LayerOps, SwigluMatchesCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.Swiglu");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  double worst = 0;
  size_t diffs = 0, total = 0;
  for (int64_t I : {2048, 3072, 256, 7})
    for (int64_t M : kRows)
      for (int variant = 0; variant < 3; ++variant) {  // 0: limit 10 + row weight, 1: no limit, alias h = g, 2: limit, no weight
        auto g = test::randn(rng, size_t(M * I), 6.0f), u = test::randn(rng, size_t(M * I), 6.0f);
        if (!g.empty()) g[0] = -200.0f;  // exp(200) overflows to inf: silu -> -0
        auto rw = test::randn(rng, size_t(M));
        const float limit = variant == 1 ? 0.0f : 10.0f;
        const float* rwp = variant == 0 ? rw.data() : nullptr;
        std::vector<float> want(g.size());
        if (M > 0) cpu_ops().swiglu(g.data(), u.data(), M, I, limit, rwp, want.data());
        auto dg = up(g), du = up(u), drw = up(rw);
        Guarded<float> dh(g.size());
        SwigluParams p;
        p.g = dg.get();
        p.u = du.get();
        p.row_weight = variant == 0 ? drw.get() : nullptr;
        p.h = variant == 1 ? dg.get() : dh.get();
        p.M = M;
        p.I = I;
        p.limit = limit;
        ASSERT_TRUE(swiglu(p, nullptr).is_ok());
        auto got = variant == 1 ? dg.download("swiglu") : dh.download("swiglu");
        worst = std::max(worst, test::expect_close(got, want, 1e-6, 1e-30, "swiglu I=" + std::to_string(I)));
        diffs += count_bit_diffs(got, want);
        total += got.size();
      }
  std::printf("[swiglu] max rel diff %.3g, %zu of %zu elements not bit-identical\n", worst, diffs, total);
}

// ---------------- embed ----------------
TEST(LayerOps, EmbedBitExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.Embed");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t vocab = 1000;
  for (int64_t d : {4096, 7168, 256, 12})
    for (int64_t T : kRows) {
      const int n = 4;
      std::vector<uint16_t> table(size_t(vocab * d));
      for (auto& b : table) b = uint16_t(rng());
      std::vector<int64_t> ids(static_cast<size_t>(T));
      for (auto& v : ids) v = int64_t(rng() % uint64_t(vocab));
      if (T > 2) ids[1] = vocab - 1;
      std::vector<float> want(size_t(T * n * d));
      for (int64_t t = 0; t < T; ++t)
        for (int j = 0; j < n; ++j)
          for (int64_t c = 0; c < d; ++c) want[size_t((t * n + j) * d + c)] = bf16_to_f32(table[size_t(ids[size_t(t)] * d + c)]);
      auto dt = up(table);
      auto di = up(ids);
      Guarded<float> dx(want.size());
      EmbedParams p;
      p.table = dt.get();
      p.ids = di.get();
      p.X = dx.get();
      p.T = T;
      p.vocab = vocab;
      p.d = d;
      p.n = n;
      ASSERT_TRUE(embed(p, nullptr).is_ok());
      auto got = dx.download("embed");
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(test::bitsf(got[i]), test::bitsf(want[i])) << "embed d=" << d << " element " << i;
    }
}

// ---------------- add ----------------
TEST(LayerOps, AddBitExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.Add");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(3), int64_t(4096), int64_t(513 * 7168), int64_t(1001)})
    for (float alpha : {1.0f, -0.37f}) {
      auto y = test::randn(rng, size_t(n)), x = test::randn(rng, size_t(n));
      auto want = y;
      for (size_t i = 0; i < want.size(); ++i) want[i] += alpha * x[i];  // CpuOps::add
      auto dy = up(y), dx = up(x);
      AddParams p;
      p.y = dy.get();
      p.x = dx.get();
      p.n = n;
      p.alpha = alpha;
      ASSERT_TRUE(add(p, nullptr).is_ok());
      test::expect_bitwise(dy.download("add"), want, "add n=" + std::to_string(n));
    }
}

}  // namespace
}  // namespace dsv4::cuda
