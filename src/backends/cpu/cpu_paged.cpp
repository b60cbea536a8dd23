// The CPU reference of the paged cache-side ops (cpu_paged.h, contract in backends/paged_ops.h).
#include "backends/cpu/cpu_paged.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/gemm_kernel.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/quant.h"

namespace dsv4 {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

void parallel(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  static_cast<CpuOps&>(cpu_ops()).parallel_rows(n, grain, fn);
}

// A block scale (a power of two, or +inf for a block holding an infinity) as its UE8M0 byte.
uint8_t scale_byte(float s) { return uint8_t(f32_bits(s) >> 23); }
// Decoding a scale byte: 2^(b − 127); 255 (the scale of an infinite block) decodes as +inf so
// that code · scale is the fake-quant's value e4m3(x / inf) · inf.
float scale_value(uint8_t b) { return b == 0xFF ? kInf : e8m0_to_f32(b); }

float amax_of(const float* x, int64_t n) {  // as core/quant.cpp: NaN ignored
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

void check_kv_shape(const char* what, int64_t D, int64_t rd, KvFormat format) {
  if (D <= 0 || rd < 0 || rd > D || rd % 2 != 0) fail("{}: D = {}, rope_dim = {} invalid", what, D, rd);
  if (format == KvFormat::Fp8Ds && (D - rd) % 64 != 0)
    fail("{}: Fp8Ds needs D − rope_dim a multiple of 64 (D = {}, rope_dim = {})", what, D, rd);
}

void check_key_shape(const char* what, int64_t hd, KeyFormat format) {
  if (hd <= 0) fail("{}: hd = {} invalid", what, hd);
  if (format == KeyFormat::Mxfp4 && hd % 32 != 0) fail("{}: Mxfp4 needs hd a multiple of 32 (hd = {})", what, hd);
}

void check_slots(const char* what, const int32_t* slots, int64_t n, int64_t pool_slots) {
  if (n > 0 && slots == nullptr) fail("{}: slots is null with n = {}", what, n);
  for (int64_t i = 0; i < n; ++i)
    if (slots[i] < -1 || slots[i] >= pool_slots)
      fail("{}: slots[{}] = {} out of range (pool_slots = {})", what, i, slots[i], pool_slots);
}

}  // namespace

// ---------------------------------------------------------------- codecs

void encode_kv_slot(const float* v, int64_t D, int64_t rd, KvFormat format, uint8_t* slot) {
  if (format == KvFormat::F32) {
    std::memcpy(slot, v, size_t(D) * 4);
    return;
  }
  const int64_t nope = D - rd;
  uint8_t* scales = slot + nope + 2 * rd;
  for (int64_t b = 0; b < nope / 64; ++b) {
    const float* x = v + b * 64;
    const float s = fp8_block_scale(amax_of(x, 64));
    scales[b] = scale_byte(s);
    for (int64_t i = 0; i < 64; ++i) {
      const float r = std::clamp(x[i] / s, -kE4M3Max, kE4M3Max);
      slot[b * 64 + i] = std::isnan(r) ? uint8_t(0x7F) : f32_to_e4m3(r);  // canonical NaN code (no sign)
    }
  }
  for (int64_t i = 0; i < rd; ++i) {
    const uint16_t h = f32_to_bf16(v[nope + i]);
    std::memcpy(slot + nope + 2 * i, &h, 2);
  }
  const int64_t used = nope + 2 * rd + nope / 64, bytes = kv_slot_bytes(format, D, rd);
  std::memset(slot + used, 0, size_t(bytes - used));
}

void decode_kv_slot(const uint8_t* slot, int64_t D, int64_t rd, KvFormat format, float* v) {
  if (format == KvFormat::F32) {
    std::memcpy(v, slot, size_t(D) * 4);
    return;
  }
  const int64_t nope = D - rd;
  const uint8_t* scales = slot + nope + 2 * rd;
  for (int64_t i = 0; i < nope; ++i) v[i] = e4m3_to_f32(slot[i]) * scale_value(scales[i / 64]);
  for (int64_t i = 0; i < rd; ++i) {
    uint16_t h;
    std::memcpy(&h, slot + nope + 2 * i, 2);
    v[nope + i] = bf16_to_f32(h);
  }
}

void encode_key_slot(const float* k, int64_t hd, KeyFormat format, uint8_t* slot) {
  if (format == KeyFormat::F32) {
    std::memcpy(slot, k, size_t(hd) * 4);
    return;
  }
  uint8_t* scales = slot + hd / 2;
  std::memset(slot, 0, size_t(key_slot_bytes(format, hd)));
  for (int64_t b = 0; b < hd / 32; ++b) {
    const float* x = k + b * 32;
    const float s = fp4_block_scale(amax_of(x, 32));
    scales[b] = scale_byte(s);
    for (int64_t i = 0; i < 32; ++i) {
      const uint8_t code = f32_to_e2m1(std::clamp(x[i] / s, -kE2M1Max, kE2M1Max));
      const int64_t j = b * 32 + i;
      slot[j / 2] |= uint8_t((j & 1) ? code << 4 : code);
    }
  }
}

void decode_key_slot(const uint8_t* slot, int64_t hd, KeyFormat format, float* k) {
  if (format == KeyFormat::F32) {
    std::memcpy(k, slot, size_t(hd) * 4);
    return;
  }
  const uint8_t* scales = slot + hd / 2;
  for (int64_t j = 0; j < hd; ++j) k[j] = round_to_bf16(e2m1_packed_get(slot, size_t(j)) * scale_value(scales[j / 32]));
}

float ref_dot(const float* a, const float* b, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return cpu::dot(a, b, n);
#endif
  // dot_avx2 of gemm_kernel.cpp, lane by lane: acc0 = lanes 0..7, acc1 = lanes 8..15.
  float acc0[8] = {}, acc1[8] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int l = 0; l < 8; ++l) {
      acc0[l] = std::fma(a[i + l], b[i + l], acc0[l]);
      acc1[l] = std::fma(a[i + 8 + l], b[i + 8 + l], acc1[l]);
    }
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc0[l] = std::fma(a[i + l], b[i + l], acc0[l]);
  float v[8];
  for (int l = 0; l < 8; ++l) v[l] = acc0[l] + acc1[l];
  const float u0 = v[0] + v[4], u1 = v[1] + v[5], u2 = v[2] + v[6], u3 = v[3] + v[7];
  float s = (u0 + u2) + (u1 + u3);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// ---------------------------------------------------------------- stores and loads

void cpu_kv_store(const KvStoreParams& p) {
  const char* what = "cpu_kv_store";
  if (p.n < 0) fail("{}: n = {} negative", what, p.n);
  if (p.n == 0) return;
  check_kv_shape(what, p.D, p.rope_dim, p.format);
  if (p.vecs == nullptr || p.pool == nullptr) fail("{}: null vecs or pool", what);
  check_slots(what, p.slots, p.n, p.pool_slots);
  const int64_t bytes = kv_slot_bytes(p.format, p.D, p.rope_dim);
  parallel(p.n, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      if (p.slots[i] >= 0)
        encode_kv_slot(p.vecs + i * p.D, p.D, p.rope_dim, p.format, static_cast<uint8_t*>(p.pool) + p.slots[i] * bytes);
  });
}

