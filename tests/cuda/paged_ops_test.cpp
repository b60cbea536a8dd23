// The CUDA paged ops (backends/cuda/sm90/paged/) against the CPU reference (backends/cpu/cpu_paged.h):
// codecs bit-exact on the host (no GPU needed), Status errors, and on the device: stores bitwise
// (the whole pool), loads bitwise, pooling and attention to relative 1e-5, the indexer's selection
// exactly (same slots, same order) with bit-identical scores; real Flash / Pro / golden-a shapes,
// contexts from 1 to 64K tokens (and 1M for the indexer and HCA attention), NaN agreement, 256
// guard bytes around every output, batch independence of the attention.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "backends/cpu/cpu_paged.h"
#include "backends/cuda/sm90/paged/compress_pool.h"
#include "backends/cuda/sm90/paged/gather_rows.h"
#include "backends/cuda/sm90/paged/indexer_topk.h"
#include "backends/cuda/sm90/paged/kv_store.h"
#include "backends/cuda/sm90/paged/paged_attention.h"
#include "backends/cuda/sm90/paged/paged_codec.h"
#include "backends/ops.h"
#include "core/dtype.h"
#include "core/quant.h"
#include "cuda/cuda_test_support.h"
#include "support/test_support.h"

namespace dsv4::cuda {
namespace {

using test::DeviceBuffer;
constexpr size_t kGuard = 256;
constexpr uint8_t kPoison = 0xA5;
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Rng {
  explicit Rng(uint64_t s) : gen(s) {}
  std::mt19937_64 gen;
  float normal(float sd = 1.0f) { return std::normal_distribution<float>(0.0f, sd)(gen); }
  int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen); }
  std::vector<float> normals(size_t n, float sd = 1.0f) {
    std::vector<float> v(n);
    for (auto& x : v) x = normal(sd);
    return v;
  }
};

bool same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || f32_bits(a) == f32_bits(b); }

// ---------------------------------------------------------------- host: codecs

TEST(CudaPagedCodec, EncodersMatchCore) {
  // A sweep of bit patterns (every 4099th, plus the neighbourhoods of the format boundaries).
  std::vector<uint32_t> pats;
  for (uint64_t u = 0; u <= 0xFFFFFFFFull; u += 4099) pats.push_back(uint32_t(u));
  for (float c : {448.0f, 464.0f, 480.0f, 0x1p-6f, 0x1p-9f, 0x1p-10f, 6.0f, 5.0f, 1.0f, 0.25f, 0.75f, 1.0e-4f})
    for (int d = -70; d <= 70; ++d) {
      pats.push_back(f32_bits(c) + uint32_t(d));
      pats.push_back((f32_bits(c) + uint32_t(d)) | 0x80000000u);
    }
  for (uint32_t u : pats) {
    const float x = f32_from_bits(u);
    ASSERT_EQ(paged::enc_e4m3(x), f32_to_e4m3(x)) << std::hex << u;
    ASSERT_EQ(paged::enc_e2m1(x), f32_to_e2m1(x)) << std::hex << u;
    ASSERT_EQ(paged::enc_bf16(x), f32_to_bf16(x)) << std::hex << u;
    if (std::isfinite(x) && x > 0) {
      ASSERT_EQ(f32_bits(paged::fp8_scale(x)), f32_bits(fp8_block_scale(x))) << std::hex << u;
      ASSERT_EQ(f32_bits(paged::fp4_scale(x)), f32_bits(fp4_block_scale(x))) << std::hex << u;
    }
  }
  for (int c = 0; c < 256; ++c) ASSERT_TRUE(same(paged::dec_e4m3(uint8_t(c)), e4m3_to_f32(uint8_t(c)))) << c;
  for (int c = 0; c < 16; ++c) ASSERT_TRUE(same(paged::dec_e2m1(uint32_t(c)), e2m1_to_f32(uint8_t(c)))) << c;
  for (int b = 0; b < 255; ++b) ASSERT_EQ(f32_bits(paged::scale_value(uint8_t(b))), f32_bits(e8m0_to_f32(uint8_t(b)))) << b;
  ASSERT_EQ(paged::scale_value(255), kInf);
}

// ---------------------------------------------------------------- host: Status errors

