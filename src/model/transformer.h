// The DeepSeek-V4 model on top of the ops interface (spec §4, §8.5, §8.6): embedding into n
// hyper-connection streams, the decoder blocks, the final hc_head → norm → fp32 LM head, and the
// MTP block. The backend is bound when the model is built (its weights are prepared in the
// backend's memory once); `forward` is the batched, paged forward over the decode cache that
// every backend runs; `prefill` / `mtp_logits` are the uncached oracle (CPU only) the tests
// compare it with.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "model/block_params.h"
#include "model/kv_cache.h"
#include "model/step_graphs.h"
#include "model/step_plan.h"

namespace dsv4 {

// Final streams kept in backend memory between calls (the MTP's input, with no host round trip):
// rows of n·d floats at a fixed address (captured CUDA graphs read and write it in place).
struct StreamBuffer {
  float* data = nullptr;  // [rows, n, d] backend memory
  int64_t rows = 0;
};

struct ForwardOptions {
  Numerics numerics = Numerics::Exact;
  Recorder* recorder = nullptr;    // named intermediates ("embed", "layer3/attn_out", "mtp/ffn_out" …)
  Workspace* workspace = nullptr;  // activations; null = a temporary one for the call
  bool streams = true;             // copy the final streams to BatchResult::streams (the MTP's input)
  StepGraphs* graphs = nullptr;    // replay decode steps as CUDA graphs where the backend has them
  // Leave the logits in backend memory (BatchResult::device_logits, for the sampling op) instead
  // of downloading them; needs `workspace`, in which they stay valid until its next forward.
  bool device_logits = false;
  // Copy the call's final streams, every row of the call (graph padding included: row r = the
  // call's token r), into this buffer in backend memory (a device copy inside the step).
  const StreamBuffer* keep_streams = nullptr;
  // mtp_forward: the buffer MtpSegment::stream_row indexes (gathered through the plan).
  const StreamBuffer* stream_source = nullptr;
  // Host bytes that travel in the step's one upload, after the plan (the step's sampling rows,
  // runtime/sample_batch.h); BatchResult::payload points at them in backend memory, valid until
  // the next forward through the same workspace.
  std::span<const uint8_t> payload;
};

struct PrefillResult {
  int64_t tokens = 0;
  Floats logits;   // [S, vocab] fp32, row t predicts token t+1
  Floats streams;  // [S, n, d] final residual streams before hc_head (the MTP's input)
};

// One sequence's part of a cached, chunked forward call: tokens ids at positions start ..
// start+ids.size()-1, of any length at any position. The cache must already hold room for
// start + ids.size() tokens (CacheManager::admit / extend, which keeps the window of `start`
// through that extension) and everything before `start`. A rollback (CacheManager::truncate)
// into a call is exact for calls of at most kCompressorRollbackTokens + 1 tokens (speculative
// verification).
struct Segment {
  SequenceId seq = 0;
  int64_t start = 0;
  std::vector<int64_t> ids;
  bool all_logits = true;  // false: only the last token's logits
};

// The MTP's part of a call: at positions start .. start+S-1 the main model's final streams
// (or the MTP's own output streams, for further draft steps) and the next token of each position.
// The streams come from the host (`streams`) or, with stream_row >= 0, are rows stream_row ..
// stream_row+S-1 of ForwardOptions::stream_source in backend memory (`streams` empty); one call
// takes them all from one place.
struct MtpSegment {
  SequenceId seq = 0;
  int64_t start = 0;
  Floats streams;                 // [S, n, d]
  std::vector<int64_t> next_ids;  // [S]
  int64_t stream_row = -1;
};

struct BatchResult {
  Floats logits;                     // rows in segment order (all tokens, or the last per segment)
  // With ForwardOptions::device_logits: the same rows in backend memory ([logit_count, vocab]),
  // `logits` stays empty.
  const float* device_logits = nullptr;
  int64_t logit_count = 0;           // rows of logits / device_logits
  std::vector<int64_t> logit_row;    // per segment: first row of its logits
  std::vector<int64_t> logit_rows;   // per segment: how many rows
  Floats streams;                    // [T, n, d] final streams before hc_head, all tokens in order
  std::vector<int64_t> token_row;    // per segment: first token row in `streams` (and of the call)
  const void* payload = nullptr;     // ForwardOptions::payload in backend memory
  const float* logits_of(size_t segment, int64_t row, int64_t vocab) const {
    return logits.data() + (logit_row[segment] + row) * vocab;
  }
};

class Transformer {
 public:
  // Reads config.json and the safetensors checkpoint of `dir` and prepares the weights for
  // `ops` (null = the CPU backend: the weights stay mmapped).
  explicit Transformer(const std::string& dir, Ops* ops = nullptr);
  // A model over a checkpoint already open (or held in memory: model/random_weights.h).
  // `parallel`: this rank's share of a model laid out over several ranks (model/parallel.h):
  // only the share's routed experts (and slices) are bound and prepared, and every forward runs
  // its collectives on parallel.comm. Every rank must make the same calls with the same inputs.
  Transformer(ModelConfig config, std::unique_ptr<Checkpoint> checkpoint, Ops* ops = nullptr,
              const Parallel& parallel = {});
  Transformer(const std::string& dir, Ops* ops, const Parallel& parallel);
  ~Transformer();
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;

