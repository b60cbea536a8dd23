// Generation on top of the cached forward: a queue of requests, continuous batching (requests
// are admitted as cache capacity allows, prefilled in chunks under a per-step token budget,
// decoded together, released when they finish), sampling, stop conditions, and MTP speculative
// decoding (spec §8.6; the vLLM scheme): the MTP block drafts k tokens, the main model verifies
// them in one chunked call, the accepted prefix is kept and the caches roll back for the rest.
//
// Host <-> device traffic: every forward call (the main model's, and each MTP draft call) has one
// upload — its plan with the sampling rows packed behind it (the rows are known before the call:
// runtime/sample_batch.h staged()) — and one download, the sampled tokens (and logprobs); the
// MTP's catch-up call after a prefill chunk has the upload only. Sampling runs where the logits
// are (the backend's sampling op, eagerly after the step, outside its CUDA graph) over every row
// the call samples: prefill ends, decode rows, the k+1 rows of a greedy verification, greedy MTP
// drafts. The final streams the MTP reads stay in backend memory: the main forward copies its
// streams into main_streams_, each MTP call its own into mtp_streams_, and the next MTP call
// gathers the rows it needs through its plan. A speculative step with k drafts is k + 1 calls
// (each draft's input token is the previous draft), so k + 1 round trips. Exceptions: sampled
// speculative requests keep the host path for their draft and verify rows (one row download
// each): rejection sampling needs the full target and draft distributions p and q, which the op
// does not return; device_sampling = false downloads the logits instead.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cache/paged_kv_cache.h"
#include "model/transformer.h"
#include "runtime/sample_batch.h"
#include "runtime/sampler.h"

namespace dsv4 {

struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams params;
};

enum class FinishReason { Stop, Length };
inline const char* finish_reason_name(FinishReason r) { return r == FinishReason::Stop ? "stop" : "length"; }

struct GenerationResult {
  uint64_t request = 0;
  std::vector<int32_t> ids;            // generated tokens (a stop token / EOS that ended it included)
  std::vector<SampledToken> tokens;    // with logprobs, when the request asked for them
  FinishReason finish = FinishReason::Length;
  std::string stop;                    // the stop string that matched, if any
  int64_t prompt_tokens = 0;
  double prompt_seconds = 0, decode_seconds = 0;
  double prompt_tokens_per_s = 0, decode_tokens_per_s = 0;
  int64_t cached_tokens = 0;           // prompt tokens served by the prefix cache
  int64_t preemptions = 0;             // times the request was preempted and recomputed
  int64_t drafted = 0, accepted = 0;   // speculative decoding
  // With EngineOptions::record_drafts: per verify step, the position T of its first token (the
  // pending one) and the drafts proposed for positions T+1 ...
  std::vector<std::pair<int64_t, std::vector<int32_t>>> draft_log;
};

// Called for every generated token as soon as it is known.
using TokenCallback = std::function<void(uint64_t request, const SampledToken& token)>;
// Token ids -> text, for stop strings (the tokenizer plugs in here).
using Detokenizer = std::function<std::string(std::span<const int32_t> ids)>;

// An external drafter in place of the MTP (prompt lookup, tests): up to k proposed tokens after
// `tokens` (prompt + generated so far). Its drafts count as certain (a point-mass draft
// distribution), which keeps the rejection scheme exact for sampled requests.
using Drafter = std::function<std::vector<int32_t>(uint64_t request, std::span<const int64_t> tokens, int k)>;

struct EngineOptions {
  Numerics numerics = Numerics::Exact;
  // Slot formats of the cache; default: fp32 (Reference) on the CPU and in exact numerics, the
  // compact FP8 ds_mla / MXFP4 layout (spec §11.5) for official numerics on a device.
  std::optional<CacheFormat> cache_format;
  int32_t max_sequences = 8;             // live sequences (cache state slots)
  uint64_t cache_bytes = 1ull << 30;     // budget for the cache pools (compact formats)
  int64_t max_tokens_per_step = 512;     // tokens of one forward call (decode first, then prefill chunks)
  int draft_tokens = 0;                  // MTP drafts per step; 0 = no speculation (1..4)
  Detokenizer detokenize;                // needed only for requests with stop strings
  Drafter drafter;                       // with draft_tokens > 0: drafts from here instead of the MTP
  bool record_drafts = false;            // fill GenerationResult::draft_log
  // Decode steps as CUDA graphs (one per batch-size bucket) where the backend has them; false =
  // every op launched eagerly (--enforce-eager). Graphs serve contexts up to max_model_len.
  bool cuda_graphs = true;
  int64_t max_model_len = 65536;
  // Prefix caching (cache/prefix_index.h): a request whose prompt starts with cached blocks of
  // 128 tokens resumes after them; a hit produces exactly the tokens of a miss.
  bool enable_prefix_caching = false;
  // Sample with the backend's op where the logits are (one upload of the rows' parameters, one
  // download of the tokens per sampling call); false = download the logits and sample on the
  // host (same results up to CDF-boundary ties; the CPU backend's results are identical).
  bool device_sampling = true;
  // On a device backend: reserve the activations' arena at start-up, sized by a profile step of
  // the largest step's tokens plus bounds for what grows with the context (up to
  // max_model_len). A step that still outgrows it adds memory and counts in workspace_growths().
  bool reserve_workspace = true;
  // On a device backend, > 0: size the cache as this fraction of the device's memory less what is
  // in use after the weights and the activations' arena (vLLM's --gpu-memory-utilization);
  // cache_bytes is then ignored (and the arena always reserved).
  double memory_utilization = 0;
};