TEST(CudaPagedStatus, BadParams) {
  float f[4] = {};
  int32_t slots[1] = {0};
  alignas(16) uint8_t pool[1024];
  KvStoreParams ks{f, slots, 1, 512, 64, KvFormat::Fp8Ds, pool, 1};
  EXPECT_TRUE(check_kv_store(ks));
  ks.rope_dim = 63;
  EXPECT_FALSE(check_kv_store(ks));
  ks.rope_dim = 32;  // nope 480 not a multiple of 64
  EXPECT_FALSE(check_kv_store(ks));
  ks.rope_dim = 64;
  ks.pool = pool + 4;
  EXPECT_FALSE(check_kv_store(ks));
  ks.pool = nullptr;
  EXPECT_FALSE(check_kv_store(ks));
  ks.n = 0;
  EXPECT_TRUE(check_kv_store(ks));
  KeyStoreParams kk{f, slots, 1, 100, KeyFormat::Mxfp4, pool, 1};
  EXPECT_FALSE(check_key_store(kk));
  KeyLoadParams kl{pool, slots, -1, 128, KeyFormat::F32, f, 1};
  EXPECT_FALSE(check_key_load(kl));
  CompressPoolParams cp;
  cp.n_emit = 1, cp.ratio = 0, cp.Dc = 8;
  EXPECT_FALSE(check_compress_pool_paged(cp));
  IndexerTopkParams ip;
  ip.T = 1, ip.nh = 64, ip.hd = 128, ip.topk = 4096, ip.max_visible = 10;
  EXPECT_FALSE(check_indexer_topk(ip));
  ip.topk = 512, ip.hd = 96;
  EXPECT_FALSE(check_indexer_topk(ip));
  PagedAttentionParams ap;
  ap.T = 1, ap.H = 64, ap.D = 500, ap.rope_dim = 64;
  EXPECT_FALSE(check_paged_attention(ap));
  ap.D = 512, ap.q = f, ap.sink = f, ap.out = f, ap.Wn = 128, ap.win = slots;
  const Status st = check_paged_attention(ap);  // no scratch
  EXPECT_FALSE(st);
  EXPECT_NE(st.message().find("scratch"), std::string::npos) << st.message();
  EXPECT_EQ(paged_attention_scratch_bytes(2, 64, 512, 128, 512), size_t(2) * 64 * 10 * 514 * 4);
  EXPECT_EQ(indexer_topk_scratch_bytes(3, 16384), size_t(3) * 16384 * 4);
}

// ---------------------------------------------------------------- device helpers

template <typename T>
struct Dev {
  DeviceBuffer buf;
  explicit Dev(const std::vector<T>& v) : buf(v.size() * sizeof(T)) {
    if (!v.empty()) cudaMemcpy(buf.get(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  T* get() const { return reinterpret_cast<T*>(buf.get()); }
};

// An output of `bytes` framed by kGuard poisoned bytes each side (the inside poisoned too).
struct Guarded {
  DeviceBuffer buf;
  size_t bytes;
  explicit Guarded(size_t n, uint8_t inside = kPoison) : buf(n + 2 * kGuard), bytes(n) {
    cudaMemset(buf.get(), kPoison, n + 2 * kGuard);
    if (inside != kPoison) cudaMemset(buf.get() + kGuard, inside, n);
  }
  template <typename T>
  T* get() const { return reinterpret_cast<T*>(buf.get() + kGuard); }
  void upload(const void* src) { cudaMemcpy(buf.get() + kGuard, src, bytes, cudaMemcpyHostToDevice); }
  template <typename T>
  std::vector<T> download() const {
    std::vector<T> v(bytes / sizeof(T));
    cudaMemcpy(v.data(), buf.get() + kGuard, bytes, cudaMemcpyDeviceToHost);
    return v;
  }
  ::testing::AssertionResult guards_ok() const {
    std::vector<uint8_t> all(bytes + 2 * kGuard);
    cudaMemcpy(all.data(), buf.get(), all.size(), cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < kGuard; ++i)
      if (all[i] != kPoison || all[kGuard + bytes + i] != kPoison)
        return ::testing::AssertionFailure() << "guard byte " << i << " overwritten";
    return ::testing::AssertionSuccess();
  }
};

::testing::AssertionResult close_rel(const std::vector<float>& got, const std::vector<float>& want, double rtol) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "size";
  double mx = 0;
  for (float w : want)
    if (std::isfinite(w)) mx = std::max(mx, double(std::fabs(w)));
  const double tol = rtol * mx + 1e-30;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i]) || std::isnan(got[i])) {
      if (std::isnan(want[i]) != std::isnan(got[i]))
        return ::testing::AssertionFailure() << "NaN mismatch at " << i << ": got " << got[i] << " want " << want[i];
      continue;
    }
    if (!(std::fabs(double(got[i]) - double(want[i])) <= tol))
      return ::testing::AssertionFailure() << "index " << i << ": got " << got[i] << " want " << want[i] << " tol " << tol;
  }
  return ::testing::AssertionSuccess();
}

