// GPU layer ops against the CPU ops, part 2: mHC (hc_pre / hc_post / hc_head), the MoE router,
// top-k indices and compressor pooling. Same conventions as layer_ops_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/sm90/layer_ops/compress_pool.h"
#include "backends/cuda/sm90/layer_ops/hyper_connection.h"
#include "backends/cuda/sm90/layer_ops/route.h"
#include "backends/cuda/sm90/layer_ops/topk_indices.h"
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

const int64_t kRows[] = {0, 1, 3, 127, 513};

TEST(LayerOpsStatus, MixBadParamsAreRejected) {
  HcPreParams hp;
  hp.S = 1;
  hp.d = 4096;
  hp.n = 3;
  EXPECT_FALSE(check_hc_pre(hp));
  hp.n = 4;
  hp.d = 30;
  EXPECT_FALSE(check_hc_pre(hp));
  hp.d = 4096;
  EXPECT_FALSE(check_hc_pre(hp));  // null pointers
  HcPostParams pp;
  pp.S = 1;
  pp.d = 6;
  EXPECT_FALSE(check_hc_post(pp));
  RouteParams rp;
  rp.S = 1;
  rp.E = 16;
  rp.k = 17;
  EXPECT_FALSE(check_route(rp));
  rp.k = 6;
  rp.E = 2000;
  EXPECT_FALSE(check_route(rp));
  TopkIndicesParams tp;
  tp.S = 1;
  tp.Ne = 10;
  tp.k = 11;
  EXPECT_FALSE(check_topk_indices(tp));
  tp.Ne = 5000;
  tp.k = 2048;
  EXPECT_FALSE(check_topk_indices(tp));
  DenseCompressPoolParams cp;
  cp.ratio = 0;
  EXPECT_FALSE(check_compress_pool(cp));
  EXPECT_GT(hc_pre_workspace_bytes(4, 4096), 0u);
}

// ---------------- mHC ----------------
struct HcData {
  std::vector<float> X, fn, scale, base, fnh, scaleh, baseh, f;
};

HcData hc_data(std::mt19937_64& rng, int64_t S, int64_t d) {
  const int n = 4, mix = (2 + n) * n;
  HcData h;
  h.X = test::randn(rng, size_t(S * n * d));
  h.fn = test::randn(rng, size_t(mix * n * d), 0.01f);
  h.scale = {0.8f, 0.5f, 1.3f};
  h.base = test::randn(rng, size_t(mix), 0.5f);
  h.fnh = test::randn(rng, size_t(n * n * d), 0.01f);
  h.scaleh = {0.9f};
  h.baseh = test::randn(rng, size_t(n), 0.5f);
  h.f = test::randn(rng, size_t(S * d));
  return h;
}

struct HcOut {
  std::vector<float> a_in, post, comb, y;
};

HcOut run_hc_gpu(const HcData& h, int64_t S, int64_t d, bool parallel_sinkhorn = false) {
  auto dX = up(h.X), dfn = up(h.fn), dsc = up(h.scale), dba = up(h.base);
  auto dfnh = up(h.fnh), dsch = up(h.scaleh), dbah = up(h.baseh);
  Guarded<float> da(size_t(S * d)), dpost(size_t(S * 4)), dcomb(size_t(S * 16)), dy(size_t(S * d));
  Guarded<uint8_t> ws(std::max(hc_pre_workspace_bytes(S, d), hc_head_workspace_bytes(S, d)));
  HcPreParams p;
  p.X = dX.get();
  p.fn = dfn.get();
  p.scale = dsc.get();
  p.base = dba.get();
  p.a_in = da.get();
  p.post = dpost.get();
  p.comb = dcomb.get();
  p.workspace = ws.get();
  p.workspace_bytes = ws.size();
  p.S = S;
  p.d = d;
  p.parallel_sinkhorn = parallel_sinkhorn;
  EXPECT_TRUE(hc_pre(p, nullptr).is_ok());
  HcHeadParams q;
  q.X = dX.get();
  q.fn = dfnh.get();
  q.scale = dsch.get();
  q.base = dbah.get();
  q.y = dy.get();
  q.workspace = ws.get();
  q.workspace_bytes = ws.size();
  q.S = S;
  q.d = d;
  EXPECT_TRUE(hc_head(q, nullptr).is_ok());
  HcOut o;
  o.a_in = da.download("hc_pre a_in");
  o.post = dpost.download("hc_pre post");
  o.comb = dcomb.download("hc_pre comb");
  o.y = dy.download("hc_head y");
  return o;
}