  const ModelConfig& config() const { return config_; }
  const Parallel& parallel() const { return parallel_; }
  const Checkpoint& checkpoint() const { return *checkpoint_; }
  Ops& ops() const { return ops_; }

  // One prefill of `ids` at positions 0..S-1.
  PrefillResult prefill(const std::vector<int64_t>& ids, const ForwardOptions& options = {}) const;
  // MTP block 0 over t = 0..S-2: inputs streams[t] (from prefill) and the embedding of ids[t+1];
  // returns logits [S-1, vocab] (row t predicts token t+2).
  Floats mtp_logits(const Floats& streams, const std::vector<int64_t>& ids, const ForwardOptions& options = {}) const;

  // Cached, chunked forward of a batch of segments (distinct sequences): token-wise work on the
  // concatenated tokens, attention per segment against its sequence's cache, which the call
  // updates (window K=V, compressor state, compressed entries, indexer keys).
  BatchResult forward(const std::vector<Segment>& segments, const KvCache& cache, const ForwardOptions& options = {}) const;
  // The MTP block over the cache (its window lives in the window pool as layer num_layers).
  // Logits of every token; streams = the MTP's output streams before its hc_head.
  BatchResult mtp_forward(const std::vector<MtpSegment>& segments, const KvCache& cache,
                          const ForwardOptions& options = {}) const;
  bool has_mtp() const { return has_mtp_; }

 private:
  // X [T, n, d] = the embedding of ids [T] (backend memory) in every stream.
  float* embed_streams(const ForwardContext& ctx, const int64_t* ids, int64_t T) const;
  // The MTP's input streams [T, n, d]: e_proj(enorm(embed(next))) + h_proj(hnorm(streams)).
  float* mtp_input(const ForwardContext& ctx, const float* streams, const int64_t* next_ids, int64_t T) const;
  // logits [S, vocab] of the streams X [S, n, d] (workspace).
  float* head_logits(const ForwardContext& ctx, const float* X, int64_t S, const HcParams& hc, const float* norm,
                     std::string_view scope) const;
  // The step on the backend (embedding / MTP input, blocks, head); nothing is copied to the host.
  struct StepOutput {
    const float* logits = nullptr;  // [head rows, vocab]
    const float* X = nullptr;       // [T, n, d] final streams
  };
  // Where a step's streams come from and go to, besides the workspace.
  struct StepStreams {
    bool mtp = false;                        // the MTP block: input from the streams below
    const float* uploaded = nullptr;         // host streams uploaded to the workspace ([T, n, d])
    const StreamBuffer* source = nullptr;    // or gathered from here by the plan's stream_rows
    const StreamBuffer* keep = nullptr;      // the final streams copied here
  };
  StepOutput run_step(const ForwardContext& ctx, const std::vector<const BlockParams*>& blocks, const StepPlan& plan,
                      const DevicePlan& dplan, const KvCache& cache, const HcParams& hc, const float* norm,
                      std::string_view scope, const StepStreams& io) const;
  // The real segments' rows of a step's output, on the host.
  BatchResult collect(const ForwardContext& ctx, const StepPlan& plan, const StepOutput& out, bool want_streams,
                      bool device_logits) const;
  // mtp: null for the main model; else the host streams (empty when the segments' streams are
  // rows of options.stream_source: stream_rows, one per token).
  BatchResult forward_plan(const std::vector<const BlockParams*>& blocks, std::vector<SegmentSpan> spans,
                           std::vector<int64_t> ids, const std::vector<bool>& all, const KvCache& cache,
                           const ForwardOptions& options, const HcParams& hc, const float* norm, std::string_view scope,
                           const std::vector<float>* mtp_streams, std::vector<int32_t> stream_rows = {}) const;

  // The forward's context on this rank (ForwardContext::parallel set when distributed).
  ForwardContext context(Workspace& ws, const ForwardOptions& options) const;

  ModelConfig config_;
  Parallel parallel_;
  std::unique_ptr<Checkpoint> checkpoint_;
  ModelWeights weights_;
  Ops& ops_;
  std::unique_ptr<ParamStore> store_;
  std::vector<BlockParams> blocks_;
  HcParams hc_head_;
  const float* norm_ = nullptr;
  LinearWeight head_;
  TensorView embed_;
  // MTP block 0
  bool has_mtp_ = false;
  BlockParams mtp_block_;
  HcParams mtp_hc_head_;
  const float* mtp_enorm_ = nullptr;
  const float* mtp_hnorm_ = nullptr;
  const float* mtp_norm_ = nullptr;
  LinearWeight mtp_e_proj_, mtp_h_proj_;
};

}  // namespace dsv4