std::vector<float> varied(Rng& rng, size_t n) {
  std::vector<float> v(n);
  for (size_t b0 = 0; b0 < n; b0 += 32) {
    const int kind = int(rng.integer(0, 5));
    const float sd = kind == 0 ? 1e-7f : kind == 1 ? 0.0f : kind == 2 ? 1e30f : kind == 3 ? 3e-3f : 1.0f;
    for (size_t i = b0; i < std::min(n, b0 + 32); ++i) v[i] = rng.normal(sd);
  }
  for (size_t i = 0; i < n / 1000; ++i) v[size_t(rng.integer(0, int64_t(n) - 1))] = i % 3 == 0 ? kInf : i % 3 == 1 ? -kInf : NAN;
  return v;
}

// ---------------------------------------------------------------- stores and loads

TEST(CudaPaged, StoresAndLoadsBitExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaPaged.Stores");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (KvFormat f : {KvFormat::Fp8Ds, KvFormat::F32}) {
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000)}) {
      const int64_t D = 512, rd = 64, pool_slots = n + 50, bytes = kv_slot_bytes(f, D, rd);
      std::vector<int32_t> perm(static_cast<size_t>(pool_slots));
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng.gen);
      std::vector<int32_t> slots(perm.begin(), perm.begin() + n);
      for (int64_t i = 1; i < n; i += 5) slots[size_t(i)] = -1;
      if (n > 10) slots[3] = int32_t(pool_slots + 5);  // out of range: skipped on the device
      const auto vecs = varied(rng, size_t(n * D));
      std::vector<uint8_t> cpu_pool(size_t(pool_slots * bytes), 0x3C);
      {
        std::vector<int32_t> s2 = slots;
        if (n > 10) s2[3] = -1;
        KvStoreParams cp{vecs.data(), s2.data(), n, D, rd, f, cpu_pool.data(), pool_slots};
        cpu_kv_store(cp);
      }
      Dev<float> dv(vecs);
      Dev<int32_t> ds(slots);
      Guarded pool(cpu_pool.size(), 0x3C);
      KvStoreParams gp{dv.get(), ds.get(), n, D, rd, f, pool.get<uint8_t>(), pool_slots};
      ASSERT_TRUE(kv_store(gp, nullptr));
      DSV4_CUDA_OK(cudaDeviceSynchronize());
      ASSERT_EQ(pool.download<uint8_t>(), cpu_pool) << "format " << int(f) << " n " << n;
      ASSERT_TRUE(pool.guards_ok());
      // Loads.
      Guarded out(size_t(n * D) * 4);
      KvLoadParams lp{pool.get<uint8_t>(), ds.get(), n, D, rd, f, out.get<float>(), pool_slots};
      ASSERT_TRUE(kv_load(lp, nullptr));
      std::vector<float> want(size_t(n * D));
      std::vector<int32_t> s2 = slots;
      if (n > 10) s2[3] = -1;
      KvLoadParams clp{cpu_pool.data(), s2.data(), n, D, rd, f, want.data(), pool_slots};
      cpu_kv_load(clp);
      const auto got = out.download<float>();
      for (size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(same(got[i], want[i])) << i;
      ASSERT_TRUE(out.guards_ok());
    }
  }
  for (KeyFormat f : {KeyFormat::Mxfp4, KeyFormat::F32}) {
    for (int64_t hd : {int64_t(128), int64_t(64)}) {
      const int64_t n = 777, pool_slots = 900, bytes = key_slot_bytes(f, hd);
      std::vector<int32_t> slots(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) slots[size_t(i)] = i % 9 == 8 ? -1 : int32_t((i * 7) % pool_slots);
      auto keys = varied(rng, size_t(n * hd));
      if (hd == 128) cpu_ops().hadamard_fp4(keys.data(), n / 2, hd);  // half of them official keys
      std::vector<uint8_t> cpu_pool(size_t(pool_slots * bytes), 0x3C);
      KeyStoreParams cp{keys.data(), slots.data(), n, hd, f, cpu_pool.data(), pool_slots};
      cpu_key_store(cp);
      Dev<float> dk(keys);
      Dev<int32_t> ds(slots);
      Guarded pool(cpu_pool.size(), 0x3C);
      KeyStoreParams gp{dk.get(), ds.get(), n, hd, f, pool.get<uint8_t>(), pool_slots};
      ASSERT_TRUE(key_store(gp, nullptr));
      DSV4_CUDA_OK(cudaDeviceSynchronize());
      ASSERT_EQ(pool.download<uint8_t>(), cpu_pool);
      ASSERT_TRUE(pool.guards_ok());
      Guarded out(size_t(n * hd) * 4);
      KeyLoadParams lp{pool.get<uint8_t>(), ds.get(), n, hd, f, out.get<float>(), pool_slots};
      ASSERT_TRUE(key_load(lp, nullptr));
      std::vector<float> want(size_t(n * hd));
      KeyLoadParams clp{cpu_pool.data(), slots.data(), n, hd, f, want.data(), pool_slots};
      cpu_key_load(clp);
      const auto got = out.download<float>();
      for (size_t i = 0; i < got.size(); ++i) ASSERT_TRUE(same(got[i], want[i])) << i;
      ASSERT_TRUE(out.guards_ok());
    }
  }
}