void cpu_key_store(const KeyStoreParams& p) {
  const char* what = "cpu_key_store";
  if (p.n < 0) fail("{}: n = {} negative", what, p.n);
  if (p.n == 0) return;
  check_key_shape(what, p.hd, p.format);
  if (p.keys == nullptr || p.pool == nullptr) fail("{}: null keys or pool", what);
  check_slots(what, p.slots, p.n, p.pool_slots);
  const int64_t bytes = key_slot_bytes(p.format, p.hd);
  parallel(p.n, 64, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      if (p.slots[i] >= 0)
        encode_key_slot(p.keys + i * p.hd, p.hd, p.format, static_cast<uint8_t*>(p.pool) + p.slots[i] * bytes);
  });
}

void cpu_kv_load(const KvLoadParams& p) {
  const char* what = "cpu_kv_load";
  if (p.n < 0) fail("{}: n = {} negative", what, p.n);
  if (p.n == 0) return;
  check_kv_shape(what, p.D, p.rope_dim, p.format);
  if (p.pool == nullptr || p.out == nullptr) fail("{}: null pool or out", what);
  check_slots(what, p.slots, p.n, p.pool_slots);
  const int64_t bytes = kv_slot_bytes(p.format, p.D, p.rope_dim);
  parallel(p.n, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* o = p.out + i * p.D;
      if (p.slots[i] < 0)
        std::fill(o, o + p.D, 0.0f);
      else
        decode_kv_slot(static_cast<const uint8_t*>(p.pool) + p.slots[i] * bytes, p.D, p.rope_dim, p.format, o);
    }
  });
}

