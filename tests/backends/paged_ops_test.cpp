// The CPU reference of the paged ops (backends/cpu/cpu_paged.h) against the existing CpuOps ops
// over gathered data: slot codecs vs the fake-quants (and every code round-tripping), stores and
// loads through random slot mappings, compressor pooling from rings with wraparound vs
// compress_pool, the indexer vs indexer_scores + topk_indices, paged attention vs
// sparse_attention; and the errors for indices out of range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "backends/cpu/cpu_paged.h"
#include "backends/ops.h"
#include "backends/op_test_util.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/quant.h"
#include "support/test_support.h"

namespace dsv4 {
namespace {

using test::Rng;

constexpr float kInf = std::numeric_limits<float>::infinity();

// Bitwise equal, or both NaN.
bool same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || f32_bits(a) == f32_bits(b); }

::testing::AssertionResult same_vec(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (!same(got[i], want[i]))
      return ::testing::AssertionFailure() << "index " << i << ": got " << got[i] << " want " << want[i];
  return ::testing::AssertionSuccess();
}

// Vectors with blocks of varied magnitudes (tiny, zero, huge, ordinary).
std::vector<float> varied(Rng& rng, size_t n) {
  std::vector<float> v(n);
  for (size_t b0 = 0; b0 < n; b0 += 32) {
    const int kind = int(rng.integer(0, 5));
    const float sd = kind == 0 ? 1e-7f : kind == 1 ? 0.0f : kind == 2 ? 1e30f : kind == 3 ? 3e-3f : 1.0f;
    for (size_t i = b0; i < std::min(n, b0 + 32); ++i) v[i] = rng.normal(sd);
  }
  return v;
}

// ---------------------------------------------------------------- codecs

TEST(PagedCodec, Fp8DsEqualsFakeQuant) {
  const uint64_t seed = test::fresh_seed("PagedCodec.Fp8Ds");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (const auto& [D, rd] : {std::pair<int64_t, int64_t>{512, 64}, {128, 64}, {192, 0}}) {
    for (int rep = 0; rep < 200; ++rep) {
      std::vector<float> v = varied(rng, size_t(D));
      if (rep % 10 == 1) v[size_t(rng.integer(0, D - 1))] = std::numeric_limits<float>::quiet_NaN();
      if (rep % 10 == 2) v[size_t(rng.integer(0, D - 1))] = rep % 20 < 10 ? kInf : -kInf;
      std::vector<uint8_t> slot(size_t(kv_slot_bytes(KvFormat::Fp8Ds, D, rd)), 0xCD);
      encode_kv_slot(v.data(), D, rd, KvFormat::Fp8Ds, slot.data());
      std::vector<float> got(static_cast<size_t>(D));
      decode_kv_slot(slot.data(), D, rd, KvFormat::Fp8Ds, got.data());
      std::vector<float> want = v;
      fake_quant_fp8(want.data(), size_t(D - rd), 64);
      for (int64_t i = D - rd; i < D; ++i) want[size_t(i)] = round_to_bf16(want[size_t(i)]);
      ASSERT_TRUE(same_vec(got, want)) << "D " << D << " rep " << rep;
      const int64_t used = (D - rd) + 2 * rd + (D - rd) / 64;
      for (size_t i = size_t(used); i < slot.size(); ++i) ASSERT_EQ(slot[i], 0) << "padding byte " << i;
    }
  }
}

TEST(PagedCodec, Fp8DsEveryCodeRoundTrips) {
  const int64_t D = 512, rd = 64, nope = 448;
  std::vector<uint8_t> slot(584), again(584);
  std::vector<float> v(D);
  for (int base = 0; base < 256; ++base) {
    std::fill(slot.begin(), slot.end(), 0);
    for (int64_t b = 0; b < nope / 64; ++b) {
      slot[size_t(b * 64)] = (b & 1) ? 0xFE : 0x7E;  // ±448: the block's amax sets the scale
      for (int64_t i = 1; i < 64; ++i) {
        uint8_t c = uint8_t(base + b * 64 + i);
        if ((c & 0x7F) == 0x7F) c = 0x00;  // NaN codes do not round-trip
        slot[size_t(b * 64 + i)] = c;
      }
      slot[size_t(nope + 2 * rd + b)] = uint8_t(106 + (base + 7 * b) % 140);  // scales 2^-21 .. 2^118
    }
    for (int64_t i = 0; i < rd; ++i) {
      uint16_t h = uint16_t(base * 257 + i * 1031);
      if ((h & 0x7F80) == 0x7F80) h = 0x3F80;  // no NaN/inf
      std::memcpy(&slot[size_t(nope + 2 * i)], &h, 2);
    }
    decode_kv_slot(slot.data(), D, rd, KvFormat::Fp8Ds, v.data());
    encode_kv_slot(v.data(), D, rd, KvFormat::Fp8Ds, again.data());
    ASSERT_EQ(again, slot) << "base " << base;
  }
}

TEST(PagedCodec, Mxfp4EqualsFakeQuantAndRoundTrips) {
  const uint64_t seed = test::fresh_seed("PagedCodec.Mxfp4");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (int64_t hd : {128, 32, 64}) {
    for (int rep = 0; rep < 300; ++rep) {
      std::vector<float> k = varied(rng, size_t(hd));
      if (rep % 10 == 1) k[size_t(rng.integer(0, hd - 1))] = std::numeric_limits<float>::quiet_NaN();
      if (rep % 10 == 2) k[size_t(rng.integer(0, hd - 1))] = rep % 20 < 10 ? kInf : -kInf;
      if (rep % 3 == 0) hadamard_transform(k.data(), size_t(hd));
      std::vector<uint8_t> slot(size_t(key_slot_bytes(KeyFormat::Mxfp4, hd)), 0xCD);
      encode_key_slot(k.data(), hd, KeyFormat::Mxfp4, slot.data());
      std::vector<float> got(static_cast<size_t>(hd)), want = k;
      decode_key_slot(slot.data(), hd, KeyFormat::Mxfp4, got.data());
      fake_quant_fp4(want.data(), size_t(hd), 32);
      ASSERT_TRUE(same_vec(got, want)) << "hd " << hd << " rep " << rep;
      // Fake-quantized keys are fixed points of the codec (the official keys are).
      std::vector<uint8_t> again(slot.size());
      encode_key_slot(got.data(), hd, KeyFormat::Mxfp4, again.data());
      if (std::all_of(got.begin(), got.end(), [](float x) { return std::isfinite(x); })) {
        std::vector<float> got2(static_cast<size_t>(hd));
        decode_key_slot(again.data(), hd, KeyFormat::Mxfp4, got2.data());
        ASSERT_TRUE(same_vec(got2, got));
      }
    }
  }
  // Every code at every nibble position, every scale byte from 1 to 252 (larger: 6·s overflows).
  const int64_t hd = 128;
  std::vector<uint8_t> slot(72), again(72);
  std::vector<float> k(hd);
  for (int base = 0; base < 254; ++base) {
    std::fill(slot.begin(), slot.end(), 0);
    for (int64_t j = 0; j < hd; ++j) {
      const uint8_t code = j % 32 == 0 ? uint8_t((j / 32) & 1 ? 0xF : 0x7) : uint8_t((base + j) & 0xF);
      slot[size_t(j / 2)] |= uint8_t((j & 1) ? code << 4 : code);
    }
    for (int b = 0; b < 4; ++b) slot[size_t(64 + b)] = uint8_t(1 + (base + 61 * b) % 252);  // 6·2^(b−127) finite
    decode_key_slot(slot.data(), hd, KeyFormat::Mxfp4, k.data());
    encode_key_slot(k.data(), hd, KeyFormat::Mxfp4, again.data());
    for (size_t i = 0; i < slot.size(); ++i) ASSERT_EQ(int(again[i]), int(slot[i])) << "base " << base << " byte " << i;
  }
}

TEST(PagedCodec, RefDotMatchesCpuDot) {
  const uint64_t seed = test::fresh_seed("PagedCodec.RefDot");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (int64_t n : {16, 32, 64, 128, 512}) {
    const auto a = rng.normals(size_t(n)), b = rng.normals(size_t(n));
    // cpu::dot is the AVX2 order on this CPU or the portable one; both are close, and equal to
    // ref_dot where the CPU has AVX2+FMA.
    const float r = ref_dot(a.data(), b.data(), n);
    double exact = 0;
    for (int64_t i = 0; i < n; ++i) exact += double(a[size_t(i)]) * double(b[size_t(i)]);
    EXPECT_NEAR(r, exact, 1e-5 * n);
  }
}

// ---------------------------------------------------------------- stores and loads

TEST(PagedStore, ScatterAndGather) {
  const uint64_t seed = test::fresh_seed("PagedStore.ScatterAndGather");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (KvFormat f : {KvFormat::F32, KvFormat::Fp8Ds}) {
    const int64_t D = 512, rd = 64, pool_slots = 300, n = 97, bytes = kv_slot_bytes(f, D, rd);
    std::vector<uint8_t> pool(size_t(pool_slots * bytes), 0xAB);
    std::vector<int32_t> perm(static_cast<size_t>(pool_slots));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng.gen);
    std::vector<int32_t> slots(perm.begin(), perm.begin() + n);
    for (int i = 0; i < n; i += 7) slots[size_t(i)] = -1;
    const auto vecs = varied(rng, size_t(n * D));
    KvStoreParams sp{vecs.data(), slots.data(), n, D, rd, f, pool.data(), pool_slots};
    cpu_kv_store(sp);
    std::vector<float> out(size_t(n * D), 7.0f);
    KvLoadParams lp{pool.data(), slots.data(), n, D, rd, f, out.data(), pool_slots};
    cpu_kv_load(lp);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<float> want(vecs.begin() + i * D, vecs.begin() + (i + 1) * D), got(out.begin() + i * D, out.begin() + (i + 1) * D);
      if (slots[size_t(i)] < 0) {
        want.assign(size_t(D), 0.0f);
      } else if (f == KvFormat::Fp8Ds) {
        fake_quant_fp8(want.data(), size_t(D - rd), 64);
        for (int64_t c = D - rd; c < D; ++c) want[size_t(c)] = round_to_bf16(want[size_t(c)]);
      }
      ASSERT_TRUE(same_vec(got, want)) << "vector " << i;
    }
    // Slots not listed are untouched.
    for (int64_t s = n; s < pool_slots; ++s)
      for (int64_t b = 0; b < bytes; ++b) ASSERT_EQ(pool[size_t(perm[size_t(s)] * bytes + b)], 0xAB);
    slots[3] = int32_t(pool_slots);
    EXPECT_THROW(cpu_kv_store(sp), Error);
    slots[3] = -2;
    EXPECT_THROW(cpu_kv_load(lp), Error);
  }
  for (KeyFormat f : {KeyFormat::F32, KeyFormat::Mxfp4}) {
    const int64_t hd = 128, pool_slots = 200, n = 64;
    std::vector<uint8_t> pool(size_t(pool_slots * key_slot_bytes(f, hd)), 0xAB);
    std::vector<int32_t> slots(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) slots[size_t(i)] = i % 5 == 4 ? -1 : int32_t(3 * i);
    const auto keys = varied(rng, size_t(n * hd));
    KeyStoreParams sp{keys.data(), slots.data(), n, hd, f, pool.data(), pool_slots};
    cpu_key_store(sp);
    std::vector<float> out(size_t(n * hd));
    KeyLoadParams lp{pool.data(), slots.data(), n, hd, f, out.data(), pool_slots};
    cpu_key_load(lp);
    for (int64_t i = 0; i < n; ++i) {
      std::vector<float> want(keys.begin() + i * hd, keys.begin() + (i + 1) * hd), got(out.begin() + i * hd, out.begin() + (i + 1) * hd);
      if (slots[size_t(i)] < 0) want.assign(size_t(hd), 0.0f);
      else if (f == KeyFormat::Mxfp4) fake_quant_fp4(want.data(), size_t(hd), 32);
      ASSERT_TRUE(same_vec(got, want)) << "key " << i;
    }
    slots[0] = int32_t(pool_slots);
    EXPECT_THROW(cpu_key_store(sp), Error);
  }
}