// ---------------------------------------------------------------- gather_rows

TEST(CudaPaged, GatherRowsBitExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaPaged.GatherRows");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  // Widths: one float, odd, and one token of Flash's streams (hc 4 × 4096).
  for (int64_t W : {int64_t(1), int64_t(37), int64_t(4 * 4096)}) {
    for (int64_t n : {int64_t(0), int64_t(1), int64_t(19)}) {
      const int64_t src_rows = 23;
      const auto src = rng.normals(size_t(src_rows * W));
      std::vector<int32_t> rows(static_cast<size_t>(n));
      for (auto& r : rows) r = rng.integer(0, 4) == 0 ? -1 : int32_t(rng.integer(0, src_rows - 1));
      std::vector<float> want(size_t(n * W), 5.0f);
      cpu_ops().gather_rows({src.data(), src_rows, rows.data(), n, W, want.data()});
      Dev<float> dsrc(src);
      Dev<int32_t> drows(rows);
      Guarded out(want.size() * 4);
      ASSERT_TRUE(gather_rows({dsrc.get(), src_rows, drows.get(), n, W, out.get<float>()}, nullptr));
      cudaDeviceSynchronize();
      ASSERT_EQ(out.download<float>(), want) << "W " << W << " n " << n;
      ASSERT_TRUE(out.guards_ok());
    }
  }
  EXPECT_FALSE(gather_rows({nullptr, 3, nullptr, 2, 4, nullptr}, nullptr));
}

// ---------------------------------------------------------------- compressor

TEST(CudaPaged, CompressPoolAndRing) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaPaged.Compress");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (int ratio : {4, 128}) {
    for (int64_t Dc : {int64_t(512), int64_t(128), int64_t(7)}) {
      const bool overlap = ratio == 4;
      const int64_t W = (overlap ? 2 : 1) * Dc, L = (overlap ? 2 : 1) * ratio, T = 300, ring_rows = 5 * L;
      const int64_t n_emit = overlap ? 70 : 3;
      const auto kv = rng.normals(size_t(T * W)), gate = rng.normals(size_t(T * W), 3.0f);
      const auto rkv = rng.normals(size_t(ring_rows * W)), rgate = rng.normals(size_t(ring_rows * W), 3.0f);
      const auto ape = rng.normals(size_t(ratio * W));
      std::vector<int32_t> src(size_t(n_emit * L));
      for (int64_t e = 0; e < n_emit; ++e)
        for (int64_t j = 0; j < L; ++j) {
          int32_t v = rng.integer(0, 1) ? int32_t(rng.integer(0, T - 1)) : int32_t(-1 - rng.integer(0, ring_rows - 1));
          if (overlap && e == 0 && j < ratio) v = std::numeric_limits<int32_t>::min();
          src[size_t(e * L + j)] = v;
        }
      std::vector<float> want(size_t(n_emit * Dc));
      CompressPoolParams cp{kv.data(), gate.data(), rkv.data(), rgate.data(), ape.data(), src.data(), n_emit, ratio, Dc,
                            want.data(), T, ring_rows};
      cpu_compress_pool_paged(cp);
      Dev<float> dkv(kv), dg(gate), drkv(rkv), drg(rgate), dape(ape);
      Dev<int32_t> dsrc(src);
      Guarded out(want.size() * 4);
      CompressPoolParams gp{dkv.get(), dg.get(), drkv.get(), drg.get(), dape.get(), dsrc.get(), n_emit, ratio, Dc,
                            out.get<float>(), T, ring_rows};
      ASSERT_TRUE(compress_pool_paged(gp, nullptr));
      ASSERT_TRUE(close_rel(out.download<float>(), want, 1e-5)) << "ratio " << ratio << " Dc " << Dc;
      ASSERT_TRUE(out.guards_ok());
      // Ring store of the last L rows.
      std::vector<int32_t> rows(static_cast<size_t>(L)), dst(static_cast<size_t>(L));
      for (int64_t i = 0; i < L; ++i) rows[size_t(i)] = int32_t(T - L + i), dst[size_t(i)] = int32_t(2 * L + (i + 5) % L);
      std::vector<float> rk = rkv, rg = rgate;
      RingStoreParams crp{kv.data(), gate.data(), rows.data(), dst.data(), L, W, rk.data(), rg.data(), T, ring_rows};
      cpu_ring_store(crp);
      Guarded gk(rkv.size() * 4), gg(rgate.size() * 4);
      gk.upload(rkv.data());
      gg.upload(rgate.data());
      Dev<int32_t> drows(rows), ddst(dst);
      RingStoreParams grp{dkv.get(), dg.get(), drows.get(), ddst.get(), L, W, gk.get<float>(), gg.get<float>(), T, ring_rows};
      ASSERT_TRUE(ring_store(grp, nullptr));
      ASSERT_EQ(gk.download<float>(), rk);
      ASSERT_EQ(gg.download<float>(), rg);
      ASSERT_TRUE(gk.guards_ok() && gg.guards_ok());
    }
  }
}