TEST(LayerOps, HcPrePostHeadMatchCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.Hc");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  double w_a = 0, w_post = 0, w_comb = 0, w_y = 0, w_xo = 0;
  for (int64_t d : {256, 4096, 7168})
    for (int64_t S : kRows) {
      if (d == 7168 && S == 513) continue;  // CPU time; 127 covers it
      HcShape hc;
      hc.n = 4;
      hc.d = d;
      HcData h = hc_data(rng, S, d);
      HcOut want;
      want.a_in.resize(size_t(S * d));
      want.post.resize(size_t(S * 4));
      want.comb.resize(size_t(S * 16));
      want.y.resize(size_t(S * d));
      if (S > 0) {
        cpu_ops().hc_pre(h.X.data(), S, hc, h.fn.data(), h.scale.data(), h.base.data(), want.a_in.data(),
                         want.post.data(), want.comb.data());
        cpu_ops().hc_head(h.X.data(), S, hc, h.fnh.data(), h.scaleh.data(), h.baseh.data(), want.y.data());
      }
      HcOut got = run_hc_gpu(h, S, d);
      const std::string tag = " d=" + std::to_string(d) + " S=" + std::to_string(S);
      // a_in and y are sums of n terms weighted by coefficients that carry the fp32 rounding of the
      // n·d-long dot products (GPU and CPU sum in different orders: ~1e-6 absolute on the
      // coefficients); an element near 0 is a cancellation, so these compare row-normwise.
      w_a = std::max(w_a, test::expect_close_rowwise(got.a_in, want.a_in, size_t(d), 1e-5, "a_in" + tag));
      w_post = std::max(w_post, test::expect_close(got.post, want.post, 1e-5, 1e-6, "post" + tag));
      // comb is doubly stochastic (rows and columns sum to 1): its error scale is 1, so small
      // entries are compared with a floor of 1e-2 (1e-7 absolute), not relative to themselves
      // (a 1.3e-3 entry once differed by 1.4e-8 = 1.06e-5 relative, run 10 on the H200).
      w_comb = std::max(w_comb, test::expect_close(got.comb, want.comb, 1e-5, 1e-2, "comb" + tag));
      w_y = std::max(w_y, test::expect_close_rowwise(got.y, want.y, size_t(d), 1e-5, "hc_head" + tag));
      // hc_post on the CPU's post/comb
      std::vector<float> xo(size_t(S * 4 * d));
      if (S > 0) cpu_ops().hc_post(h.f.data(), h.X.data(), want.post.data(), want.comb.data(), S, hc, xo.data());
      auto df = up(h.f), dX = up(h.X), dp = up(want.post), dc = up(want.comb);
      Guarded<float> dxo(xo.size());
      HcPostParams pp;
      pp.f = df.get();
      pp.X = dX.get();
      pp.post = dp.get();
      pp.comb = dc.get();
      pp.Xout = dxo.get();
      pp.S = S;
      pp.d = d;
      ASSERT_TRUE(hc_post(pp, nullptr).is_ok());
      auto gxo = dxo.download("hc_post");
      w_xo = std::max(w_xo, test::expect_close(gxo, xo, 1e-6, 1e-30, "hc_post" + tag));
      size_t diffs = 0;
      for (size_t i = 0; i < xo.size(); ++i) diffs += test::bitsf(gxo[i]) != test::bitsf(xo[i]);
      EXPECT_EQ(diffs, 0u) << "hc_post is the CPU's fp32 steps: bit-exact expected" << tag;
    }
  std::printf("[hc] max diff: a_in %.3g (of row max), post %.3g (rel), comb %.3g (rel), hc_head %.3g (of row max), hc_post %.3g (rel)\n", w_a, w_post, w_comb,
              w_y, w_xo);
}

TEST(LayerOps, HcPreIsBatchIndependent) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.HcBatch");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const int64_t d = 4096, S = 513;
  HcData h = hc_data(rng, S, d);
  HcOut all = run_hc_gpu(h, S, d);
  for (int64_t r : {int64_t(0), int64_t(200), int64_t(512)}) {
    HcData one = h;
    one.X.assign(h.X.begin() + r * 4 * d, h.X.begin() + (r + 1) * 4 * d);
    HcOut o = run_hc_gpu(one, 1, d);
    for (int64_t c = 0; c < d; ++c)
      ASSERT_EQ(test::bitsf(o.a_in[size_t(c)]), test::bitsf(all.a_in[size_t(r * d + c)])) << "row " << r;
    for (int i = 0; i < 16; ++i) ASSERT_EQ(test::bitsf(o.comb[size_t(i)]), test::bitsf(all.comb[size_t(r * 16 + i)]));
    for (int64_t c = 0; c < d; ++c) ASSERT_EQ(test::bitsf(o.y[size_t(c)]), test::bitsf(all.y[size_t(r * d + c)]));
  }
}

