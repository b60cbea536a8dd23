// The paged cache-side ops on the CPU (backends/paged_ops.h): the same arithmetic as the
// contiguous ops (compress_pool, indexer_scores + topk_indices, sparse_attention) over vectors
// read from the pools through slots.
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

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

void encode_kv(const float* v, int64_t D, int64_t rd, KvFormat f, uint8_t* slot) {
  if (f == KvFormat::F32) {
    std::memcpy(slot, v, size_t(D) * 4);
    return;
  }
  const int64_t nope = D - rd;
  std::memset(slot, 0, size_t(kv_slot_bytes(f, D, rd)));
  quantize_fp8_blocks(v, size_t(nope), 64, slot, slot + nope + 2 * rd);
  uint16_t* rope = reinterpret_cast<uint16_t*>(slot + nope);
  for (int64_t i = 0; i < rd; ++i) rope[i] = f32_to_bf16(v[nope + i]);
}

void decode_kv(const uint8_t* slot, int64_t D, int64_t rd, KvFormat f, float* out) {
  if (f == KvFormat::F32) {
    std::memcpy(out, slot, size_t(D) * 4);
    return;
  }
  const int64_t nope = D - rd;
  const uint8_t* scales = slot + nope + 2 * rd;
  for (int64_t i = 0; i < nope; ++i) out[i] = e4m3_to_f32(slot[i]) * e8m0_to_f32(scales[i / 64]);
  const uint16_t* rope = reinterpret_cast<const uint16_t*>(slot + nope);
  for (int64_t i = 0; i < rd; ++i) out[nope + i] = bf16_to_f32(rope[i]);
}

void encode_key(const float* v, int64_t hd, KeyFormat f, uint8_t* slot) {
  if (f == KeyFormat::F32) {
    std::memcpy(slot, v, size_t(hd) * 4);
    return;
  }
  std::memset(slot, 0, size_t(key_slot_bytes(f, hd)));
  std::vector<uint8_t> codes(static_cast<size_t>(hd));
  quantize_fp4_blocks(v, size_t(hd), 32, codes.data(), slot + hd / 2);
  for (int64_t i = 0; i < hd; i += 2) slot[i / 2] = uint8_t((codes[size_t(i)] & 0xF) | ((codes[size_t(i + 1)] & 0xF) << 4));
}

void decode_key(const uint8_t* slot, int64_t hd, KeyFormat f, float* out) {
  if (f == KeyFormat::F32) {
    std::memcpy(out, slot, size_t(hd) * 4);
    return;
  }
  const uint8_t* scales = slot + hd / 2;
  for (int64_t i = 0; i < hd; ++i) out[i] = e2m1_packed_get(slot, size_t(i)) * e8m0_to_f32(scales[i / 32]);
}

}  // namespace

void CpuOps::kv_store(const KvStoreParams& p) {
  const int64_t bytes = kv_slot_bytes(p.format, p.D, p.rope_dim);
  auto* pool = static_cast<uint8_t*>(p.pool);
  parallel_rows(p.n, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      if (p.slots[i] >= 0) encode_kv(p.vecs + i * p.D, p.D, p.rope_dim, p.format, pool + int64_t(p.slots[i]) * bytes);
  });
}

void CpuOps::key_store(const KeyStoreParams& p) {
  const int64_t bytes = key_slot_bytes(p.format, p.hd);
  auto* pool = static_cast<uint8_t*>(p.pool);
  for (int64_t i = 0; i < p.n; ++i)
    if (p.slots[i] >= 0) encode_key(p.keys + i * p.hd, p.hd, p.format, pool + int64_t(p.slots[i]) * bytes);
}

void CpuOps::kv_load(const KvLoadParams& p) {
  const int64_t bytes = kv_slot_bytes(p.format, p.D, p.rope_dim);
  const auto* pool = static_cast<const uint8_t*>(p.pool);
  for (int64_t i = 0; i < p.n; ++i) {
    if (p.slots[i] < 0) {
      std::fill(p.out + i * p.D, p.out + (i + 1) * p.D, 0.0f);
      continue;
    }
    decode_kv(pool + int64_t(p.slots[i]) * bytes, p.D, p.rope_dim, p.format, p.out + i * p.D);
  }
}