// ---------------------------------------------------------------- indexer

struct IndexerCase {
  const char* name;
  int64_t nh, topk, T, max_ctx;  // max_ctx: tokens of context (visible up to max_ctx / 4)
  bool prefill;                  // positions increasing through one long segment
  bool scores_out;
  size_t scratch_rows;           // 0: all T
};

void run_indexer(const IndexerCase& c, KeyFormat f, Rng& rng) {
  SCOPED_TRACE(::testing::Message() << c.name << " format " << int(f));
  const int64_t hd = 128, E = 32, segs = c.prefill ? 1 : 3;
  const int64_t Ne = c.max_ctx / 4, blocks_per_seg = (Ne + E - 1) / E, pool_blocks = segs * blocks_per_seg + 5;
  const int64_t pool_slots = pool_blocks * E;
  std::vector<int32_t> perm(static_cast<size_t>(pool_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng.gen);
  std::vector<int32_t> table(perm.begin(), perm.begin() + segs * blocks_per_seg);
  // All pool slots get random keys (official: Hadamard + FP4), with exact duplicates for ties.
  auto keys = rng.normals(size_t(pool_slots * hd));
  if (f == KeyFormat::Mxfp4) cpu_ops().hadamard_fp4(keys.data(), pool_slots, hd);
  for (int64_t s = 1; s < pool_slots; s += 13) std::copy_n(keys.begin() + (s - 1) * hd, hd, keys.begin() + s * hd);
  std::vector<int32_t> all(static_cast<size_t>(pool_slots));
  std::iota(all.begin(), all.end(), 0);
  std::vector<uint8_t> pool(size_t(pool_slots * key_slot_bytes(f, hd)));
  KeyStoreParams sp{keys.data(), all.data(), pool_slots, hd, f, pool.data(), pool_slots};
  cpu_key_store(sp);
  std::vector<int32_t> seg(static_cast<size_t>(c.T)), visible(static_cast<size_t>(c.T));
  int64_t max_vis = 0;
  for (int64_t t = 0; t < c.T; ++t) {
    seg[size_t(t)] = int32_t(t % segs);
    const int64_t pos = c.prefill ? c.max_ctx - c.T + t : (t < 2 ? t * 5 : rng.integer(0, c.max_ctx - 1));
    visible[size_t(t)] = int32_t((pos + 1) / 4);
    max_vis = std::max<int64_t>(max_vis, visible[size_t(t)]);
  }
  if (!c.prefill && c.T > 2) visible[2] = int32_t(Ne), max_vis = Ne;
  auto q = rng.normals(size_t(c.T * c.nh * hd));
  if (f == KeyFormat::Mxfp4) cpu_ops().hadamard_fp4(q.data(), c.T * c.nh, hd);
  const auto wts = rng.normals(size_t(c.T * c.nh), 0.05f);
  IndexerTopkParams p;
  p.format = f, p.table_stride = blocks_per_seg, p.entries_per_block = E, p.T = c.T, p.nh = c.nh, p.hd = hd;
  p.topk = c.topk, p.key_pool_slots = pool_slots, p.segments = segs, p.max_visible = max_vis;
  const int64_t stride = max_vis + 5;
  std::vector<int32_t> sel(size_t(c.T * c.topk)), count(static_cast<size_t>(c.T));
  std::vector<float> scores(c.scores_out ? size_t(c.T * stride) : 0);
  {
    IndexerTopkParams cp = p;
    cp.q = q.data(), cp.wts = wts.data(), cp.key_pool = pool.data(), cp.seg = seg.data(), cp.visible = visible.data();
    cp.table = table.data(), cp.sel = sel.data(), cp.count = count.data();
    if (c.scores_out) cp.scores = scores.data(), cp.score_stride = stride;
    cpu_indexer_topk(cp);
  }
  Dev<float> dq(q), dw(wts);
  Dev<uint8_t> dpool(pool);
  Dev<int32_t> dseg(seg), dvis(visible), dtab(table);
  Guarded gsel(sel.size() * 4), gcount(count.size() * 4), gscores(std::max<size_t>(scores.size(), 1) * 4);
  const size_t scratch_bytes = c.scratch_rows == 0 ? indexer_topk_scratch_bytes(c.T, max_vis) : c.scratch_rows * size_t(max_vis) * 4;
  DeviceBuffer scratch(c.scores_out ? 16 : scratch_bytes);
  p.q = dq.get(), p.wts = dw.get(), p.key_pool = dpool.get(), p.seg = dseg.get(), p.visible = dvis.get();
  p.table = dtab.get(), p.sel = gsel.get<int32_t>(), p.count = gcount.get<int32_t>();
  if (c.scores_out) {
    p.scores = gscores.get<float>(), p.score_stride = stride;
  } else {
    p.scratch = scratch.get(), p.scratch_bytes = scratch_bytes;
  }
  const Status st = indexer_topk(p, nullptr);
  ASSERT_TRUE(st) << st.message();
  DSV4_CUDA_OK(cudaDeviceSynchronize());
  ASSERT_EQ(gcount.download<int32_t>(), count);
  const auto got = gsel.download<int32_t>();
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t j = 0; j < c.topk; ++j)
      ASSERT_EQ(got[size_t(t * c.topk + j)], sel[size_t(t * c.topk + j)]) << "token " << t << " rank " << j << " visible " << visible[size_t(t)];
  if (c.scores_out) {
    const auto gs = gscores.download<float>();
    for (size_t i = 0; i < scores.size(); ++i) ASSERT_TRUE(same(gs[i], scores[i])) << "score " << i;
  }
  ASSERT_TRUE(gsel.guards_ok() && gcount.guards_ok() && gscores.guards_ok());
}