void cpu_key_load(const KeyLoadParams& p) {
  const char* what = "cpu_key_load";
  if (p.n < 0) fail("{}: n = {} negative", what, p.n);
  if (p.n == 0) return;
  check_key_shape(what, p.hd, p.format);
  if (p.pool == nullptr || p.out == nullptr) fail("{}: null pool or out", what);
  check_slots(what, p.slots, p.n, p.pool_slots);
  const int64_t bytes = key_slot_bytes(p.format, p.hd);
  parallel(p.n, 64, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* o = p.out + i * p.hd;
      if (p.slots[i] < 0)
        std::fill(o, o + p.hd, 0.0f);
      else
        decode_key_slot(static_cast<const uint8_t*>(p.pool) + p.slots[i] * bytes, p.hd, p.format, o);
    }
  });
}

// ---------------------------------------------------------------- compressor

void cpu_compress_pool_paged(const CompressPoolParams& p) {
  const char* what = "cpu_compress_pool_paged";
  if (p.n_emit < 0) fail("{}: n_emit = {} negative", what, p.n_emit);
  if (p.ratio <= 0) fail("{}: ratio = {} must be positive", what, p.ratio);
  if (p.Dc <= 0) fail("{}: Dc = {} must be positive", what, p.Dc);
  if (p.n_emit == 0) return;
  const bool overlap = p.ratio == 4;
  const int64_t W = (overlap ? 2 : 1) * p.Dc, L = (overlap ? 2 : 1) * int64_t(p.ratio), c = p.ratio;
  if (p.src == nullptr || p.ape == nullptr || p.out == nullptr) fail("{}: null src, ape or out", what);
  for (int64_t i = 0; i < p.n_emit * L; ++i) {
    const int32_t s = p.src[i];
    const int64_t e = i / L, j = i % L;
    if (s == std::numeric_limits<int32_t>::min()) {
      if (!overlap || j >= c) fail("{}: src[{}, {}] = INT32_MIN (only the previous window of overlap may be missing)", what, e, j);
    } else if (s >= 0) {
      if (s >= p.T || p.kv == nullptr || p.gate == nullptr) fail("{}: src[{}, {}] = {} out of range (T = {})", what, e, j, s, p.T);
    } else if (int64_t(-1) - s >= p.ring_rows || p.ring_kv == nullptr || p.ring_gate == nullptr) {
      fail("{}: src[{}, {}] = {} (ring row {}) out of range (ring_rows = {})", what, e, j, s, int64_t(-1) - s, p.ring_rows);
    }
  }
  parallel(p.n_emit, 1, [&](int64_t e0, int64_t e1) {
    std::vector<float> logit(static_cast<size_t>(L)), value(static_cast<size_t>(L));
    for (int64_t e = e0; e < e1; ++e) {
      const int32_t* src = p.src + e * L;
      for (int64_t ch = 0; ch < p.Dc; ++ch) {
        int64_t used = 0;
        for (int64_t j = 0; j < L; ++j) {
          if (src[j] == std::numeric_limits<int32_t>::min()) continue;  // weight 0: left out
          const bool prev = overlap && j < c;
          const int64_t col = overlap && !prev ? p.Dc + ch : ch, arow = overlap && !prev ? j - c : j;
          const float* kv = src[j] >= 0 ? p.kv + int64_t(src[j]) * W : p.ring_kv + (int64_t(-1) - src[j]) * W;
          const float* gt = src[j] >= 0 ? p.gate + int64_t(src[j]) * W : p.ring_gate + (int64_t(-1) - src[j]) * W;
          logit[size_t(used)] = gt[col] + p.ape[arow * W + col];
          value[size_t(used)] = kv[col];
          ++used;
        }
        float mx = -kInf;
        for (int64_t i = 0; i < used; ++i) mx = std::max(mx, logit[size_t(i)]);
        float den = 0.0f, num = 0.0f;
        for (int64_t i = 0; i < used; ++i) {
          const float ex = std::exp(logit[size_t(i)] - mx);
          den += ex;
          num += ex * value[size_t(i)];
        }
        p.out[e * p.Dc + ch] = num / den;
      }
    }
  });
}