// ---------------------------------------------------------------- compressor

// One sequence: tokens [0, P0) were seen earlier (the last R of them in ring slot `state`),
// tokens [P0, P0 + S) are this call's rows. Pools the entries completing in the call and
// compares with compress_pool over all P0 + S tokens.
void check_pool(Rng& rng, int ratio, int64_t Dc, int64_t P0, int64_t S) {
  SCOPED_TRACE(::testing::Message() << "ratio " << ratio << " Dc " << Dc << " P0 " << P0 << " S " << S);
  const bool overlap = ratio == 4;
  const int64_t W = (overlap ? 2 : 1) * Dc, L = (overlap ? 2 : 1) * ratio, R = L, states = 3, state = rng.integer(0, 2);
  const int64_t total = P0 + S;
  const auto kv_all = rng.normals(size_t(total * W)), gate_all = rng.normals(size_t(total * W), 2.0f);
  const auto ape = rng.normals(size_t(ratio * W));
  std::vector<float> ring_kv = rng.normals(size_t(states * R * W)), ring_gate = rng.normals(size_t(states * R * W));
  for (int64_t p = std::max<int64_t>(0, P0 - R); p < P0; ++p) {
    const int64_t r = state * R + p % R;
    std::copy_n(kv_all.begin() + p * W, W, ring_kv.begin() + r * W);
    std::copy_n(gate_all.begin() + p * W, W, ring_gate.begin() + r * W);
  }
  const std::vector<float> kv(kv_all.begin() + P0 * W, kv_all.end()), gate(gate_all.begin() + P0 * W, gate_all.end());
  const int64_t e_lo = P0 / ratio, e_hi = total / ratio;
  std::vector<int32_t> src;
  auto source = [&](int64_t p) -> int32_t {
    if (p < 0) return std::numeric_limits<int32_t>::min();
    if (p >= P0) return int32_t(p - P0);
    return int32_t(-1 - (state * R + p % R));
  };
  for (int64_t e = e_lo; e < e_hi; ++e) {
    if (overlap)
      for (int64_t j = 0; j < ratio; ++j) src.push_back(e == 0 ? std::numeric_limits<int32_t>::min() : source((e - 1) * ratio + j));
    for (int64_t j = 0; j < ratio; ++j) src.push_back(source(e * ratio + j));
  }
  const int64_t n_emit = e_hi - e_lo;
  std::vector<float> out(size_t(std::max<int64_t>(n_emit, 1) * Dc), 9.0f);
  CompressPoolParams p{kv.data(), gate.data(), ring_kv.data(), ring_gate.data(), ape.data(), src.data(), n_emit, ratio, Dc,
                       out.data(), S, states * R};
  cpu_compress_pool_paged(p);
  std::vector<float> want(size_t(std::max<int64_t>(e_hi, 1) * Dc));
  cpu_ops().compress_pool(kv_all.data(), gate_all.data(), ape.data(), total, ratio, Dc, overlap, want.data());
  for (int64_t e = 0; e < n_emit; ++e)
    for (int64_t c = 0; c < Dc; ++c)
      ASSERT_TRUE(same(out[size_t(e * Dc + c)], want[size_t((e_lo + e) * Dc + c)])) << "entry " << e_lo + e << " ch " << c;
  if (n_emit > 0) {
    src[0] = int32_t(S);
    EXPECT_THROW(cpu_compress_pool_paged(p), Error);
    src[0] = int32_t(-1 - states * R);
    EXPECT_THROW(cpu_compress_pool_paged(p), Error);
  }
}

