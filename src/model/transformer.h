// The DeepSeek-V4 model on top of the ops interface (spec §4, §8.5, §8.6): embedding into n
// hyper-connection streams, the decoder blocks, the final hc_head → norm → fp32 LM head, and the
// MTP block. Prefill from position 0 (incremental decoding with a cache comes later).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "model/block_params.h"

namespace dsv4 {

struct ForwardOptions {
  Numerics numerics = Numerics::Exact;
  Recorder* recorder = nullptr;  // named intermediates ("embed", "layer3/attn_out", "mtp/ffn_out" …)
  Ops* ops = nullptr;            // null = the CPU backend
};

struct PrefillResult {
  int64_t tokens = 0;
  Floats logits;   // [S, vocab] fp32, row t predicts token t+1
  Floats streams;  // [S, n, d] final residual streams before hc_head (the MTP's input)
};

class Transformer {
 public:
  // Reads config.json and the safetensors checkpoint of `dir`; weights stay mmapped.
  explicit Transformer(const std::string& dir);
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  const ModelConfig& config() const { return config_; }
  const Checkpoint& checkpoint() const { return *checkpoint_; }

  // One prefill of `ids` at positions 0..S-1.
  PrefillResult prefill(const std::vector<int64_t>& ids, const ForwardOptions& options = {}) const;
  // MTP block 0 over t = 0..S-2: inputs streams[t] (from prefill) and the embedding of ids[t+1];
  // returns logits [S-1, vocab] (row t predicts token t+2).
  Floats mtp_logits(const Floats& streams, const std::vector<int64_t>& ids, const ForwardOptions& options = {}) const;

 private:
  ForwardContext context(const ForwardOptions& options) const;
  Floats embed(const ForwardContext& ctx, const std::vector<int64_t>& ids, size_t first, int64_t count) const;
  Floats head_logits(const ForwardContext& ctx, const Floats& X, int64_t S, const HcParams& hc, const Floats& norm,
                     std::string_view scope) const;

  ModelConfig config_;
  std::unique_ptr<Checkpoint> checkpoint_;
  ModelWeights weights_;
  std::vector<BlockParams> blocks_;
  HcParams hc_head_;
  Floats norm_;
  LinearWeight head_;
  LinearWeight embed_;
  // MTP block 0
  bool has_mtp_ = false;
  BlockParams mtp_block_;
  HcParams mtp_hc_head_;
  Floats mtp_enorm_, mtp_hnorm_, mtp_norm_;
};

}  // namespace dsv4