TEST(CudaPaged, IndexerTopkExact) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaPaged.Indexer");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  const IndexerCase cases[] = {
      {"golden-a decode", 16, 16, 5, 256, false, true, 0},
      {"flash decode 8K", 64, 512, 8, 8192, false, true, 0},
      {"flash decode 64K T=64", 64, 512, 64, 65536, false, false, 0},
      {"pro decode 64K", 64, 1024, 16, 65536, false, false, 3},  // chunked scratch
      {"flash prefill 8K", 64, 512, 512, 8192, true, false, 0},
      {"pro 1M", 64, 1024, 2, 1 << 20, false, false, 1},
  };
  for (const auto& c : cases)
    for (KeyFormat f : {KeyFormat::Mxfp4, KeyFormat::F32}) {
      if (c.max_ctx == (1 << 20) && f == KeyFormat::F32) continue;
      run_indexer(c, f, rng);
      if (HasFatalFailure()) return;
    }
}

// ---------------------------------------------------------------- attention

struct AttnCase {
  const char* name;
  int64_t H, T, ctx, comp_stride;  // ctx: tokens of context (window keys = min(ctx, 128))
  bool call_rows;                  // some window keys from this call's rows
};

struct AttnData {
  int64_t T, H, D = 512, rd = 64, Wn = 128, comp_stride, win_slots, comp_slots;
  KvFormat f;
  std::vector<uint8_t> win_pool, comp_pool, call_kv;
  std::vector<int32_t> win, comp, comp_count;
  std::vector<float> q, sink;
  float scale;
};