TEST(PagedCompressor, PoolEqualsCompressPool) {
  const uint64_t seed = test::fresh_seed("PagedCompressor.Pool");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  check_pool(rng, 4, 16, 0, 9);      // entry 0 without a previous window
  check_pool(rng, 4, 16, 2, 1);      // nothing completes
  check_pool(rng, 4, 512, 1003, 13);  // ring wraparound, straddling windows
  check_pool(rng, 4, 128, 5, 64);
  check_pool(rng, 128, 8, 0, 300);
  check_pool(rng, 128, 512, 1000, 29);  // one window from the ring and the call
  check_pool(rng, 128, 128, 1280, 256);
}

TEST(GatherRows, RowsByListZerosForNegative) {
  Rng rng(test::fresh_seed("GatherRows.RowsByList"));
  for (int64_t W : {int64_t(1), int64_t(7), int64_t(64)}) {
    const int64_t src_rows = 13, n = 9;
    const auto src = rng.normals(size_t(src_rows * W));
    std::vector<int32_t> rows(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) rows[size_t(i)] = i % 4 == 3 ? -1 : int32_t(rng.integer(0, src_rows - 1));
    std::vector<float> dst(size_t(n * W), 1.0f);
    cpu_ops().gather_rows({src.data(), src_rows, rows.data(), n, W, dst.data()});
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < W; ++c)
        ASSERT_EQ(dst[size_t(i * W + c)], rows[size_t(i)] < 0 ? 0.0f : src[size_t(rows[size_t(i)] * W + c)]);
    cpu_ops().gather_rows({src.data(), src_rows, rows.data(), 0, W, nullptr});  // empty: nothing read
    rows[1] = int32_t(src_rows);
    EXPECT_THROW(cpu_ops().gather_rows({src.data(), src_rows, rows.data(), n, W, dst.data()}), Error);
  }
}

