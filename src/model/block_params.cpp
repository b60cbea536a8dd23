#include "model/block_params.h"

#include "core/error.h"
#include "model/expert_shard.h"

namespace dsv4 {

HcParams prepare_hc(const HyperConnectionWeights& w, ParamStore& store) {
  return {store.f32(w.fn), store.f32(w.base), store.f32(w.scale)};
}

namespace {

CompressorParams prepare_compressor(const CompressorWeights& w, int ratio, int64_t dim, const std::string& prefix,
                                    ParamStore& store) {
  CompressorParams p;
  p.ratio = ratio;
  p.dim = dim;
  p.wkv = store.weight(plain_linear(w.wkv, prefix + ".wkv.weight"));
  p.wgate = store.weight(plain_linear(w.wgate, prefix + ".wgate.weight"));
  p.ape = store.f32(w.ape);
  p.norm = store.f32(w.norm);
  return p;
}

ExpertWeights prepare_expert(const ExpertWeights& e, ParamStore& store) {
  return {store.weight(e.w1), store.weight(e.w2), store.weight(e.w3)};
}

}  // namespace

BlockParams prepare_block(const ModelConfig& config, const LayerSpec& spec, const BlockWeights& w, std::string scope,
                          ParamStore& store, const Parallel* parallel) {
  BlockParams b;
  b.spec = &spec;
  b.scope = std::move(scope);
  const std::string prefix = spec.is_mtp ? "mtp." + std::to_string(spec.index - config.num_layers)
                                         : "layers." + std::to_string(spec.index);
  b.attn_norm = store.f32(w.attn_norm);
  b.ffn_norm = store.f32(w.ffn_norm);
  b.hc_attn = prepare_hc(w.hc_attn, store);
  b.hc_ffn = prepare_hc(w.hc_ffn, store);

  AttentionParams& a = b.attn;
  a.heads = config.num_heads;
  a.groups = config.o_groups;
  a.wq_a = store.weight(w.attn.wq_a);
  a.wkv = store.weight(w.attn.wkv);
  if (parallel != nullptr && parallel->attn_tp > 1 && w.attn.sliced) {  // bound as this rank's heads
    a.heads = parallel->head_count(a.heads);
    a.groups = parallel->group_count(a.groups);
    a.wq_b = store.weight(w.attn.wq_b);
    a.wo_a = store.weight(w.attn.wo_a);
    a.wo_b = store.weight(w.attn.wo_b);
    a.sink = store.f32(w.attn.attn_sink);
  } else if (parallel != nullptr && parallel->attn_tp > 1) {  // this rank's heads and their output groups
    const int64_t D = config.head_dim, orank = config.o_lora_rank;
    const int64_t h0 = parallel->head_begin(a.heads), g0 = parallel->group_begin(a.groups);
    a.heads = parallel->head_count(a.heads);
    a.groups = parallel->group_count(a.groups);
    a.wq_b = store.weight(weight_rows(w.attn.wq_b, h0 * D, a.heads * D));
    a.wo_a = store.weight(weight_rows(w.attn.wo_a, g0 * orank, a.groups * orank));
    a.wo_b = store.weight(weight_columns(w.attn.wo_b, g0 * orank, a.groups * orank, store));
    TensorView sink = w.attn.attn_sink;
    if (sink.dtype != DType::F32 || sink.ndim() != 1) fail("{}: attn_sink must be F32 [H]", b.scope);
    sink.data = sink.as<float>() + h0;
    sink.shape = {a.heads};
    a.sink = store.f32(sink);
  } else {
    a.wq_b = store.weight(w.attn.wq_b);
    a.wo_a = store.weight(w.attn.wo_a);
    a.wo_b = store.weight(w.attn.wo_b);
    a.sink = store.f32(w.attn.attn_sink);
  }
  a.q_norm = store.f32(w.attn.q_norm);
  a.kv_norm = store.f32(w.attn.kv_norm);
  const RopeFrequencies freqs = rope_frequencies(spec.rope, config.rope_head_dim);
  a.rope = RopeTable{store.f32(freqs.inv_freq), freqs.rope_dim()};
  a.has_compressor = spec.has_compressor();
  if (a.has_compressor)
    a.compressor = prepare_compressor(w.attn.compressor, spec.compress_ratio, config.head_dim,
                                      prefix + ".attn.compressor", store);
  a.has_indexer = spec.has_indexer();
  if (a.has_indexer) {
    a.indexer.wq_b = store.weight(w.attn.indexer.wq_b);
    a.indexer.weights_proj =
        store.weight(plain_linear(w.attn.indexer.weights_proj, prefix + ".attn.indexer.weights_proj.weight"));
    a.indexer.compressor = prepare_compressor(w.attn.indexer.compressor, 4, config.index_head_dim,
                                              prefix + ".attn.indexer.compressor", store);
  }

  MoEParams& m = b.moe;
  m.gate = store.weight(plain_linear(w.ffn.gate, prefix + ".ffn.gate.weight"));
  m.bias = store.f32(w.ffn.gate_bias);
  if (spec.hash_routed) {
    const TensorView& table = w.ffn.tid2eid;
    if (table.dtype != DType::I64 || table.ndim() != 2 || table.dim(1) != config.num_experts_per_tok)
      fail("{}: tid2eid must be I64 [vocab, {}], got {} {}", b.scope, config.num_experts_per_tok,
           dtype_name(table.dtype), shape_str(table.shape));
    for (int64_t i = 0; i < int64_t(table.numel()); ++i) {
      const int64_t e = table.as<int64_t>()[i];
      if (e < 0 || e >= config.n_routed_experts)
        fail("{}: tid2eid holds expert id {} (row {}) outside [0, {})", b.scope, e, i / table.dim(1),
             config.n_routed_experts);
    }
    m.tid2eid = store.tensor(table);
  }
  m.expert0 = w.ffn.expert0;
  m.experts_total = config.n_routed_experts;
  const int64_t I = config.moe_intermediate_size;
  const bool sliced = parallel != nullptr && parallel->tp > 1 && !w.ffn.sliced;  // else bound as the slice
  for (const ExpertWeights& e : w.ffn.experts)
    m.experts.push_back(prepare_expert(
        sliced ? expert_slice(e, parallel->slice_begin(I), parallel->slice_size(I), store) : e, store));
  m.has_shared = config.n_shared_experts > 0;
  if (m.has_shared) m.shared = prepare_expert(w.ffn.shared, store);
  return b;
}

}  // namespace dsv4