void CpuOps::key_load(const KeyLoadParams& p) {
  const int64_t bytes = key_slot_bytes(p.format, p.hd);
  const auto* pool = static_cast<const uint8_t*>(p.pool);
  for (int64_t i = 0; i < p.n; ++i) {
    if (p.slots[i] < 0) {
      std::fill(p.out + i * p.hd, p.out + (i + 1) * p.hd, 0.0f);
      continue;
    }
    decode_key(pool + int64_t(p.slots[i]) * bytes, p.hd, p.format, p.out + i * p.hd);
  }
}

void CpuOps::compress_pool_paged(const CompressPoolParams& p) {
  const bool overlap = p.ratio == 4;
  const int64_t c = p.ratio, Dc = p.Dc, W = overlap ? 2 * Dc : Dc, L = overlap ? 2 * c : c;
  parallel_rows(p.n_emit, 1, [&](int64_t e0, int64_t e1) {
    std::vector<float> logit(static_cast<size_t>(L)), value(static_cast<size_t>(L));
    std::vector<const float*> kvr(static_cast<size_t>(L)), gr(static_cast<size_t>(L));
    for (int64_t e = e0; e < e1; ++e) {
      const int32_t* src = p.src + e * L;
      for (int64_t j = 0; j < L; ++j) {
        const int32_t s = src[j];
        if (s == std::numeric_limits<int32_t>::min()) {
          kvr[size_t(j)] = gr[size_t(j)] = nullptr;
        } else if (s >= 0) {
          kvr[size_t(j)] = p.kv + int64_t(s) * W;
          gr[size_t(j)] = p.gate + int64_t(s) * W;
        } else {
          kvr[size_t(j)] = p.ring_kv + int64_t(-1 - s) * W;
          gr[size_t(j)] = p.ring_gate + int64_t(-1 - s) * W;
        }
      }
      for (int64_t ch = 0; ch < Dc; ++ch) {
        int64_t used = 0;
        for (int64_t j = 0; j < L; ++j) {
          if (kvr[size_t(j)] == nullptr) continue;
          const bool prev = overlap && j < c;
          const int64_t cc = overlap && !prev ? Dc + ch : ch;
          const int64_t row = overlap && !prev ? j - c : j;
          logit[size_t(used)] = gr[size_t(j)][cc] + p.ape[row * W + cc];
          value[size_t(used)] = kvr[size_t(j)][cc];
          ++used;
        }
        float mx = kNegInf;
        for (int64_t i = 0; i < used; ++i) mx = std::max(mx, logit[size_t(i)]);
        float den = 0.0f, num = 0.0f;
        for (int64_t i = 0; i < used; ++i) {
          const float x = std::exp(logit[size_t(i)] - mx);
          den += x;
          num += x * value[size_t(i)];
        }
        p.out[e * Dc + ch] = num / den;
      }
    }
  });
}

void CpuOps::ring_store(const RingStoreParams& p) {
  for (int64_t i = 0; i < p.n; ++i) {
    std::memcpy(p.ring_kv + int64_t(p.dst[i]) * p.W, p.kv + int64_t(p.rows[i]) * p.W, size_t(p.W) * 4);
    std::memcpy(p.ring_gate + int64_t(p.dst[i]) * p.W, p.gate + int64_t(p.rows[i]) * p.W, size_t(p.W) * 4);
  }
}