TEST(PagedCompressor, RingStore) {
  Rng rng(test::fresh_seed("PagedCompressor.RingStore"));
  const int64_t T = 20, W = 24, rows_n = 8, ring_rows = 16;
  const auto kv = rng.normals(size_t(T * W)), gate = rng.normals(size_t(T * W));
  std::vector<float> ring_kv(size_t(ring_rows * W), 0.0f), ring_gate(ring_kv);
  std::vector<int32_t> rows(static_cast<size_t>(rows_n)), dst(static_cast<size_t>(rows_n));
  for (int64_t i = 0; i < rows_n; ++i) rows[size_t(i)] = int32_t(T - rows_n + i), dst[size_t(i)] = int32_t(8 + (i + 3) % 8);
  RingStoreParams p{kv.data(), gate.data(), rows.data(), dst.data(), rows_n, W, ring_kv.data(), ring_gate.data(), T, ring_rows};
  cpu_ring_store(p);
  for (int64_t i = 0; i < rows_n; ++i)
    for (int64_t c = 0; c < W; ++c) {
      ASSERT_EQ(ring_kv[size_t(dst[size_t(i)] * W + c)], kv[size_t(rows[size_t(i)] * W + c)]);
      ASSERT_EQ(ring_gate[size_t(dst[size_t(i)] * W + c)], gate[size_t(rows[size_t(i)] * W + c)]);
    }
  for (int64_t r = 0; r < 8; ++r) ASSERT_EQ(ring_kv[size_t(r * W)], 0.0f);
  dst[2] = int32_t(ring_rows);
  EXPECT_THROW(cpu_ring_store(p), Error);
}