AttnData make_attn(const AttnCase& c, KvFormat f, Rng& rng) {
  AttnData a;
  a.T = c.T, a.H = c.H, a.comp_stride = c.comp_stride, a.f = f;
  a.win_slots = std::max<int64_t>(256, c.T + 128);
  a.comp_slots = std::max<int64_t>(c.comp_stride + 10, c.ctx / 4 / 4);
  const int64_t bytes = kv_slot_bytes(f, a.D, a.rd);
  auto fill = [&](int64_t n) {
    std::vector<uint8_t> pool(size_t(n * bytes));
    const auto v = rng.normals(size_t(n * a.D), 2.0f);
    for (int64_t i = 0; i < n; ++i) encode_kv_slot(v.data() + i * a.D, a.D, a.rd, f, pool.data() + i * bytes);
    return pool;
  };
  a.win_pool = fill(a.win_slots), a.comp_pool = fill(a.comp_slots), a.call_kv = fill(c.T);
  a.win.assign(size_t(c.T * a.Wn), -1), a.comp.assign(size_t(c.T * c.comp_stride), -1), a.comp_count.assign(size_t(c.T), 0);
  for (int64_t t = 0; t < c.T; ++t) {
    const int64_t nwin = std::min<int64_t>(c.ctx, a.Wn);
    for (int64_t j = 0; j < nwin; ++j) {
      const bool call = c.call_rows && rng.integer(0, 3) == 0;
      a.win[size_t(t * a.Wn + j)] = call ? int32_t(-2 - rng.integer(0, c.T - 1)) : int32_t(rng.integer(0, a.win_slots - 1));
    }
    const int64_t ncomp = std::min<int64_t>(c.comp_stride, c.ctx <= a.Wn ? 0 : std::max<int64_t>(1, rng.integer(c.comp_stride / 2, c.comp_stride)));
    a.comp_count[size_t(t)] = int32_t(ncomp);
    for (int64_t j = 0; j < ncomp; ++j)
      a.comp[size_t(t * c.comp_stride + j)] = rng.integer(0, 15) == 0 ? -1 : int32_t(rng.integer(0, a.comp_slots - 1));
  }
  a.q = rng.normals(size_t(c.T * c.H * a.D), 0.3f);
  a.sink = rng.normals(size_t(c.H));
  a.scale = 1.0f / std::sqrt(float(a.D));
  return a;
}

PagedAttentionParams attn_params(const AttnData& a) {
  PagedAttentionParams p;
  p.Wn = a.Wn, p.comp_stride = a.comp_stride, p.format = a.f, p.T = a.T, p.H = a.H, p.D = a.D, p.rope_dim = a.rd;
  p.scale = a.scale, p.win_pool_slots = a.win_slots, p.comp_pool_slots = a.comp_slots;
  return p;
}

std::vector<float> cpu_attn(const AttnData& a) {
  std::vector<float> out(size_t(a.T * a.H * a.D));
  PagedAttentionParams p = attn_params(a);
  p.q = a.q.data(), p.sink = a.sink.data(), p.win_pool = a.win_pool.data(), p.call_kv = a.call_kv.data();
  p.win = a.win.data(), p.comp_pool = a.comp_pool.data(), p.comp = a.comp.data(), p.comp_count = a.comp_count.data();
  p.out = out.data();
  cpu_paged_attention(p);
  return out;
}

// Runs the GPU op; scratch_tokens = 0: all T.
std::vector<float> gpu_attn(const AttnData& a, int64_t scratch_tokens, bool* guards_ok,
                            PagedAttentionKernel kernel = PagedAttentionKernel::kAuto) {
  Dev<float> dq(a.q), dsink(a.sink);
  Dev<uint8_t> dwp(a.win_pool), dcp(a.comp_pool), dck(a.call_kv);
  Dev<int32_t> dwin(a.win), dcomp(a.comp), dcc(a.comp_count);
  Guarded out(size_t(a.T * a.H * a.D) * 4);
  PagedAttentionParams p = attn_params(a);
  const size_t sb = paged_attention_scratch_bytes(scratch_tokens == 0 ? a.T : scratch_tokens, a.H, a.D, a.Wn, a.comp_stride);
  DeviceBuffer scratch(sb);
  p.q = dq.get(), p.sink = dsink.get(), p.win_pool = dwp.get(), p.call_kv = dck.get(), p.win = dwin.get();
  p.comp_pool = dcp.get(), p.comp = a.comp_stride > 0 ? dcomp.get() : nullptr, p.comp_count = dcc.get();
  p.out = out.get<float>(), p.scratch = scratch.get(), p.scratch_bytes = sb;
  const Status st = paged_attention(p, nullptr, kernel);
  EXPECT_TRUE(st) << st.message();
  cudaDeviceSynchronize();
  *guards_ok = bool(out.guards_ok());
  return out.download<float>();
}

