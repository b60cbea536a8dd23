#include "model/step_plan.h"

#include <algorithm>
#include <limits>
#include <set>

#include "core/error.h"

namespace dsv4 {

namespace {


int32_t window_slot(const SequenceTables& t, int64_t pos) {
  const int64_t b = pos / kCacheBlockTokens;
  if (b >= int64_t(t.window.size())) return -2;  // beyond the reserved length
  const int32_t block = t.window[size_t(b)];
  return block < 0 ? -1 : int32_t(block * kCacheBlockTokens + pos % kCacheBlockTokens);
}

void plan_emissions(EmissionPlan& e, int ratio, const SegmentSpan& s, const SequenceTables& t, bool tails) {
  const bool overlap = ratio == 4;
  const int64_t c = ratio, R = compressor_ring_tokens(ratio), L = overlap ? 2 * c : c;
  const int64_t per_block = kCacheBlockTokens / c;
  const std::span<const int32_t> table = ratio == 4 ? t.csa : t.hca;
  auto source = [&](int64_t p) -> int32_t {
    if (p >= s.start) return int32_t(s.offset + p - s.start);
    if (p < s.start - R) fail("plan: sequence {}: compressor position {} already left the ring", s.seq, p);
    return int32_t(-1 - (int64_t(t.state_slot) * R + p % R));
  };
  for (int64_t w = s.start / c; w < (s.start + s.length) / c; ++w) {
    for (int64_t j = 0; j < L; ++j) {
      const int64_t p = overlap ? (w - 1) * c + j : w * c + j;
      e.src.push_back(p < 0 ? std::numeric_limits<int32_t>::min() : source(p));
    }
    e.first_pos.push_back(w * c);
    const int32_t block = table[size_t(w / per_block)];
    e.slot.push_back(int32_t(block * per_block + w % per_block));
    ++e.n;
  }
  for (int64_t p = std::max(s.start, s.start + s.length - R); p < s.start + s.length; ++p) {
    e.ring_rows.push_back(int32_t(s.offset + p - s.start));
    e.ring_dst.push_back(int32_t(int64_t(t.state_slot) * R + p % R));
  }
  if (!tails || ratio != 4) return;
  for (int64_t p = s.start; p < s.start + s.length; ++p) {
    const int64_t in_block = p % kCacheBlockTokens, b = p / kCacheBlockTokens;
    if (in_block < kCacheBlockTokens - kCompressorTailTokens) continue;
    const int32_t block = b < int64_t(t.window.size()) ? t.window[size_t(b)] : -1;
    if (block < 0) continue;  // no window block there: no resume point either
    e.tail_rows.push_back(int32_t(s.offset + p - s.start));
    e.tail_dst.push_back(int32_t(block * kCompressorTailTokens + in_block - (kCacheBlockTokens - kCompressorTailTokens)));
  }
}

}  // namespace

StepPlan plan_step(const ModelConfig& config, const KvCache& cache, std::vector<SegmentSpan> spans,
                   std::vector<int64_t> ids, const std::vector<bool>& all_logits, const PlanPadding* pad) {
  StepPlan plan;
  const int64_t real = int64_t(spans.size());
  plan.real_segments = real;
  if (pad != nullptr) {
    if (real > pad->segments) fail("forward: {} segments do not fit a graph of {}", real, pad->segments);
    for (const SegmentSpan& s : spans)
      if (s.length != pad->segment_tokens)
        fail("forward: a segment of {} tokens in a graph of {}-token segments", s.length, pad->segment_tokens);
    for (int64_t i = real; i < pad->segments; ++i) {
      spans.push_back({-1 - i, 0, 0, pad->segment_tokens});
      ids.insert(ids.end(), size_t(pad->segment_tokens), 0);
    }
  }
  plan.T = int64_t(ids.size());
  plan.Wn = config.sliding_window;
  bool has4 = false, has128 = false;
  for (const LayerSpec& l : config.layers) {
    has4 |= l.compress_ratio == 4;
    has128 |= l.compress_ratio == 128;
  }
  plan.e4.ratio = 4;
  plan.e128.ratio = 128;
  std::set<SequenceId> seen;
  int64_t offset = 0;
  std::vector<SequenceTables> tables;
  for (size_t i = 0; i < spans.size(); ++i) {
    SegmentSpan& s = spans[i];
    if (s.length <= 0) fail("forward: segment {} (sequence {}) has no tokens", i, s.seq);
    if (s.start < 0) fail("forward: segment {} starts at negative position {}", i, s.start);
    if (!seen.insert(s.seq).second) fail("forward: sequence {} appears in two segments of one call", s.seq);
    s.offset = offset;
    offset += s.length;
    if (int64_t(i) >= real) {  // padding: no cache
      tables.push_back({});
      continue;
    }
    const SequenceTables t = cache.tables(s.seq);
    if (t.tokens < s.start + s.length)
      fail("forward: sequence {} holds room for {} tokens, the call needs {}", s.seq, t.tokens, s.start + s.length);
    tables.push_back(t);
  }
  if (offset != plan.T) fail("forward: segments cover {} tokens, {} ids given", offset, plan.T);
  for (int64_t t = 0; t < plan.T; ++t)
    if (ids[size_t(t)] < 0 || ids[size_t(t)] >= config.vocab_size)
      fail("token id {} at row {} is outside the vocabulary [0, {})", ids[size_t(t)], t, config.vocab_size);

  // Per token: position, segment, window store slot and window keys; CSA / HCA visibility.
  const int64_t W = plan.Wn;
  int64_t max_blocks = 0, max_hca = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    max_blocks = std::max<int64_t>(max_blocks, int64_t(tables[i].csa.size()));
    max_hca = std::max<int64_t>(max_hca, (spans[i].start + spans[i].length) / 128);
  }
  plan.table4_stride = std::max<int64_t>(max_blocks, 1);
  if (pad != nullptr) {
    int64_t max_vis = 0;
    for (size_t i = 0; i < size_t(real); ++i) max_vis = std::max(max_vis, (spans[i].start + spans[i].length) / 4);
    if (max_blocks > pad->table_blocks || max_hca > pad->max_hca_entries || max_vis > pad->max_visible4)
      fail("forward: a context of {} tokens is longer than the graph's", max_vis * 4);
    plan.table4_stride = pad->table_blocks;
    max_hca = pad->max_hca_entries;
  }
  plan.table4.assign(size_t(std::max<size_t>(spans.size(), 1) * size_t(plan.table4_stride)), -1);
  plan.comp128_stride = std::max<int64_t>(max_hca, 1);
  plan.comp128.assign(size_t(plan.T * plan.comp128_stride), -1);
  plan.count128.assign(size_t(plan.T), 0);
  plan.win.assign(size_t(plan.T * W), -1);
  for (size_t i = 0; i < spans.size(); ++i) {
    const SegmentSpan& s = spans[i];
    const SequenceTables& tb = tables[i];
    if (has4)
      for (size_t b = 0; b < tb.csa.size(); ++b) plan.table4[i * size_t(plan.table4_stride) + b] = tb.csa[b];
    const bool dummy = int64_t(i) >= real;
    for (int64_t r = 0; r < s.length; ++r) {
      const int64_t t = s.offset + r, pt = s.start + r;
      plan.positions.push_back(pt);
      plan.seg.push_back(int32_t(i));
      plan.rows.push_back(int32_t(t));
      if (dummy) {  // reads and writes nothing
        plan.win_store.push_back(-1);
        plan.visible4.push_back(0);
        continue;
      }
      const int32_t store = window_slot(tb, pt);
      if (store == -2) fail("forward: sequence {}: position {} beyond its reserved window blocks", s.seq, pt);
      plan.win_store.push_back(store);
      int32_t* row = plan.win.data() + t * W;
      for (int64_t j = 0; j < W; ++j) {
        const int64_t src = pt - W + 1 + j;
        if (src < 0) continue;
        if (src >= s.start) {
          row[j] = int32_t(-2 - (s.offset + src - s.start));
        } else {
          const int32_t slot = window_slot(tb, src);
          if (slot < 0)
            fail("forward: sequence {}: the window of position {} needs position {}, whose cache block already slid out",
                 s.seq, pt, src);
          row[j] = slot;
        }
      }
      plan.visible4.push_back(int32_t((pt + 1) / 4));
      plan.max_visible4 = std::max<int64_t>(plan.max_visible4, (pt + 1) / 4);
      if (has128) {
        const int64_t n = (pt + 1) / 128;
        plan.count128[size_t(t)] = int32_t(n);
        for (int64_t w = 0; w < n; ++w) plan.comp128[size_t(t * plan.comp128_stride + w)] = tb.hca[size_t(w)];
      }
    }
    const bool tails = cache.pools().tail_rows > 0;
    if (has4 && !dummy) plan_emissions(plan.e4, 4, s, tb, tails);
    if (has128 && !dummy) plan_emissions(plan.e128, 128, s, tb, tails);
    const bool all = i < all_logits.size() ? bool(all_logits[i]) : true;
    for (int64_t r = all ? 0 : s.length - 1; r < s.length; ++r) plan.head_rows.push_back(s.offset + r);
  }
  if (pad != nullptr) {
    plan.max_visible4 = pad->max_visible4;
    for (EmissionPlan* e : {&plan.e4, &plan.e128}) {
      const int64_t L = e->ratio == 4 ? 8 : 128;
      if (e->n > plan.T || int64_t(e->ring_rows.size()) > plan.T) fail("forward: emissions exceed the graph's shape");
      e->src.resize(size_t(plan.T * L), std::numeric_limits<int32_t>::min());
      e->first_pos.resize(size_t(plan.T), 0);
      e->slot.resize(size_t(plan.T), -1);
      e->n = plan.T;
      e->ring_rows.resize(size_t(plan.T), 0);
      e->ring_dst.resize(size_t(plan.T), -1);
      if (e->ratio == 4 && cache.pools().tail_rows > 0) {
        if (int64_t(e->tail_rows.size()) > plan.T) fail("forward: compressor tails exceed the graph's shape");
        e->tail_rows.resize(size_t(plan.T), 0);
        e->tail_dst.resize(size_t(plan.T), -1);
      }
    }
  }
  plan.ids = std::move(ids);
  plan.spans = std::move(spans);
  return plan;
}

}  // namespace dsv4