// ---------------------------------------------------------------- indexer

TEST(PagedIndexer, EqualsScoresAndTopk) {
  const uint64_t seed = test::fresh_seed("PagedIndexer");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (KeyFormat f : {KeyFormat::Mxfp4, KeyFormat::F32}) {
    const int64_t nh = 16, hd = 128, E = 32, segs = 3, blocks_per_seg = 8, pool_blocks = 40, topk = 37;
    const int64_t Ne = blocks_per_seg * E, pool_slots = pool_blocks * E;
    std::vector<int32_t> perm(static_cast<size_t>(pool_blocks));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng.gen);
    std::vector<int32_t> table(size_t(segs * blocks_per_seg));
    for (size_t i = 0; i < table.size(); ++i) table[i] = perm[i];
    // Keys of each segment's entries, stored into the pool through the table.
    std::vector<uint8_t> pool(size_t(pool_slots * key_slot_bytes(f, hd)));
    std::vector<std::vector<float>> seg_keys(segs);
    for (int64_t s = 0; s < segs; ++s) {
      auto keys = rng.normals(size_t(Ne * hd));
      if (f == KeyFormat::Mxfp4) cpu_ops().hadamard_fp4(keys.data(), Ne, hd);
      for (int64_t w = 1; w < Ne; w += 9) std::copy_n(keys.begin() + (w - 1) * hd, hd, keys.begin() + w * hd);  // ties
      std::vector<int32_t> slots(static_cast<size_t>(Ne));
      for (int64_t w = 0; w < Ne; ++w) slots[size_t(w)] = int32_t(table[size_t(s * blocks_per_seg + w / E)] * E + w % E);
      KeyStoreParams sp{keys.data(), slots.data(), Ne, hd, f, pool.data(), pool_slots};
      cpu_key_store(sp);
      seg_keys[size_t(s)] = keys;
    }
    const int64_t T = 24;
    std::vector<int32_t> seg(static_cast<size_t>(T)), visible(static_cast<size_t>(T));
    std::vector<int64_t> pos(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      seg[size_t(t)] = int32_t(t % segs);
      pos[size_t(t)] = t < 3 ? t : rng.integer(0, 4 * Ne - 1);  // (pos + 1) / 4: 0 visible at the start
      visible[size_t(t)] = int32_t((pos[size_t(t)] + 1) / 4);
    }
    auto q = rng.normals(size_t(T * nh * hd));
    if (f == KeyFormat::Mxfp4) cpu_ops().hadamard_fp4(q.data(), T * nh, hd);
    std::vector<float> wts = rng.normals(size_t(T * nh), 0.1f);
    std::vector<int32_t> sel(size_t(T * topk), 5), count(static_cast<size_t>(T), 5);
    const int64_t stride = Ne + 3;
    std::vector<float> scores(size_t(T * stride), 1.0f);
    IndexerTopkParams p;
    p.q = q.data(), p.wts = wts.data(), p.key_pool = pool.data(), p.format = f, p.seg = seg.data();
    p.visible = visible.data(), p.table = table.data(), p.table_stride = blocks_per_seg, p.entries_per_block = E;
    p.T = T, p.nh = nh, p.hd = hd, p.topk = topk, p.sel = sel.data(), p.count = count.data();
    p.scores = scores.data(), p.score_stride = stride, p.key_pool_slots = pool_slots, p.segments = segs;
    p.max_visible = Ne;
    cpu_indexer_topk(p);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t s = seg[size_t(t)];
      std::vector<float> keys(size_t(Ne * hd));  // decoded gathered keys
      KeyLoadParams lp;
      std::vector<int32_t> slots(static_cast<size_t>(Ne));
      for (int64_t w = 0; w < Ne; ++w) slots[size_t(w)] = int32_t(table[size_t(s * blocks_per_seg + w / E)] * E + w % E);
      lp.pool = pool.data(), lp.slots = slots.data(), lp.n = Ne, lp.hd = hd, lp.format = f, lp.out = keys.data();
      lp.pool_slots = pool_slots;
      cpu_key_load(lp);
      std::vector<float> want(static_cast<size_t>(Ne));
      cpu_ops().indexer_scores(q.data() + t * nh * hd, wts.data() + t * nh, keys.data(), 1, nh, hd, Ne, &pos[size_t(t)], 4,
                               want.data());
      std::vector<int32_t> want_sel(static_cast<size_t>(topk));
      cpu_ops().topk_indices(want.data(), 1, Ne, topk, want_sel.data());
      const int64_t k = std::min<int64_t>(topk, visible[size_t(t)]);
      ASSERT_EQ(count[size_t(t)], k) << "token " << t;
      for (int64_t w = 0; w < stride; ++w) {
        const float got = scores[size_t(t * stride + w)];
        if (w >= visible[size_t(t)]) {
          ASSERT_EQ(got, -kInf);
        } else {
          ASSERT_NEAR(got, want[size_t(w)], 1e-5f * (1 + std::fabs(want[size_t(w)]))) << "token " << t << " w " << w;
        }
      }
      for (int64_t j = 0; j < topk; ++j) {
        const int32_t ws = want_sel[size_t(j)];
        const int32_t want_slot = j < k && ws >= 0 ? slots[size_t(ws)] : -1;
        const int32_t got = sel[size_t(t * topk + j)];
        if (got != want_slot) {
          // Only a different rounding of the CPU's dot (no AVX2+FMA here) may swap near-ties.
          ASSERT_TRUE(got >= 0 && want_slot >= 0) << "token " << t << " j " << j;
          ASSERT_NEAR(scores[size_t(t * stride + std::find(slots.begin(), slots.end(), got) - slots.begin())],
                      want[size_t(ws)], 1e-5f * (1 + std::fabs(want[size_t(ws)])));
        }
      }
    }
    seg[1] = int32_t(segs);
    EXPECT_THROW(cpu_indexer_topk(p), Error);
    seg[1] = 0;
    table[0] = int32_t(pool_blocks);
    EXPECT_THROW(cpu_indexer_topk(p), Error);
    table[0] = perm[0];
    visible[0] = int32_t(blocks_per_seg * E + 1);
    EXPECT_THROW(cpu_indexer_topk(p), Error);
  }
}

