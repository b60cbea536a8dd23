// The sampling op's per-row algorithm (backends/sample_ops.h) for one thread block, written once
// against a small Block interface so that it compiles both as CUDA (sample.cu: a block per row,
// warp shuffles and __syncthreads) and as plain C++ (tests/cuda/sample_emulation_test.cpp runs it
// on host threads with a barrier, so the selection logic is tested without a GPU).
//
// Thread t owns the contiguous chunk [t·C, (t+1)·C) of the vocabulary (C = ceil(V / threads)),
// so per-thread walks and one block scan give vocabulary order (tie ranks, the inverse CDF).
//  1. y = processed logits (bitmask, penalties through the CSR list, mask ids) in the row's scratch.
//  2. greedy: argmax (first maximum; y[0] NaN -> 0, as std::max_element).
//  3. sampled: max, p = exp((y - m) / T) (exp_f32: double exp rounded once, as glibc's expf
//     nearly always is), normalizer in double, min-p; top-k = an 11/11/10-bit radix select of the
//     k-th largest probability (its key = the fp32 bits) plus the lowest-id ties; top-p = the same
//     select weighted by mass (fixed point 2^-60, integer atomics: deterministic) over the top-k
//     set, the cut = the smallest prefix reaching top_p of the kept mass, ties by lower id;
//     renormalized (double) and drawn by inverse CDF in vocabulary order at u · total (chunk
//     sums in double, a block scan, one thread walks the chunk holding the target).
//  4. logprobs: log_softmax of the raw logits (double sum) and the top-N by the same radix select.
// Every reduction has a fixed order: the same inputs give the same token on every run.
//
// Against the CPU reference (backends/cpu/cpu_sample.cpp): greedy ids are identical (the
// comparisons are exact). Sampled ids are identical except at boundaries: the double sums run in
// another order, so where u · total falls within ~1e-15 (relative) of a CDF step, or a
// probability sits at the min-p / top-p cut within rounding, or exp_f32 differs from glibc's expf
// by an ulp, the GPU may take the neighbouring token.
#pragma once

#include <cmath>
#include <cstdint>

#include "backends/cuda/sm90/layer_ops/codec.h"
#include "backends/sample_ops.h"

#if defined(__CUDACC__)
#define DSV4_SAMPLE_FN __device__ __forceinline__
#else
#define DSV4_SAMPLE_FN inline
#endif