TEST(LayerOps, HcPreParallelSinkhornSameBits) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.HcParallel");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int64_t d : {256, 4096})
    for (int64_t S : {int64_t(1), int64_t(3), int64_t(127)}) {
      HcData h = hc_data(rng, S, d);
      HcOut a = run_hc_gpu(h, S, d, false), b = run_hc_gpu(h, S, d, true);
      test::expect_bitwise(b.a_in, a.a_in, "parallel sinkhorn a_in");
      test::expect_bitwise(b.post, a.post, "parallel sinkhorn post");
      test::expect_bitwise(b.comb, a.comb, "parallel sinkhorn comb");
    }
}

// ---------------- route ----------------
TEST(LayerOps, RouteMatchesCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.Route");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  double w_sc = 0, w_w = 0;
  size_t sc_bits = 0, sc_total = 0;
  const int64_t vocab = 500, k = 6;
  for (int64_t E : {256, 384, 16})
    for (int64_t S : kRows)
      for (int mode = 0; mode < 3; ++mode) {  // 0: bias, 1: no bias, 2: hash
        auto logits = test::randn(rng, size_t(S * E), 2.0f);
        for (int64_t t = 0; t < S; t += 3)  // ties: a token with logits on a coarse grid
          for (int64_t e = 0; e < E; ++e) logits[size_t(t * E + e)] = float(int(logits[size_t(t * E + e)] * 2)) * 0.5f;
        if (S > 0) logits[0] = 30.0f;  // softplus threshold branch
        auto bias = test::randn(rng, size_t(E), 0.1f);
        std::vector<int64_t> table(static_cast<size_t>(vocab * k)), tok(static_cast<size_t>(S)), fixed(static_cast<size_t>(S * k));
        for (auto& v : table) v = int64_t(rng() % uint64_t(E));
        for (auto& v : tok) v = int64_t(rng() % uint64_t(vocab));
        for (int64_t t = 0; t < S; ++t)
          for (int64_t j = 0; j < k; ++j) fixed[size_t(t * k + j)] = table[size_t(tok[size_t(t)] * k + j)];
        std::vector<float> sc(size_t(S * E)), wts(size_t(S * k));
        std::vector<int32_t> ids(size_t(S * k));
        if (S > 0)
          cpu_ops().route(logits.data(), S, E, k, mode == 0 ? bias.data() : nullptr, mode == 2 ? table.data() : nullptr,
                          mode == 2 ? tok.data() : nullptr, vocab, 1.5f, sc.data(), ids.data(), wts.data());
        auto dl = up(logits), db = up(bias);
        auto dt = up(table), dtok = up(tok);
        Guarded<float> dsc(sc.size()), dw(wts.size());
        Guarded<int32_t> dids(ids.size());
        RouteParams p;
        p.logits = dl.get();
        p.bias = mode == 0 ? db.get() : nullptr;
        p.tid2eid = mode == 2 ? dt.get() : nullptr;
        p.token_ids = mode == 2 ? dtok.get() : nullptr;
        p.vocab = vocab;
        p.S = S;
        p.E = E;
        p.k = k;
        p.route_scale = 1.5f;
        p.scores = dsc.get();
        p.ids = dids.get();
        p.weights = dw.get();
        ASSERT_TRUE(route(p, nullptr).is_ok());
        const std::string tag = "route E=" + std::to_string(E) + " S=" + std::to_string(S) + " mode " + std::to_string(mode);
        auto gids = dids.download("ids");
        for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(gids[i], ids[i]) << tag << " id " << i;
        auto gsc = dsc.download("scores");
        w_sc = std::max(w_sc, test::expect_close(gsc, sc, 1e-6, 1e-30, tag + " scores"));
        w_w = std::max(w_w, test::expect_close(dw.download("weights"), wts, 1e-6, 1e-30, tag + " weights"));
        for (size_t i = 0; i < sc.size(); ++i) sc_bits += test::bitsf(gsc[i]) != test::bitsf(sc[i]);
        sc_total += sc.size();
      }
  std::printf("[route] ids exact; max rel diff scores %.3g, weights %.3g; %zu of %zu scores not bit-identical\n", w_sc,
              w_w, sc_bits, sc_total);
}