// Counters since the engine started (the server's /metrics).
struct EngineStats {
  int64_t prefix_queries = 0;  // prompt tokens looked up in the prefix cache
  int64_t prefix_hits = 0;     // of those, tokens served from it
  int64_t preemptions = 0;
};

class Engine {
 public:
  Engine(const Transformer& model, EngineOptions options);
  ~Engine();

  // Queues a request (validated here: throws dsv4::Error on bad parameters or token ids).
  uint64_t submit(GenerationRequest request, TokenCallback on_token = {});
  // One scheduling step: admit, draft, one forward over every live sequence, sample / verify,
  // finish. Returns false when nothing is queued or live.
  bool step();
  // Steps until every submitted request has finished; returns their results in submit order
  // (and forgets them).
  std::vector<GenerationResult> run();
  // submit + run.
  std::vector<GenerationResult> generate(const std::vector<GenerationRequest>& requests, TokenCallback on_token = {});

  // Drops a queued or live request at once: its cache blocks and state slot are freed, no result
  // is kept and its callback is not called again (a finished, untaken result is dropped).
  // Returns false for an unknown id.
  bool cancel(uint64_t request);
  // The results of the requests that finished since the last call (in id order), forgotten here.
  // For callers that step() themselves instead of run().
  std::vector<GenerationResult> take_finished();

  const Cache& cache() const { return *cache_; }
  // Graph captures and replays so far (0 without graphs).
  int64_t graph_captures() const { return graphs_ ? graphs_->captures : 0; }
  int64_t graph_replays() const { return graphs_ ? graphs_->replays : 0; }
  int64_t live_sequences() const { return int64_t(live_.size()); }
  int64_t waiting_sequences() const { return int64_t(waiting_.size()); }
  bool is_waiting(uint64_t request) const;  // queued, not yet admitted
  const EngineStats& stats() const { return stats_; }
  // The activations' arena: bytes held, and chunks added after the start-up reservation.
  size_t workspace_bytes() const { return workspace_->capacity(); }
  int64_t workspace_growths() const { return workspace_->growths(); }
  // Drops every cached prefix (vLLM's reset_prefix_cache); live requests keep their blocks.
  void reset_prefix_cache() { cache_->manager.clear_prefix_cache(); }

 private:
  struct Sequence;
  bool admit_waiting();
  void draft(std::vector<Sequence*>& seqs);
  void accept_token(Sequence& s, const SampledToken& t);
  void finish(Sequence& s, FinishReason reason);
  // Preemption (cache full): the youngest live request not scheduled in this step, other than
  // `except`, goes back to the front of the queue, its cache freed; it is recomputed (prompt +
  // the tokens generated so far) when admitted again. False when there is none.
  bool preempt_youngest(const Sequence* except, const std::vector<Sequence*>& scheduled);
  void preempt(Sequence& s);
  // Grows s's cache to `tokens`, preempting younger unscheduled requests while it does not fit.
  bool make_room(Sequence& s, int64_t tokens, const std::vector<Sequence*>& scheduled);
  void cache_prefix(Sequence& s);
  // The start-up arena (EngineOptions::reserve_workspace): a profile forward, then the bounds.
  void reserve_workspace();
  // Row `row` of a forward's logits on the host (downloaded into buf when they are in backend memory).
  std::span<const float> host_logits(const BatchResult& r, int64_t row, std::vector<float>& buf) const;
  // Samples batch_'s rows from r's logits (wherever they are).
  void sample_rows(const BatchResult& r);

  const Transformer& model_;
  EngineOptions options_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Workspace> workspace_;
  std::unique_ptr<StepGraphs> graphs_;
  std::unique_ptr<SampleBatch> batch_;
  // MTP: the last main forward's final streams and the last MTP call's, in backend memory (every
  // row of the call; fixed addresses, sized for the largest call).
  StreamBuffer main_streams_, mtp_streams_;
  std::vector<int32_t> eos_ids_;
  uint64_t next_id_ = 1;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> live_;
  std::map<uint64_t, GenerationResult> done_;
  EngineStats stats_;
};

}  // namespace dsv4