void cpu_ring_store(const RingStoreParams& p) {
  const char* what = "cpu_ring_store";
  if (p.n < 0 || p.W < 0) fail("{}: n = {}, W = {} invalid", what, p.n, p.W);
  if (p.n == 0 || p.W == 0) return;
  if (!p.kv || !p.gate || !p.rows || !p.dst || !p.ring_kv || !p.ring_gate) fail("{}: null pointer", what);
  for (int64_t i = 0; i < p.n; ++i) {
    if (p.rows[i] < 0 || p.rows[i] >= p.T) fail("{}: rows[{}] = {} out of range (T = {})", what, i, p.rows[i], p.T);
    if (p.dst[i] < -1 || p.dst[i] >= p.ring_rows)
      fail("{}: dst[{}] = {} out of range (ring_rows = {})", what, i, p.dst[i], p.ring_rows);
  }
  for (int64_t i = 0; i < p.n; ++i) {
    if (p.dst[i] < 0) continue;  // skipped
    std::memcpy(p.ring_kv + int64_t(p.dst[i]) * p.W, p.kv + int64_t(p.rows[i]) * p.W, size_t(p.W) * 4);
    std::memcpy(p.ring_gate + int64_t(p.dst[i]) * p.W, p.gate + int64_t(p.rows[i]) * p.W, size_t(p.W) * 4);
  }
}

// ---------------------------------------------------------------- indexer

void cpu_indexer_topk(const IndexerTopkParams& p) {
  const char* what = "cpu_indexer_topk";
  if (p.T < 0) fail("{}: T = {} negative", what, p.T);
  if (p.T == 0) return;
  if (p.nh <= 0) fail("{}: nh = {} must be positive", what, p.nh);
  check_key_shape(what, p.hd, p.format);
  if (p.topk < 0) fail("{}: topk = {} negative", what, p.topk);
  if (p.entries_per_block <= 0) fail("{}: entries_per_block = {} must be positive", what, p.entries_per_block);
  if (!p.q || !p.wts || !p.key_pool || !p.seg || !p.visible || !p.table || !p.sel || !p.count)
    fail("{}: null pointer", what);
  if (p.scores != nullptr && p.score_stride < 0) fail("{}: score_stride = {} negative", what, p.score_stride);
  const int64_t E = p.entries_per_block;
  for (int64_t t = 0; t < p.T; ++t) {
    if (p.seg[t] < 0 || p.seg[t] >= p.segments) fail("{}: seg[{}] = {} out of range (segments = {})", what, t, p.seg[t], p.segments);
    const int64_t vis = p.visible[t];
    if (vis < 0 || vis > p.table_stride * E)
      fail("{}: visible[{}] = {} out of range (table_stride·E = {})", what, t, vis, p.table_stride * E);
    if (p.scores != nullptr && vis > p.score_stride)
      fail("{}: visible[{}] = {} exceeds score_stride = {}", what, t, vis, p.score_stride);
    const int32_t* row = p.table + int64_t(p.seg[t]) * p.table_stride;
    for (int64_t b = 0; b < (vis + E - 1) / E; ++b)
      if (row[b] < 0 || (int64_t(row[b]) + 1) * E > p.key_pool_slots)
        fail("{}: table[{}, {}] = {} out of range (key_pool_slots = {}, E = {})", what, p.seg[t], b, row[b],
             p.key_pool_slots, E);
  }
  const int64_t bytes = key_slot_bytes(p.format, p.hd);
  parallel(p.T, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> key(size_t(p.hd)), score;
    std::vector<int32_t> order;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t vis = p.visible[t];
      const int32_t* row = p.table + int64_t(p.seg[t]) * p.table_stride;
      score.assign(size_t(vis), 0.0f);
      for (int64_t w = 0; w < vis; ++w) {
        const int64_t slot = int64_t(row[w / E]) * E + w % E;
        decode_key_slot(static_cast<const uint8_t*>(p.key_pool) + slot * bytes, p.hd, p.format, key.data());
        float acc = 0.0f;
        for (int64_t h = 0; h < p.nh; ++h) {
          const float qk = ref_dot(p.q + (t * p.nh + h) * p.hd, key.data(), p.hd);
          acc += p.wts[t * p.nh + h] * std::max(qk, 0.0f);
        }
        score[size_t(w)] = acc;
      }
      const int64_t k = std::min(p.topk, vis);
      order.resize(size_t(vis));
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
        return score[size_t(a)] > score[size_t(b)] || (score[size_t(a)] == score[size_t(b)] && a < b);
      });
      for (int64_t j = 0; j < p.topk; ++j) {
        const int32_t w = j < k ? order[size_t(j)] : -1;
        p.sel[t * p.topk + j] = w < 0 ? -1 : int32_t(int64_t(row[w / E]) * E + w % E);
      }
      p.count[t] = int32_t(k);
      if (p.scores != nullptr)
        for (int64_t w = 0; w < p.score_stride; ++w) p.scores[t * p.score_stride + w] = w < vis ? score[size_t(w)] : -kInf;
    }
  });
}