// ---------------- topk_indices ----------------
TEST(LayerOps, TopkIndicesMatchCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.Topk");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  struct Case {
    int64_t S, Ne, k;
  };
  const Case cases[] = {{3, 262144, 1024}, {2, 262144, 512}, {5, 100003, 1024}, {127, 4096, 512}, {513, 2048, 16},
                        {1, 16, 16},       {3, 1024, 1024},  {0, 64, 8},        {4, 10, 0},        {64, 8192, 1000}};
  const float ninf = -std::numeric_limits<float>::infinity();
  for (const Case& c : cases)
    for (int pattern = 0; pattern < 4; ++pattern) {
      // 0: random; 1: causal -inf tail (visible prefix per row); 2: heavy ties (few levels, ±0);
      // 3: mostly -inf (fewer visible than k)
      std::vector<float> s(size_t(c.S * c.Ne));
      std::normal_distribution<float> nd;
      for (int64_t t = 0; t < c.S; ++t) {
        const int64_t visible = pattern == 1 ? int64_t(rng() % uint64_t(c.Ne + 1))
                                             : (pattern == 3 ? int64_t(rng() % uint64_t(c.k + 1)) : c.Ne);
        for (int64_t w = 0; w < c.Ne; ++w) {
          float v = nd(rng);
          if (pattern == 2) v = float(int(v * 2.0f)) * 0.5f * ((rng() & 1) ? 1.f : -1.f);  // includes -0
          s[size_t(t * c.Ne + w)] = w < visible ? v : ninf;
        }
      }
      std::vector<int32_t> want(size_t(c.S * c.k));
      if (c.S > 0) cpu_ops().topk_indices(s.data(), c.S, c.Ne, c.k, want.data());
      auto ds = up(s);
      for (bool batched : {false, true}) {
        Guarded<int32_t> dsel(want.size());
        TopkIndicesParams p;
        p.score = ds.get();
        p.sel = dsel.get();
        p.S = c.S;
        p.Ne = c.Ne;
        p.k = c.k;
        p.batched_loads = batched;
        ASSERT_TRUE(topk_indices(p, nullptr).is_ok());
        auto got = dsel.download("topk");
        for (size_t i = 0; i < want.size(); ++i)
          ASSERT_EQ(got[i], want[i]) << "topk S=" << c.S << " Ne=" << c.Ne << " k=" << c.k << " pattern " << pattern
                                     << (batched ? " batched" : "") << " at row " << int64_t(i) / c.k << " rank "
                                     << int64_t(i) % c.k;
      }
    }
}

// ---------------- compress_pool ----------------
TEST(LayerOps, CompressPoolMatchesCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("LayerOps.CompressPool");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  double worst = 0;
  struct Case {
    int ratio;
    int64_t Dc;
    bool overlap;
  };
  const Case cases[] = {{4, 512, true}, {4, 128, true}, {128, 512, false}, {3, 7, false}, {2, 5, true}};
  for (const Case& c : cases)
    for (int64_t S : {int64_t(0), int64_t(1), int64_t(3), int64_t(127), int64_t(513), int64_t(1024)}) {
      const int64_t width = c.overlap ? 2 * c.Dc : c.Dc;
      auto kv = test::randn(rng, size_t(S * width)), gate = test::randn(rng, size_t(S * width), 2.0f);
      auto ape = test::randn(rng, size_t(c.ratio * width));
      const int64_t entries = S / c.ratio;
      std::vector<float> want(size_t(entries * c.Dc));
      if (entries > 0) cpu_ops().compress_pool(kv.data(), gate.data(), ape.data(), S, c.ratio, c.Dc, c.overlap, want.data());
      auto dkv = up(kv), dg = up(gate), da = up(ape);
      Guarded<float> dE(want.size());
      DenseCompressPoolParams p;
      p.kv = dkv.get();
      p.gate = dg.get();
      p.ape = da.get();
      p.E = dE.get();
      p.S = S;
      p.Dc = c.Dc;
      p.ratio = c.ratio;
      p.overlap = c.overlap;
      ASSERT_TRUE(compress_pool(p, nullptr).is_ok());
      // E is a softmax-weighted mean of kv ~N(0, 1): floor 0.01 for the elements near 0 (cancellation).
      worst = std::max(worst, test::expect_close(dE.download("compress_pool"), want, 1e-5, 1e-2,
                                                 "compress_pool ratio " + std::to_string(c.ratio)));
    }
  std::printf("[compress_pool] max rel diff %.3g\n", worst);
}

}  // namespace
}  // namespace dsv4::cuda