void CpuOps::indexer_topk(const IndexerTopkParams& p) {
  const int64_t bytes = key_slot_bytes(p.format, p.hd), E = p.entries_per_block;
  const auto* pool = static_cast<const uint8_t*>(p.key_pool);
  parallel_rows(p.T, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> key(static_cast<size_t>(p.hd)), score;
    std::vector<int32_t> order, slot_of;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ne = p.visible[t];
      const int32_t* table = p.table + int64_t(p.seg[t]) * p.table_stride;
      score.assign(size_t(ne), 0.0f);
      slot_of.assign(size_t(ne), -1);
      for (int64_t w = 0; w < ne; ++w) {
        const int32_t block = table[w / E];
        if (block < 0) fail("indexer_topk: token {} entry {} has no cache block", t, w);
        const int32_t slot = int32_t(block * E + w % E);
        slot_of[size_t(w)] = slot;
        decode_key(pool + int64_t(slot) * bytes, p.hd, p.format, key.data());
        float acc = 0.0f;
        for (int64_t h = 0; h < p.nh; ++h) {
          const float qk = cpu::dot(p.q + (t * p.nh + h) * p.hd, key.data(), p.hd);
          acc += p.wts[t * p.nh + h] * std::max(qk, 0.0f);
        }
        score[size_t(w)] = acc;
      }
      if (p.scores != nullptr) {
        float* row = p.scores + t * p.score_stride;
        for (int64_t w = 0; w < p.score_stride; ++w) row[w] = w < ne ? score[size_t(w)] : kNegInf;
      }
      const int64_t k = std::min(p.topk, ne);
      order.resize(size_t(ne));
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
        return score[size_t(a)] > score[size_t(b)] || (score[size_t(a)] == score[size_t(b)] && a < b);
      });
      for (int64_t j = 0; j < p.topk; ++j) p.sel[t * p.topk + j] = j < k ? slot_of[size_t(order[size_t(j)])] : -1;
      p.count[t] = int32_t(k);
    }
  });
}

void CpuOps::paged_attention(const PagedAttentionParams& p) {
  const int64_t bytes = kv_slot_bytes(p.format, p.D, p.rope_dim);
  const auto* win = static_cast<const uint8_t*>(p.win_pool);
  const auto* call = static_cast<const uint8_t*>(p.call_kv);
  const auto* comp = static_cast<const uint8_t*>(p.comp_pool);
  parallel_rows(p.T, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> keys, prob;
    for (int64_t t = t0; t < t1; ++t) {
      // Decode this token's keys once for all heads (window first, then compressed, in order).
      keys.clear();
      for (int64_t j = 0; j < p.Wn; ++j) {
        const int32_t v = p.win[t * p.Wn + j];
        if (v == -1) continue;
        const uint8_t* slot = v >= 0 ? win + int64_t(v) * bytes : call + int64_t(-2 - v) * bytes;
        keys.resize(keys.size() + size_t(p.D));
        decode_kv(slot, p.D, p.rope_dim, p.format, keys.data() + keys.size() - size_t(p.D));
      }
      const int64_t nc = p.comp != nullptr ? p.comp_count[t] : 0;
      for (int64_t j = 0; j < nc; ++j) {
        const int32_t v = p.comp[t * p.comp_stride + j];
        if (v < 0) continue;
        keys.resize(keys.size() + size_t(p.D));
        decode_kv(comp + int64_t(v) * bytes, p.D, p.rope_dim, p.format, keys.data() + keys.size() - size_t(p.D));
      }
      const int64_t nk = int64_t(keys.size()) / p.D;
      prob.resize(size_t(nk));
      for (int64_t h = 0; h < p.H; ++h) {
        const float* qv = p.q + (t * p.H + h) * p.D;
        float mx = p.sink[h];
        for (int64_t j = 0; j < nk; ++j) {
          prob[size_t(j)] = cpu::dot(qv, keys.data() + j * p.D, p.D) * p.scale;
          mx = std::max(mx, prob[size_t(j)]);
        }
        float den = std::exp(p.sink[h] - mx);
        for (int64_t j = 0; j < nk; ++j) {
          prob[size_t(j)] = std::exp(prob[size_t(j)] - mx);
          den += prob[size_t(j)];
        }
        float* o = p.out + (t * p.H + h) * p.D;
        std::fill(o, o + p.D, 0.0f);
        for (int64_t j = 0; j < nk; ++j) cpu::axpy(prob[size_t(j)] / den, keys.data() + j * p.D, o, p.D);
      }
    }
  });
}

}  // namespace dsv4
