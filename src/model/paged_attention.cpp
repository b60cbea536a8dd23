#include "model/paged_attention.h"

#include <cmath>

#include "core/error.h"
#include "model/attention_parts.h"
#include "model/compressor.h"
#include "model/indexer.h"

namespace dsv4 {

namespace {

const DevicePlan::Emission& emission_of(const DevicePlan& plan, int ratio) {
  return ratio == 4 ? plan.e4 : plan.e128;
}

// One compressor of the layer: projections of every token, the entries completing in this step
// (finished: norm, RoPE, quantization point), then the ring update. Returns [n_emit, D_c].
// Where a compressor keeps its state: the ring, and (prefix caching, ratio 4) the block tails.
struct CompressorState {
  float* ring_kv = nullptr;
  float* ring_gate = nullptr;
  int64_t ring_rows = 0;
  float* tail_kv = nullptr;
  float* tail_gate = nullptr;
  int64_t tail_rows = 0;
};

CompressorState compressor_state(const KvPools& pools, size_t layer, int role) {
  const bool tails = layer < pools.tail_kv[role].size() && layer < pools.tail_gate[role].size();
  return {pools.ring_kv[role].at(layer),           pools.ring_gate[role].at(layer),
          pools.ring_rows.at(layer),               tails ? pools.tail_kv[role][layer] : nullptr,
          tails ? pools.tail_gate[role][layer] : nullptr, pools.tail_rows};
}

float* compress_step(const ForwardContext& ctx, const CompressorParams& p, CompressorRole role, const RopeTable& rope,
                     const float* x, const DevicePlan& plan, const CompressorState& state) {
  float* ring_kv = state.ring_kv;
  float* ring_gate = state.ring_gate;
  const int64_t ring_rows = state.ring_rows;
  const int64_t T = plan.T, width = p.width();
  const DevicePlan::Emission& e = emission_of(plan, p.ratio);
  if (ring_kv == nullptr || ring_gate == nullptr) fail("compressor: the cache has no ring for this layer");
  float* kv = ctx.ws.floats(T * width);
  float* gate = ctx.ws.floats(T * width);
  compressor_project(ctx, p, x, T, kv, gate);
  float* E = ctx.ws.floats(e.n * p.dim);
  if (e.n > 0) {
    CompressPoolParams cp;
    cp.kv = kv;
    cp.gate = gate;
    cp.ring_kv = ring_kv;
    cp.ring_gate = ring_gate;
    cp.ape = p.ape;
    cp.src = e.src;
    cp.n_emit = e.n;
    cp.ratio = p.ratio;
    cp.Dc = p.dim;
    cp.out = E;
    cp.T = T;
    cp.ring_rows = ring_rows;
    ctx.ops.compress_pool_paged(cp);
    finish_entries(ctx, p, role, rope, E, e.first_pos, e.n);
  }
  RingStoreParams rs;
  rs.kv = kv;
  rs.gate = gate;
  rs.rows = e.ring_rows;
  rs.dst = e.ring_dst;
  rs.n = e.ring_n;
  rs.W = width;
  rs.ring_kv = ring_kv;
  rs.ring_gate = ring_gate;
  rs.T = T;
  rs.ring_rows = ring_rows;
  ctx.ops.ring_store(rs);
  if (state.tail_kv != nullptr && e.tail_n > 0) {
    rs.rows = e.tail_rows;
    rs.dst = e.tail_dst;
    rs.n = e.tail_n;
    rs.ring_kv = state.tail_kv;
    rs.ring_gate = state.tail_gate;
    rs.ring_rows = state.tail_rows;
    ctx.ops.ring_store(rs);
  }
  return E;
}

}  // namespace

float* attention_paged(const ForwardContext& ctx, const AttentionParams& p, const LayerSpec& spec,
                       std::string_view scope, const float* x, const DevicePlan& plan, const KvPools& pools) {
  const ModelConfig& cfg = ctx.config;
  const int64_t T = plan.T, H = p.heads, D = cfg.head_dim, rd = p.rope.rope_dim;
  const size_t layer = size_t(spec.index);
  const int64_t slot_bytes = kv_slot_bytes(pools.kv_format, D, rd);

  const QueryPath qp = query_path(ctx, p, x, T, plan.positions);
  const float* kv = window_kv(ctx, p, x, T, plan.positions);

  // 1. The call's window K=V: a staging copy in the pool format, and the window pool.
  void* call_kv = ctx.ws.bytes(size_t(T * slot_bytes));
  KvStoreParams st{kv, plan.rows, T, D, rd, pools.kv_format, call_kv, T};
  ctx.ops.kv_store(st);
  st.slots = plan.win_store;
  st.pool = pools.window.at(layer);
  st.pool_slots = pools.window_slots;
  ctx.ops.kv_store(st);

  PagedAttentionParams ap;
  ap.q = qp.q;
  ap.sink = p.sink;
  ap.win_pool = pools.window[layer];
  ap.call_kv = call_kv;
  ap.win = plan.win;
  ap.Wn = plan.Wn;
  ap.format = pools.kv_format;
  ap.T = T;
  ap.H = H;
  ap.D = D;
  ap.rope_dim = rd;
  ap.scale = float(std::pow(double(D), -0.5));
  ap.win_pool_slots = pools.window_slots;

  if (p.has_compressor) {
    // 2. Compressed entries completing in this step.
    const DevicePlan::Emission& e = emission_of(plan, p.compressor.ratio);
    const float* E = compress_step(ctx, p.compressor, CompressorRole::Attention, p.rope, x, plan,
                                   compressor_state(pools, layer, 0));
    ctx.ops.kv_store(
        KvStoreParams{E, e.slot, e.n, D, rd, pools.kv_format, pools.entries.at(layer), pools.entry_slots.at(layer)});
    ap.comp_pool = pools.entries[layer];
    ap.comp_pool_slots = pools.entry_slots[layer];
    if (p.has_indexer) {
      // 3. CSA: indexer keys, then the selection.
      const int64_t hd = cfg.index_head_dim, nh = cfg.index_n_heads, k = cfg.index_topk;
      const float* keys = compress_step(ctx, p.indexer.compressor, CompressorRole::Indexer, p.rope, x, plan,
                                        compressor_state(pools, layer, 1));
      ctx.ops.key_store(
          KeyStoreParams{keys, e.slot, e.n, hd, pools.key_format, pools.keys.at(layer), pools.key_slots.at(layer)});
      const IndexerQuery iq = indexer_query(ctx, p.indexer, p.rope, qp.qr, x, T, plan.positions);
      IndexerTopkParams ip;
      ip.q = iq.q;
      ip.wts = iq.wts;
      ip.key_pool = pools.keys[layer];
      ip.format = pools.key_format;
      ip.seg = plan.seg;
      ip.visible = plan.visible4;
      ip.table = plan.table4;
      ip.table_stride = plan.table4_stride;
      ip.entries_per_block = 32;
      ip.T = T;
      ip.nh = nh;
      ip.hd = hd;
      ip.topk = k;
      ip.sel = ctx.ws.ints(T * k);
      ip.count = ctx.ws.ints(T);
      ip.key_pool_slots = pools.key_slots[layer];
      ip.segments = plan.segments;
      ip.max_visible = plan.max_visible4;
      ip.scratch_bytes = ctx.ops.indexer_topk_scratch_bytes(T, plan.max_visible4);
      if (ip.scratch_bytes > 0) ip.scratch = ctx.ws.bytes(ip.scratch_bytes);
      ctx.ops.indexer_topk(ip);
      ap.comp = ip.sel;
      ap.comp_count = ip.count;
      ap.comp_stride = k;
    } else {
      ap.comp = plan.comp128;
      ap.comp_count = plan.count128;
      ap.comp_stride = plan.comp128_stride;
    }
  }

  // 4. Core attention with the sink, then the output projection.
  float* o = ctx.ws.floats(T * H * D);
  ap.out = o;
  ap.scratch_bytes = ctx.ops.paged_attention_scratch_bytes(T, H, D, plan.Wn, ap.comp_stride);
  if (ap.scratch_bytes > 0) ap.scratch = ctx.ws.bytes(ap.scratch_bytes);
  ctx.ops.paged_attention(ap);
  (void)scope;
  return attention_output(ctx, p, o, T, plan.positions);
}

}  // namespace dsv4