// ---------------------------------------------------------------- attention

TEST(PagedAttention, EqualsSparseAttention) {
  const uint64_t seed = test::fresh_seed("PagedAttention");
  DSV4_SEED_TRACE(seed);
  Rng rng(seed);
  for (KvFormat f : {KvFormat::F32, KvFormat::Fp8Ds}) {
    const int64_t T = 9, H = 8, D = 512, rd = 64, Wn = 128, comp_stride = 40, win_slots = 400, comp_slots = 300;
    const int64_t bytes = kv_slot_bytes(f, D, rd);
    auto fill_pool = [&](int64_t n) {
      std::vector<uint8_t> pool(size_t(n * bytes));
      const auto v = rng.normals(size_t(n * D), 3.0f);
      for (int64_t i = 0; i < n; ++i) encode_kv_slot(v.data() + i * D, D, rd, f, pool.data() + i * bytes);
      return pool;
    };
    const auto win_pool = fill_pool(win_slots), comp_pool = fill_pool(comp_slots), call_kv = fill_pool(T);
    std::vector<int32_t> win(size_t(T * Wn)), comp(size_t(T * comp_stride), -1), comp_count(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t j = 0; j < Wn; ++j) {
        const int64_t r = rng.integer(0, 9);
        win[size_t(t * Wn + j)] = r < 6 ? int32_t(rng.integer(0, win_slots - 1)) : r < 8 ? int32_t(-2 - rng.integer(0, T - 1)) : -1;
      }
      if (t == 0) std::fill_n(win.begin(), Wn, -1);  // a token with no window key
      comp_count[size_t(t)] = int32_t(t == 1 ? 0 : rng.integer(0, comp_stride));
      for (int64_t j = 0; j < comp_count[size_t(t)]; ++j)
        comp[size_t(t * comp_stride + j)] = rng.integer(0, 7) == 0 ? -1 : int32_t(rng.integer(0, comp_slots - 1));
    }
    comp_count[0] = 0;  // token 0: no key at all
    const auto q = rng.normals(size_t(T * H * D), 0.05f), sink = rng.normals(size_t(H));
    const float scale = 1.0f / std::sqrt(float(D));
    std::vector<float> out(size_t(T * H * D), 3.0f);
    PagedAttentionParams p;
    p.q = q.data(), p.sink = sink.data(), p.win_pool = win_pool.data(), p.call_kv = call_kv.data(), p.win = win.data();
    p.Wn = Wn, p.comp_pool = comp_pool.data(), p.comp = comp.data(), p.comp_count = comp_count.data();
    p.comp_stride = comp_stride, p.format = f, p.T = T, p.H = H, p.D = D, p.rope_dim = rd, p.scale = scale;
    p.out = out.data(), p.win_pool_slots = win_slots, p.comp_pool_slots = comp_slots;
    cpu_paged_attention(p);
    // Gathered: all decoded vectors in one array; idx per token = window then compressed.
    const int64_t Nk = win_slots + T + comp_slots;
    std::vector<float> keys(size_t(Nk * D));
    for (int64_t i = 0; i < win_slots; ++i) decode_kv_slot(win_pool.data() + i * bytes, D, rd, f, keys.data() + i * D);
    for (int64_t i = 0; i < T; ++i) decode_kv_slot(call_kv.data() + i * bytes, D, rd, f, keys.data() + (win_slots + i) * D);
    for (int64_t i = 0; i < comp_slots; ++i)
      decode_kv_slot(comp_pool.data() + i * bytes, D, rd, f, keys.data() + (win_slots + T + i) * D);
    const int64_t kw = Wn + comp_stride;
    std::vector<int32_t> idx(size_t(T * kw), -1);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t j = 0; j < Wn; ++j) {
        const int32_t v = win[size_t(t * Wn + j)];
        idx[size_t(t * kw + j)] = v >= 0 ? v : v <= -2 ? int32_t(win_slots + (-2 - v)) : -1;
      }
      for (int64_t j = 0; j < comp_count[size_t(t)]; ++j) {
        const int32_t v = comp[size_t(t * comp_stride + j)];
        idx[size_t(t * kw + Wn + j)] = v >= 0 ? int32_t(win_slots + T + v) : -1;
      }
    }
    std::vector<float> want(size_t(T * H * D));
    cpu_ops().sparse_attention(q.data(), keys.data(), idx.data(), sink.data(), T, H, D, Nk, kw, scale, want.data());
    ASSERT_TRUE(same_vec(out, want));
    for (int64_t i = 0; i < H * D; ++i) ASSERT_EQ(out[size_t(i)], 0.0f);  // token 0 has no key
    win[5] = int32_t(win_slots);
    EXPECT_THROW(cpu_paged_attention(p), Error);
    win[5] = int32_t(-2 - T);
    EXPECT_THROW(cpu_paged_attention(p), Error);
    win[5] = -1;
    comp_count[2] = int32_t(comp_stride + 1);
    EXPECT_THROW(cpu_paged_attention(p), Error);
  }
}

}  // namespace
}  // namespace dsv4
