// compress_pool, indexer_scores + topk_indices, sparse_attention against naive formulas, with the
// edge cases: fewer tokens than one window, exactly at a window boundary, top-k larger than the
// visible entries, all-masked rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/error.h"
#include "op_test_util.h"

namespace dsv4::test {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> naive_pool(const std::vector<float>& kv, const std::vector<float>& gate,
                               const std::vector<float>& ape, int64_t S, int64_t c, int64_t Dc, bool overlap) {
  const int64_t width = overlap ? 2 * Dc : Dc;
  std::vector<double> E;
  for (int64_t w = 0; w < S / c; ++w)
    for (int64_t ch = 0; ch < Dc; ++ch) {
      std::vector<double> logit, value;
      if (overlap && w > 0)
        for (int64_t s = 0; s < c; ++s) {
          logit.push_back(double(gate[size_t(((w - 1) * c + s) * width + ch)]) + double(ape[size_t(s * width + ch)]));
          value.push_back(kv[size_t(((w - 1) * c + s) * width + ch)]);
        }
      const int64_t off = overlap ? Dc : 0;
      for (int64_t s = 0; s < c; ++s) {
        logit.push_back(double(gate[size_t((w * c + s) * width + off + ch)]) + double(ape[size_t(s * width + off + ch)]));
        value.push_back(kv[size_t((w * c + s) * width + off + ch)]);
      }
      const double mx = *std::max_element(logit.begin(), logit.end());
      double den = 0, num = 0;
      for (size_t i = 0; i < logit.size(); ++i) {
        den += std::exp(logit[i] - mx);
        num += std::exp(logit[i] - mx) * value[i];
      }
      E.push_back(num / den);
    }
  return E;
}

TEST(CpuCompressor, PoolOverlappingAndPlainAtEveryLength) {
  const uint64_t seed = fresh_seed("compress_pool");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (bool overlap : {true, false}) {
    const int64_t c = overlap ? 4 : 16, Dc = 24, width = overlap ? 2 * Dc : Dc;
    for (int64_t S : {int64_t(1), c - 1, c, c + 1, 2 * c, 3 * c + 2, 5 * c}) {
      std::vector<float> kv = rng.normals(size_t(S * width)), gate = rng.normals(size_t(S * width), 2.0f);
      std::vector<float> ape = rng.normals(size_t(c * width), 0.5f);
      std::vector<float> E(size_t((S / c) * Dc), 7.0f);
      ops().compress_pool(kv.data(), gate.data(), ape.data(), S, int(c), Dc, overlap, E.data());
      EXPECT_TRUE(close(E, naive_pool(kv, gate, ape, S, c, Dc, overlap), 1e-5)) << "overlap=" << overlap << " S=" << S;
    }
  }
}

TEST(CpuIndexer, ScoresMaskAndTopk) {
  const uint64_t seed = fresh_seed("indexer");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  const int64_t S = 23, nh = 3, hd = 16, Ne = S / 4;
  std::vector<int64_t> pos(static_cast<size_t>(S));
  for (int64_t t = 0; t < S; ++t) pos[size_t(t)] = t;
  std::vector<float> q = rng.normals(size_t(S * nh * hd)), w = rng.normals(size_t(S * nh));
  std::vector<float> keys = rng.normals(size_t(Ne * hd));
  std::vector<float> score(size_t(S * Ne));
  ops().indexer_scores(q.data(), w.data(), keys.data(), S, nh, hd, Ne, pos.data(), 4, score.data());
  std::vector<double> want;
  for (int64_t t = 0; t < S; ++t)
    for (int64_t e = 0; e < Ne; ++e) {
      if (e >= (t + 1) / 4) {
        want.push_back(-kInf);
        continue;
      }
      double acc = 0;
      for (int64_t h = 0; h < nh; ++h) {
        double qk = 0;
        for (int64_t i = 0; i < hd; ++i) qk += double(q[size_t((t * nh + h) * hd + i)]) * double(keys[size_t(e * hd + i)]);
        acc += double(w[size_t(t * nh + h)]) * std::max(qk, 0.0);
      }
      want.push_back(acc);
    }
  EXPECT_TRUE(close(score, want, 1e-5));

  // k = 4 is larger than the visible count of early rows (and rows t < 3 see nothing: all -1).
  const int64_t k = 4;
  std::vector<int32_t> sel(size_t(S * k));
  ops().topk_indices(score.data(), S, Ne, k, sel.data());
  for (int64_t t = 0; t < S; ++t) {
    const int64_t visible = (t + 1) / 4;
    std::vector<int64_t> order;
    for (int64_t e = 0; e < visible; ++e) order.push_back(e);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return want[size_t(t * Ne + a)] > want[size_t(t * Ne + b)]; });
    std::multiset<int32_t> expect, got(sel.begin() + t * k, sel.begin() + (t + 1) * k);
    for (int64_t j = 0; j < k; ++j) expect.insert(j < int64_t(order.size()) ? int32_t(order[size_t(j)]) : -1);
    EXPECT_EQ(got, expect) << "row " << t;
    for (int64_t j = 0; j + 1 < k; ++j)  // descending score order among the valid ones
      if (sel[size_t(t * k + j + 1)] >= 0) {
        EXPECT_GE(score[size_t(t * Ne + sel[size_t(t * k + j)])], score[size_t(t * Ne + sel[size_t(t * k + j + 1)])]);
      }
  }
}