// ---------------------------------------------------------------- attention

void cpu_paged_attention(const PagedAttentionParams& p) {
  const char* what = "cpu_paged_attention";
  if (p.T < 0) fail("{}: T = {} negative", what, p.T);
  if (p.T == 0) return;
  if (p.H <= 0) fail("{}: H = {} must be positive", what, p.H);
  check_kv_shape(what, p.D, p.rope_dim, p.format);
  if (p.Wn < 0 || p.comp_stride < 0) fail("{}: Wn = {}, comp_stride = {} invalid", what, p.Wn, p.comp_stride);
  if (!p.q || !p.sink || !p.out) fail("{}: null q, sink or out", what);
  if (p.Wn > 0 && p.win == nullptr) fail("{}: win is null with Wn = {}", what, p.Wn);
  const bool has_comp = p.comp != nullptr;
  if (has_comp && p.comp_count == nullptr) fail("{}: comp without comp_count", what);
  for (int64_t t = 0; t < p.T; ++t) {
    for (int64_t j = 0; j < p.Wn; ++j) {
      const int32_t v = p.win[t * p.Wn + j];
      if (v >= 0 && (v >= p.win_pool_slots || p.win_pool == nullptr))
        fail("{}: win[{}, {}] = {} out of range (win_pool_slots = {})", what, t, j, v, p.win_pool_slots);
      if (v <= -2 && (int64_t(-2) - v >= p.T || p.call_kv == nullptr))
        fail("{}: win[{}, {}] = {} (call row {}) out of range (T = {})", what, t, j, v, int64_t(-2) - v, p.T);
    }
    if (!has_comp) continue;
    if (p.comp_count[t] < 0 || p.comp_count[t] > p.comp_stride)
      fail("{}: comp_count[{}] = {} out of range (comp_stride = {})", what, t, p.comp_count[t], p.comp_stride);
    for (int64_t j = 0; j < p.comp_count[t]; ++j) {
      const int32_t v = p.comp[t * p.comp_stride + j];
      if (v < -1 || v >= p.comp_pool_slots || (v >= 0 && p.comp_pool == nullptr))
        fail("{}: comp[{}, {}] = {} out of range (comp_pool_slots = {})", what, t, j, v, p.comp_pool_slots);
    }
  }
  const int64_t bytes = kv_slot_bytes(p.format, p.D, p.rope_dim), D = p.D;
  parallel(p.T, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> keys, pr;
    for (int64_t t = t0; t < t1; ++t) {
      // The token's keys in list order (window, then compressed), decoded.
      const int64_t nc = has_comp ? p.comp_count[t] : 0;
      keys.resize(size_t((p.Wn + nc) * D));
      int64_t nk = 0;
      auto add = [&](const void* base, int64_t slot) {
        decode_kv_slot(static_cast<const uint8_t*>(base) + slot * bytes, D, p.rope_dim, p.format, keys.data() + nk * D);
        ++nk;
      };
      for (int64_t j = 0; j < p.Wn; ++j) {
        const int32_t v = p.win[t * p.Wn + j];
        if (v >= 0) add(p.win_pool, v);
        else if (v <= -2) add(p.call_kv, int64_t(-2) - v);
      }
      for (int64_t j = 0; j < nc; ++j) {
        const int32_t v = p.comp[t * p.comp_stride + j];
        if (v >= 0) add(p.comp_pool, v);
      }
      // CpuOps::sparse_attention over keys[0, nk).
      pr.resize(size_t(nk));
      for (int64_t h = 0; h < p.H; ++h) {
        const float* qv = p.q + (t * p.H + h) * D;
        float mx = p.sink[h];
        for (int64_t j = 0; j < nk; ++j) {
          pr[size_t(j)] = cpu::dot(qv, keys.data() + j * D, D) * p.scale;
          mx = std::max(mx, pr[size_t(j)]);
        }
        float den = std::exp(p.sink[h] - mx);
        for (int64_t j = 0; j < nk; ++j) {
          pr[size_t(j)] = std::exp(pr[size_t(j)] - mx);
          den += pr[size_t(j)];
        }
        float* o = p.out + (t * p.H + h) * D;
        std::fill(o, o + D, 0.0f);
        for (int64_t j = 0; j < nk; ++j) cpu::axpy(pr[size_t(j)] / den, keys.data() + j * D, o, D);
      }
    }
  });
}

}  // namespace dsv4
