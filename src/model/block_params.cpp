#include "model/block_params.h"

namespace dsv4 {

HcParams prepare_hc(const HyperConnectionWeights& w) { return {param_f32(w.fn), param_f32(w.base), param_f32(w.scale)}; }

namespace {

CompressorParams prepare_compressor(const CompressorWeights& w, int ratio, int64_t dim, const std::string& prefix) {
  CompressorParams p;
  p.ratio = ratio;
  p.dim = dim;
  p.wkv = plain_linear(w.wkv, prefix + ".wkv.weight");
  p.wgate = plain_linear(w.wgate, prefix + ".wgate.weight");
  p.ape = param_f32(w.ape);
  p.norm = param_f32(w.norm);
  return p;
}

}  // namespace

BlockParams prepare_block(const ModelConfig& config, const LayerSpec& spec, const BlockWeights& w, std::string scope) {
  BlockParams b;
  b.spec = &spec;
  b.scope = std::move(scope);
  const std::string prefix = spec.is_mtp ? "mtp." + std::to_string(spec.index - config.num_layers)
                                         : "layers." + std::to_string(spec.index);
  b.attn_norm = param_f32(w.attn_norm);
  b.ffn_norm = param_f32(w.ffn_norm);
  b.hc_attn = prepare_hc(w.hc_attn);
  b.hc_ffn = prepare_hc(w.hc_ffn);

  AttentionParams& a = b.attn;
  a.w = &w.attn;
  a.sink = param_f32(w.attn.attn_sink);
  a.q_norm = param_f32(w.attn.q_norm);
  a.kv_norm = param_f32(w.attn.kv_norm);
  a.rope = rope_frequencies(spec.rope, config.rope_head_dim);
  a.has_compressor = spec.has_compressor();
  if (a.has_compressor) a.compressor = prepare_compressor(w.attn.compressor, spec.compress_ratio, config.head_dim, prefix + ".attn.compressor");
  a.has_indexer = spec.has_indexer();
  if (a.has_indexer) {
    a.indexer.w = &w.attn.indexer;
    a.indexer.weights_proj = plain_linear(w.attn.indexer.weights_proj, prefix + ".attn.indexer.weights_proj.weight");
    a.indexer.compressor = prepare_compressor(w.attn.indexer.compressor, 4, config.index_head_dim, prefix + ".attn.indexer.compressor");
  }

  b.moe.w = &w.ffn;
  b.moe.gate = plain_linear(w.ffn.gate, prefix + ".ffn.gate.weight");
  b.moe.bias = param_f32(w.ffn.gate_bias);
  return b;
}

}  // namespace dsv4