namespace dsv4::cuda::sample {

using layer::add_rn;
using layer::div_rn;
using layer::exp_f32;
using layer::mul_rn;
using layer::nan_bits;
using layer::order_key;
using layer::sub_rn;

constexpr int kBins = 2048;        // radix digits of 11 bits (the last pass 10)
constexpr int kMaxThreads = 1024;  // threads per block: a power of two in [32, 1024]

// The block's shared state (a row's selection results and histograms).
struct Shared {
  uint32_t count[kBins];
  unsigned long long mass[kBins];
  int32_t found_bin;
  uint32_t found_count;
  unsigned long long found_above;
  int32_t chosen;
  int32_t top_n;
  int32_t top_id[kMaxTopLogprobs];
  uint32_t top_key[kMaxTopLogprobs];
};

struct Sum {
  template <class T>
  DSV4_HD T operator()(T a, T b) const { return a + b; }
};
struct Max {
  template <class T>
  DSV4_HD T operator()(T a, T b) const { return a < b ? b : a; }
};
struct Min {
  template <class T>
  DSV4_HD T operator()(T a, T b) const { return b < a ? b : a; }
};

DSV4_HD double exp_f64(double x) {
#if defined(__CUDACC__)
  return ::exp(x);
#else
  return std::exp(x);
#endif
}
DSV4_HD double log_f64(double x) {
#if defined(__CUDACC__)
  return ::log(x);
#else
  return std::log(x);
#endif
}

// Mass of a probability (its fp32 bits) in fixed point, 2^60 = 1.
DSV4_HD unsigned long long fixed_mass(uint32_t bits) {
  return static_cast<unsigned long long>(double(bits_to_f32(bits)) * 0x1p60);
}
// Key of a raw logit for the top-N (order_key; NaN lowest: its order is the CPU's undefined one).
DSV4_HD uint32_t raw_key(float x) { return nan_bits(f32_to_bits(x)) ? 0u : order_key(x); }

// Keeps the elements above a cut key, and of those equal to it the `need` with the lowest ids
// (base = how many equal ones precede this thread's chunk; walks see the chunk in id order).
struct TieCut {
  bool on = false;
  uint32_t key = 0, need = 0, base = 0, seen = 0;
  DSV4_HD bool keep(uint32_t k) {
    if (!on || k > key) return true;
    if (k < key) return false;
    const bool in = base + seen < need;
    ++seen;
    return in;
  }
};

// Block interface (every thread of the block calls each member in the same order):
//   int tid(), threads(); void sync(); Shared& sh();
//   T reduce(T v, Op) for T in {double, float, int32_t, uint32_t, unsigned long long};
//   T exclusive_scan(T v, T* total) for T in {uint32_t, unsigned long long, double};
//   T atomic_add(T* shared, T v) for T in {uint32_t, int32_t, unsigned long long}.

// Among the keys the walk yields (walk(f) calls f(key) for the thread's chunk in id order), the
// k-th largest (1 <= k <= their number): *key_out, and how many of the keys equal to it are
// among the k largest (*need_out). False when fewer than k keys exist.
template <class Block, class Walk>
DSV4_SAMPLE_FN bool select_count(Block& blk, Walk walk, uint32_t k, uint32_t* key_out, uint32_t* need_out) {
  Shared& s = blk.sh();
  uint32_t prefix = 0, mask = 0, need = k;
  for (int pass = 0; pass < 3; ++pass) {
    const int shift = pass == 0 ? 21 : (pass == 1 ? 10 : 0);
    const int nb = pass == 2 ? 1024 : 2048;
    for (int i = blk.tid(); i < nb; i += blk.threads()) s.count[i] = 0;
    if (blk.tid() == 0) s.found_bin = -1;
    blk.sync();
    walk([&](uint32_t key) {
      if ((key & mask) == prefix) blk.atomic_add(&s.count[(key >> shift) & uint32_t(nb - 1)], 1u);
    });
    blk.sync();
    const int per = nb / blk.threads();  // bins per thread, in descending order
    uint32_t local = 0;
    for (int j = 0; j < per; ++j) local += s.count[nb - 1 - (blk.tid() * per + j)];
    uint32_t total = 0;
    uint32_t above = blk.exclusive_scan(local, &total);
    for (int j = 0; j < per; ++j) {
      const int bin = nb - 1 - (blk.tid() * per + j);
      const uint32_t c = s.count[bin];
      if (above < need && need <= above + c) {
        s.found_bin = bin;
        s.found_above = above;
      }
      above += c;
    }
    blk.sync();
    const int bin = s.found_bin;
    const uint32_t skipped = uint32_t(s.found_above);
    blk.sync();
    if (bin < 0) return false;
    need -= skipped;
    prefix |= uint32_t(bin) << shift;
    mask |= uint32_t(nb - 1) << shift;
  }
  *key_out = prefix;
  *need_out = need;
  return true;
}

// The same select weighted by fixed_mass: the key of the element at which the mass of the keys
// in descending order first reaches `target` (> 0). *rest_out = target minus the mass of the
// larger keys, *count_out = how many keys equal the found one. False when the mass is below target.
template <class Block, class Walk>
DSV4_SAMPLE_FN bool select_mass(Block& blk, Walk walk, unsigned long long target, uint32_t* key_out,
                                unsigned long long* rest_out, uint32_t* count_out) {
  Shared& s = blk.sh();
  uint32_t prefix = 0, mask = 0, count = 0;
  for (int pass = 0; pass < 3; ++pass) {
    const int shift = pass == 0 ? 21 : (pass == 1 ? 10 : 0);
    const int nb = pass == 2 ? 1024 : 2048;
    for (int i = blk.tid(); i < nb; i += blk.threads()) {
      s.count[i] = 0;
      s.mass[i] = 0;
    }
    if (blk.tid() == 0) s.found_bin = -1;
    blk.sync();
    walk([&](uint32_t key) {
      if ((key & mask) != prefix) return;
      const uint32_t bin = (key >> shift) & uint32_t(nb - 1);
      blk.atomic_add(&s.count[bin], 1u);
      blk.atomic_add(&s.mass[bin], fixed_mass(key));
    });
    blk.sync();
    const int per = nb / blk.threads();
    unsigned long long local = 0;
    for (int j = 0; j < per; ++j) local += s.mass[nb - 1 - (blk.tid() * per + j)];
    unsigned long long total = 0;
    unsigned long long above = blk.exclusive_scan(local, &total);
    for (int j = 0; j < per; ++j) {
      const int bin = nb - 1 - (blk.tid() * per + j);
      const unsigned long long m = s.mass[bin];
      if (above < target && target <= above + m) {
        s.found_bin = bin;
        s.found_above = above;
        s.found_count = s.count[bin];
      }
      above += m;
    }
    blk.sync();
    const int bin = s.found_bin;
    const unsigned long long skipped = s.found_above;
    count = s.found_count;
    blk.sync();
    if (bin < 0) return false;
    target -= skipped;
    prefix |= uint32_t(bin) << shift;
    mask |= uint32_t(nb - 1) << shift;
  }
  *key_out = prefix;
  *rest_out = target;
  *count_out = count;
  return true;
}

// Samples row r of `a` (every pointer readable by the block); y: the row's scratch [V].
template <class Block>
DSV4_SAMPLE_FN void sample_row(Block& blk, const SampleArgs& a, int64_t r, float* y) {
  Shared& s = blk.sh();
  const SampleRowParams P = a.rows[r];
  const int64_t V = a.V;
  const int T = blk.threads(), t = blk.tid();
  const int64_t C = (V + T - 1) / T;
  const int64_t b = int64_t(t) * C < V ? int64_t(t) * C : V;
  const int64_t e = b + C < V ? b + C : V;
  SampledRow* out = a.out + r;
  const float neg_inf = bits_to_f32(0xFF800000u);
  const float nan = bits_to_f32(layer::kQuietNaN);

  const bool bad = P.logit_row < 0 || P.logit_row >= a.logit_rows || P.penalty_begin < 0 ||
                   P.penalty_begin > P.penalty_end || P.penalty_end > a.penalty_count || P.mask_begin < 0 ||
                   P.mask_begin > P.mask_end || P.mask_end > a.mask_count || P.allowed_row < -1 ||
                   P.allowed_row >= a.allowed_rows || P.logprobs < -1 || P.logprobs > kMaxTopLogprobs;
  if (bad) {
    if (t == 0) {
      out->id = 0;
      out->status = int32_t(SampleStatus::BadRow);
      out->value = 0.0f;
      out->logprob = 0.0f;
      out->top_count = 0;
    }
    return;
  }
  const float* x = a.logits + int64_t(P.logit_row) * V;
  const uint64_t* allowed = P.allowed_row >= 0 ? a.allowed + int64_t(P.allowed_row) * allowed_words(V) : nullptr;

  // ---- 1. processed logits ----
  for (int64_t v = b; v < e; ++v)
    y[v] = (allowed == nullptr || ((allowed[v >> 6] >> (v & 63)) & 1u) != 0) ? x[v] : neg_inf;
  blk.sync();
  if (P.repetition_penalty != 1.0f)
    for (int64_t i = P.penalty_begin + t; i < P.penalty_end; i += T) {
      const PenaltyToken pt = a.penalties[i];
      if ((pt.in_prompt != 0 || pt.output_count > 0) && pt.id >= 0 && pt.id < V) {
        const float v0 = y[pt.id];
        y[pt.id] = v0 > 0 ? div_rn(v0, P.repetition_penalty) : mul_rn(v0, P.repetition_penalty);
      }
    }
  blk.sync();
  if (P.presence_penalty != 0.0f || P.frequency_penalty != 0.0f)
    for (int64_t i = P.penalty_begin + t; i < P.penalty_end; i += T) {
      const PenaltyToken pt = a.penalties[i];
      if (pt.output_count > 0 && pt.id >= 0 && pt.id < V)
        y[pt.id] = sub_rn(y[pt.id], add_rn(P.presence_penalty, mul_rn(P.frequency_penalty, float(pt.output_count))));
    }
  blk.sync();
  for (int64_t i = P.mask_begin + t; i < P.mask_end; i += T) {
    const int32_t id = a.mask_ids[i];
    if (id >= 0 && id < V) y[id] = neg_inf;
  }
  blk.sync();

  int32_t id = 0;
  SampleStatus status = SampleStatus::Ok;
  float value = 0.0f;
  const bool nan0 = nan_bits(f32_to_bits(y[0]));
  if (P.temperature == 0.0f) {
    // ---- 2. greedy: the first maximum (key = order, then the complement of the id) ----
    unsigned long long best = 0;
    for (int64_t v = b; v < e; ++v) {
      const float yv = y[v];
      if (nan_bits(f32_to_bits(yv))) continue;
      const unsigned long long key = (static_cast<unsigned long long>(order_key(yv)) << 32) | uint32_t(~uint32_t(v));
      best = best < key ? key : best;
    }
    best = blk.reduce(best, Max{});
    id = nan0 ? 0 : int32_t(~uint32_t(best & 0xFFFFFFFFull));
    value = y[id];
  } else {
    // ---- 3. sampled ----
    float m = neg_inf;
    int32_t has_nan = 0;
    for (int64_t v = b; v < e; ++v) {
      const float yv = y[v];
      if (nan_bits(f32_to_bits(yv)))
        has_nan = 1;
      else
        m = m < yv ? yv : m;
    }
    m = blk.reduce(m, Max{});
    has_nan = blk.reduce(has_nan, Max{});
    if (nan0) m = nan;
    value = m;
    const uint32_t mb = f32_to_bits(m) & 0x7FFFFFFFu;
    if (mb >= 0x7F800000u) {
      status = SampleStatus::NotFinite;
    } else if (has_nan != 0) {
      status = SampleStatus::EmptyFiltered;
    } else {
      double part = 0.0;
      for (int64_t v = b; v < e; ++v) {
        const float p = exp_f32(div_rn(sub_rn(y[v], m), P.temperature));
        y[v] = p;
        part += double(p);
      }
      const double sum = blk.reduce(part, Sum{});
      float pmax = 0.0f;
      for (int64_t v = b; v < e; ++v) {
        const float p = float(double(y[v]) / sum);
        y[v] = p;
        pmax = pmax < p ? p : pmax;
      }
      pmax = blk.reduce(pmax, Max{});
      if (P.min_p > 0.0f) {
        const float thr = mul_rn(P.min_p, pmax);
        for (int64_t v = b; v < e; ++v)
          if (y[v] < thr) y[v] = 0.0f;
      }
      blk.sync();

      // top-k: the k largest probabilities, ties by lower id
      TieCut cut_k;
      if (P.top_k > 0 && int64_t(P.top_k) < V) {
        uint32_t key = 0, need = 0;
        auto all = [&](auto&& f) {
          for (int64_t v = b; v < e; ++v) f(f32_to_bits(y[v]));
        };
        select_count(blk, all, uint32_t(P.top_k), &key, &need);
        uint32_t eq = 0, total = 0;
        for (int64_t v = b; v < e; ++v) eq += f32_to_bits(y[v]) == key ? 1u : 0u;
        const uint32_t base = blk.exclusive_scan(eq, &total);
        cut_k = TieCut{true, key, need, base, 0};
      }
      auto kept_k = [&](auto&& f) {
        TieCut c = cut_k;
        for (int64_t v = b; v < e; ++v) {
          const uint32_t key = f32_to_bits(y[v]);
          if (c.keep(key)) f(key);
        }
      };
      // top-p over the top-k set: the smallest prefix reaching top_p of its mass
      TieCut cut_p;
      if (P.top_p < 1.0f) {
        unsigned long long kept = 0;
        kept_k([&](uint32_t key) { kept += fixed_mass(key); });
        kept = blk.reduce(kept, Sum{});
        unsigned long long target = static_cast<unsigned long long>(double(P.top_p) * double(kept));
        if (target == 0) target = 1;
        uint32_t key = 0, count = 0;
        unsigned long long rest = 0;
        if (select_mass(blk, kept_k, target, &key, &rest, &count)) {
          const unsigned long long w = fixed_mass(key);
          unsigned long long need = w > 0 ? (rest + w - 1) / w : 1;
          if (need < 1) need = 1;
          if (need > count) need = count;
          uint32_t eq = 0, total = 0;
          kept_k([&](uint32_t k) { eq += k == key ? 1u : 0u; });
          const uint32_t base = blk.exclusive_scan(eq, &total);
          cut_p = TieCut{true, key, uint32_t(need), base, 0};
        }
      }
      auto kept = [&](auto&& f) {
        TieCut ck = cut_k, cp = cut_p;
        for (int64_t v = b; v < e; ++v) {
          const uint32_t key = f32_to_bits(y[v]);
          if (ck.keep(key) && cp.keep(key)) f(v, bits_to_f32(key));
        }
      };
      double part_total = 0.0;
      kept([&](int64_t, float p) { part_total += double(p); });
      const double total = blk.reduce(part_total, Sum{});
      if (!(total > 0.0)) {
        status = SampleStatus::EmptyFiltered;
      } else {
        // inverse CDF of the renormalized probabilities q = fp32(p / total) in vocabulary order
        double own = 0.0;
        int32_t last = -1;
        kept([&](int64_t v, float p) {
          const float q = float(double(p) / total);
          if (q > 0.0f) {
            own += double(q);
            last = int32_t(v);
          }
        });
        double total_q = 0.0;
        const double before = blk.exclusive_scan(own, &total_q);
        const int32_t last_all = blk.reduce(last, Max{});
        if (last_all < 0) {
          status = SampleStatus::EmptyDistribution;
        } else {
          const double target = P.u * total_q;
          const int32_t mine = own > 0.0 && target < before + own ? t : 0x7FFFFFFF;
          const int32_t first = blk.reduce(mine, Min{});
          if (first == 0x7FFFFFFF) {
            id = last_all;
          } else {
            if (t == first) {
              double cum = before;
              int32_t pick = last;
              bool done = false;
              kept([&](int64_t v, float p) {
                if (done) return;
                const float q = float(double(p) / total);
                if (q <= 0.0f) return;
                cum += double(q);
                if (target < cum) {
                  pick = int32_t(v);
                  done = true;
                }
              });
              s.chosen = pick;
            }
            blk.sync();
            id = s.chosen;
            blk.sync();
          }
        }
      }
    }
  }

  // ---- 4. logprobs of the raw distribution ----
  float logprob = 0.0f;
  int32_t top_count = 0;
  if (status == SampleStatus::Ok && P.logprobs >= 0) {
    float mr = neg_inf;
    for (int64_t v = b; v < e; ++v) {
      const float xv = x[v];
      if (!nan_bits(f32_to_bits(xv))) mr = mr < xv ? xv : mr;
    }
    mr = blk.reduce(mr, Max{});
    if (nan_bits(f32_to_bits(x[0]))) mr = nan;
    double part = 0.0;
    for (int64_t v = b; v < e; ++v) part += exp_f64(double(sub_rn(x[v], mr)));
    const double z = blk.reduce(part, Sum{});
    const float log_z = add_rn(mr, float(log_f64(z)));
    logprob = sub_rn(x[id], log_z);
    top_count = P.logprobs < V ? P.logprobs : int32_t(V);
    if (top_count > 0) {
      auto raw = [&](auto&& f) {
        for (int64_t v = b; v < e; ++v) f(raw_key(x[v]));
      };
      uint32_t key = 0, need = 0;
      select_count(blk, raw, uint32_t(top_count), &key, &need);
      uint32_t eq = 0, total = 0;
      for (int64_t v = b; v < e; ++v) eq += raw_key(x[v]) == key ? 1u : 0u;
      const uint32_t base = blk.exclusive_scan(eq, &total);
      if (t == 0) s.top_n = 0;
      blk.sync();
      TieCut c{true, key, need, base, 0};
      for (int64_t v = b; v < e; ++v) {
        const uint32_t k = raw_key(x[v]);
        if (!c.keep(k)) continue;
        const int32_t slot = blk.atomic_add(&s.top_n, 1);
        if (slot < kMaxTopLogprobs) {
          s.top_id[slot] = int32_t(v);
          s.top_key[slot] = k;
        }
      }
      blk.sync();
      if (t == 0) {
        const int n = s.top_n < top_count ? s.top_n : top_count;
        for (int i = 1; i < n; ++i)  // insertion sort: key descending, then id ascending
          for (int j = i; j > 0; --j) {
            const bool before = s.top_key[j] > s.top_key[j - 1] ||
                                (s.top_key[j] == s.top_key[j - 1] && s.top_id[j] < s.top_id[j - 1]);
            if (!before) break;
            const uint32_t kk = s.top_key[j];
            s.top_key[j] = s.top_key[j - 1];
            s.top_key[j - 1] = kk;
            const int32_t ii = s.top_id[j];
            s.top_id[j] = s.top_id[j - 1];
            s.top_id[j - 1] = ii;
          }
        for (int i = 0; i < n; ++i) {
          out->top_ids[i] = s.top_id[i];
          out->top_logprobs[i] = sub_rn(x[s.top_id[i]], log_z);
        }
        top_count = n;
      }
    }
  }
  if (t == 0) {
    out->id = id;
    out->status = int32_t(status);
    out->value = value;
    out->logprob = logprob;
    out->top_count = top_count;
  }
}

}  // namespace dsv4::cuda::sample