#include <cstring>

#include "model/workspace.h"

namespace dsv4 {

namespace {

// Appends arrays to one host buffer (8-byte aligned pieces) and remembers where each went.
class Packer {
 public:
  template <typename T>
  size_t add(const std::vector<T>& v) {
    const size_t at = bytes_.size();
    bytes_.resize(at + (v.size() * sizeof(T) + 7) / 8 * 8, 0);
    if (!v.empty()) std::memcpy(bytes_.data() + at, v.data(), v.size() * sizeof(T));
    return at;
  }
  size_t add_bytes(std::span<const uint8_t> b) {
    const size_t at = (bytes_.size() + 15) / 16 * 16;
    bytes_.resize(at + b.size(), 0);
    if (!b.empty()) std::memcpy(bytes_.data() + at, b.data(), b.size());
    return at;
  }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace

DevicePlan upload_plan(const StepPlan& p, Workspace& ws, std::span<const uint8_t> payload, bool fixed_address) {
  Packer k;
  const size_t ids = k.add(p.ids), pos = k.add(p.positions), seg = k.add(p.seg), rows = k.add(p.rows),
               win_store = k.add(p.win_store), win = k.add(p.win);
  const size_t e4[7] = {k.add(p.e4.src),       k.add(p.e4.first_pos), k.add(p.e4.slot),    k.add(p.e4.ring_rows),
                        k.add(p.e4.ring_dst),  k.add(p.e4.tail_rows), k.add(p.e4.tail_dst)};
  const size_t e128[7] = {k.add(p.e128.src),      k.add(p.e128.first_pos), k.add(p.e128.slot),
                          k.add(p.e128.ring_rows), k.add(p.e128.ring_dst),  k.add(p.e128.tail_rows),
                          k.add(p.e128.tail_dst)};
  const size_t visible4 = k.add(p.visible4), table4 = k.add(p.table4), comp128 = k.add(p.comp128),
               count128 = k.add(p.count128), head = k.add(p.head_rows), stream_rows = k.add(p.stream_rows);
  const size_t extra = payload.empty() ? 0 : k.add_bytes(payload);
  const size_t bytes = std::max<size_t>(k.bytes().size(), 8);
  auto* base = static_cast<uint8_t*>(fixed_address ? ws.staging(bytes) : ws.bytes(bytes));
  ws.ops().upload(base, k.bytes().data(), k.bytes().size());
  auto at = [&](size_t off) { return static_cast<const void*>(base + off); };
  DevicePlan d;
  d.T = p.T;
  d.Wn = p.Wn;
  d.ids = static_cast<const int64_t*>(at(ids));
  d.positions = static_cast<const int64_t*>(at(pos));
  d.seg = static_cast<const int32_t*>(at(seg));
  d.rows = static_cast<const int32_t*>(at(rows));
  d.win_store = static_cast<const int32_t*>(at(win_store));
  d.win = static_cast<const int32_t*>(at(win));
  auto emission = [&](const EmissionPlan& e, const size_t (&o)[7]) {
    DevicePlan::Emission r;
    r.ratio = e.ratio;
    r.n = e.n;
    r.ring_n = int64_t(e.ring_rows.size());
    r.src = static_cast<const int32_t*>(at(o[0]));
    r.first_pos = static_cast<const int64_t*>(at(o[1]));
    r.slot = static_cast<const int32_t*>(at(o[2]));
    r.ring_rows = static_cast<const int32_t*>(at(o[3]));
    r.ring_dst = static_cast<const int32_t*>(at(o[4]));
    r.tail_n = int64_t(e.tail_rows.size());
    r.tail_rows = static_cast<const int32_t*>(at(o[5]));
    r.tail_dst = static_cast<const int32_t*>(at(o[6]));
    return r;
  };
  d.e4 = emission(p.e4, e4);
  d.e128 = emission(p.e128, e128);
  d.visible4 = static_cast<const int32_t*>(at(visible4));
  d.max_visible4 = p.max_visible4;
  d.segments = int64_t(p.spans.size());
  d.table4_stride = p.table4_stride;
  d.table4 = static_cast<const int32_t*>(at(table4));
  d.comp128_stride = p.comp128_stride;
  d.comp128 = static_cast<const int32_t*>(at(comp128));
  d.count128 = static_cast<const int32_t*>(at(count128));
  d.head_n = int64_t(p.head_rows.size());
  d.head_rows = static_cast<const int64_t*>(at(head));
  if (!p.stream_rows.empty()) d.stream_rows = static_cast<const int32_t*>(at(stream_rows));
  if (!payload.empty()) d.payload = at(extra);
  return d;
}

}  // namespace dsv4