TEST(CpuAttention, SinkSoftmaxOverGatheredKeys) {
  const uint64_t seed = fresh_seed("sparse_attention");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  const int64_t S = 9, H = 3, D = 40, Nk = 30, kw = 12;
  std::vector<float> q = rng.normals(size_t(S * H * D)), keys = rng.normals(size_t(Nk * D));
  std::vector<float> sink = rng.normals(size_t(H));
  std::vector<int32_t> idx(size_t(S * kw));
  for (int64_t t = 0; t < S; ++t)
    for (int64_t j = 0; j < kw; ++j)
      idx[size_t(t * kw + j)] = (t == 2 || rng.integer(0, 3) == 0) ? -1 : int32_t(rng.integer(0, Nk - 1));  // row 2: all masked
  const float scale = 1.0f / std::sqrt(float(D));
  std::vector<float> out(size_t(S * H * D), 5.0f);
  ops().sparse_attention(q.data(), keys.data(), idx.data(), sink.data(), S, H, D, Nk, kw, scale, out.data());
  std::vector<double> want;
  for (int64_t t = 0; t < S; ++t)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> s;
      std::vector<int32_t> ids;
      for (int64_t j = 0; j < kw; ++j) {
        const int32_t id = idx[size_t(t * kw + j)];
        if (id < 0) continue;
        double dot = 0;
        for (int64_t c = 0; c < D; ++c) dot += double(q[size_t((t * H + h) * D + c)]) * double(keys[size_t(id * D + c)]);
        s.push_back(dot * double(scale));
        ids.push_back(id);
      }
      double den = std::exp(double(sink[size_t(h)]));
      for (double v : s) den += std::exp(v);
      for (int64_t c = 0; c < D; ++c) {
        double acc = 0;
        for (size_t j = 0; j < s.size(); ++j) acc += std::exp(s[j]) / den * double(keys[size_t(ids[j] * D + c)]);
        want.push_back(acc);  // all-masked rows: 0
      }
    }
  EXPECT_TRUE(close(out, want, 1e-5));
  std::vector<int32_t> bad = idx;
  bad[0] = int32_t(Nk);
  EXPECT_THROW(ops().sparse_attention(q.data(), keys.data(), bad.data(), sink.data(), S, H, D, Nk, kw, scale, out.data()),
               Error);
}

}  // namespace
}  // namespace dsv4::test