TEST(CudaPaged, AttentionMatchesCpu) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaPaged.Attention");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  const AttnCase cases[] = {
      {"golden-a ctx 1", 8, 1, 1, 16, true},
      {"golden-a ctx 100", 8, 3, 100, 16, true},
      {"flash 8K CSA T=1", 64, 1, 8192, 512, false},
      {"flash 8K CSA T=64", 64, 64, 8192, 512, true},
      {"flash 64K HCA T=8", 64, 8, 65536, 512, false},
      {"pro 64K CSA T=4", 128, 4, 65536, 1024, false},
      {"flash 1M HCA T=2", 64, 2, 1 << 20, 8192, false},
      {"flash SWA T=5", 64, 5, 4096, 0, true},
      {"flash prefill T=512", 64, 512, 8192, 512, true},
  };
  for (const auto& c : cases)
    for (KvFormat f : {KvFormat::Fp8Ds, KvFormat::F32}) {
      SCOPED_TRACE(::testing::Message() << c.name << " format " << int(f));
      const AttnData a = make_attn(c, f, rng);
      const auto want = cpu_attn(a);
      for (PagedAttentionKernel kernel : {PagedAttentionKernel::kTiled, PagedAttentionKernel::kPerWarp}) {
        bool ok = false;
        const auto got = gpu_attn(a, c.T > 8 ? 7 : 0, &ok, kernel);  // chunked scratch for the larger T
        ASSERT_TRUE(ok) << "guard bytes, kernel " << int(kernel);
        ASSERT_TRUE(close_rel(got, want, 1e-5)) << "kernel " << int(kernel);
      }
    }
}

TEST(CudaPaged, AttentionBatchIndependentAndNaN) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaPaged.AttentionBatch");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  AttnData a = make_attn({"flash 8K", 64, 16, 8192, 512, false}, KvFormat::Fp8Ds, rng);
  bool ok = false;
  {
    const auto all = gpu_attn(a, 0, &ok, PagedAttentionKernel::kPerWarp);
    const auto chunked = gpu_attn(a, 5, &ok, PagedAttentionKernel::kPerWarp);
    ASSERT_EQ(0, std::memcmp(all.data(), chunked.data(), all.size() * 4)) << "chunking changed bits (per-warp)";
  }
  const auto all = gpu_attn(a, 0, &ok);
  const auto chunked = gpu_attn(a, 3, &ok);
  ASSERT_EQ(0, std::memcmp(all.data(), chunked.data(), all.size() * 4)) << "chunking changed bits";
  // Token 5 alone (T = 1) gives the same bits as inside the batch.
  AttnData one = a;
  const int64_t t = 5, HD = a.H * a.D;
  one.T = 1;
  one.q.assign(a.q.begin() + t * HD, a.q.begin() + (t + 1) * HD);
  one.win.assign(a.win.begin() + t * a.Wn, a.win.begin() + (t + 1) * a.Wn);
  one.comp.assign(a.comp.begin() + t * a.comp_stride, a.comp.begin() + (t + 1) * a.comp_stride);
  one.comp_count = {a.comp_count[size_t(t)]};
  one.call_kv.assign(a.call_kv.begin(), a.call_kv.begin() + kv_slot_bytes(a.f, a.D, a.rd));
  const auto single = gpu_attn(one, 0, &ok);
  ASSERT_EQ(0, std::memcmp(single.data(), all.data() + t * HD, size_t(HD) * 4)) << "T changed bits";
  // A NaN in one compressed key: exactly the tokens that see it are NaN, on both backends.
  int32_t victim = -1;
  for (int64_t j = 0; j < a.comp_count[0] && victim < 0; ++j) victim = a.comp[size_t(j)];
  ASSERT_GE(victim, 0);
  const int64_t bytes = kv_slot_bytes(a.f, a.D, a.rd);
  a.comp_pool[size_t(victim * bytes + 3)] = 0x7F;  // an e4m3 NaN code
  const auto want = cpu_attn(a);
  const auto got = gpu_attn(a, 0, &ok);
  int nan_tokens = 0;
  for (int64_t tt = 0; tt < a.T; ++tt) {
    bool sees = false;
    for (int64_t j = 0; j < a.comp_count[size_t(tt)]; ++j) sees |= a.comp[size_t(tt * a.comp_stride + j)] == victim;
    nan_tokens += sees;
    for (int64_t i = 0; i < HD; ++i) {
      ASSERT_EQ(std::isnan(got[size_t(tt * HD + i)]), sees) << "token " << tt;
      ASSERT_EQ(std::isnan(want[size_t(tt * HD + i)]), sees) << "token " << tt;
    }
  }
  EXPECT_GE(nan_tokens, 1);
  ASSERT_TRUE(close_rel(got, want, 1e-5));
}

}  // namespace
}  // namespace dsv4::cuda
