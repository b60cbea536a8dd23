#include "runtime/engine.h"

#include <algorithm>

#include "core/error.h"
#include "runtime/speculative.h"

namespace dsv4 {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

int64_t blocks_for(int64_t tokens) { return (tokens + kCacheBlockTokens - 1) / kCacheBlockTokens; }

}  // namespace

struct Engine::Sequence {
  uint64_t id = 0;
  GenerationRequest request;
  Sampler sampler;
  TokenCallback on_token;
  std::vector<int64_t> tokens;   // prompt + generated; the last generated one is not yet in the cache
  std::vector<int32_t> output;
  int64_t processed = 0;         // tokens in the cache
  // Tokens to prefill before sampling: the prompt, or after a preemption every token so far.
  int64_t prefill_target = 0;
  int64_t cached_blocks = 0;     // blocks handed to the prefix cache so far
  bool finished = false;
  // MTP: the MTP cache holds positions < mtp_done; the main model's final streams of positions
  // mtp_done .. processed-1, waiting for the MTP, are rows mtp_row .. of main_streams_ (the
  // last main forward's, in backend memory).
  int64_t mtp_done = 0;
  int64_t mtp_row = 0;
  std::vector<int32_t> drafts;
  std::vector<std::vector<float>> draft_probs;  // sampled requests: q_i of each draft
  GenerationResult result;
  Clock::time_point admitted, first_token;

  Sequence(uint64_t i, GenerationRequest r, std::vector<int32_t> eos, TokenCallback cb)
      : id(i), request(std::move(r)), sampler(request.params, std::move(eos)), on_token(std::move(cb)) {
    tokens.assign(request.prompt.begin(), request.prompt.end());
    prefill_target = prompt_len();
  }
  int64_t prompt_len() const { return int64_t(request.prompt.size()); }
  bool prefilling() const { return processed < prefill_target; }
  TokenContext context(std::span<const int32_t> out) const { return TokenContext{request.prompt, out}; }
};

Engine::Engine(const Transformer& model, EngineOptions options) : model_(model), options_(std::move(options)) {
  if (options_.draft_tokens < 0 || options_.draft_tokens > 4)
    fail("engine: draft_tokens must be in [0, 4], got {}", options_.draft_tokens);
  if (options_.draft_tokens > 0 && !model_.has_mtp() && !options_.drafter) fail("engine: speculative decoding needs the model's MTP block");
  if (options_.max_tokens_per_step < 1 + options_.draft_tokens)
    fail("engine: max_tokens_per_step {} is below one decode step ({} tokens)", options_.max_tokens_per_step,
         1 + options_.draft_tokens);
  Ops& ops = model_.ops();
  const CacheFormat format = options_.cache_format.value_or(
      ops.host_memory() || options_.numerics == Numerics::Exact ? CacheFormat::Reference : CacheFormat::Fp8);
  if (format == CacheFormat::Fp8 && options_.numerics == Numerics::Exact)
    fail("engine: the FP8 cache layout quantizes K=V; exact numerics need the fp32 (reference) layout");
  PrefixCaching prefix;
  prefix.enabled = options_.enable_prefix_caching;
  prefix.keyed_with_next = options_.draft_tokens > 0 && !options_.drafter;  // the MTP's vectors are cached too
  workspace_ = std::make_unique<Workspace>(ops);
  if (options_.memory_utilization > 0) {
    // vLLM's order: the weights are in memory; a profile step (through a cache just big enough)
    // reserves the activations' arena; the cache takes what the utilization leaves.
    if (!(options_.memory_utilization <= 1)) fail("engine: memory utilization must be in (0, 1], got {}", options_.memory_utilization);
    if (ops.host_memory() || ops.memory_info().total == 0)
      fail("engine: sizing the cache by memory utilization needs a device backend ({} reports no device memory); "
           "give a cache budget instead", ops.name());
    const CacheLayout layout = CacheLayout::from_config(model_.config(), format, prefix.enabled);
    cache_ = std::make_unique<Cache>(model_.config(), ops, cache_bytes_for(layout, options_.max_tokens_per_step, 1), 1,
                                     format, prefix);
    reserve_workspace();
    cache_.reset();
    const Ops::MemoryInfo m = ops.memory_info();
    const double in_use = double(m.total - m.free);
    // Headroom for what is allocated later: the sampling op's rows and 256 MiB of slack.
    const double later = double(options_.max_sequences) * (1 + options_.draft_tokens) *
                             double(model_.config().vocab_size) * 4 + double(256 << 20);
    const double budget = options_.memory_utilization * double(m.total) - in_use - later;
    if (budget <= 0)
      fail("engine: memory utilization {} of {:.1f} GiB leaves no room for the cache: {:.1f} GiB are in use (weights, "
           "activations)", options_.memory_utilization, double(m.total) / (1 << 30), in_use / (1 << 30));
    with_context(fmt::format("engine: the cache from memory utilization {} ({:.1f} GiB)", options_.memory_utilization,
                             budget / (1 << 30)),
                 [&] {
                   cache_ = std::make_unique<Cache>(model_.config(), ops, uint64_t(budget), options_.max_sequences,
                                                    format, prefix);
                 });
  } else {
    cache_ = std::make_unique<Cache>(model_.config(), ops, options_.cache_bytes, options_.max_sequences, format, prefix);
    if (options_.reserve_workspace && !ops.host_memory()) reserve_workspace();
  }
  if (options_.cuda_graphs && ops.graphs_supported()) graphs_ = std::make_unique<StepGraphs>(options_.max_model_len);
  eos_ids_ = {int32_t(model_.config().eos_token_id)};
  batch_ = std::make_unique<SampleBatch>(ops, model_.config().vocab_size);
  if (options_.draft_tokens > 0 && !options_.drafter) {
    // The largest call: a step's token budget, or every sequence decoding k+1 tokens (rounded up
    // to a graph's bucket of segments).
    const int64_t rows = std::max<int64_t>(options_.max_tokens_per_step,
                                           StepGraphs::bucket(options_.max_sequences) * (1 + options_.draft_tokens));
    const int64_t nd = model_.config().hc_mult * model_.config().hidden_size;
    for (StreamBuffer* b : {&main_streams_, &mtp_streams_}) {
      b->data = static_cast<float*>(ops.alloc(size_t(rows * nd) * sizeof(float)));
      b->rows = rows;
    }
  }
}

Engine::~Engine() {
  for (StreamBuffer* b : {&main_streams_, &mtp_streams_})
    if (b->data != nullptr) model_.ops().free(b->data);
}

void Engine::reserve_workspace() {
  const ModelConfig& c = model_.config();
  CacheManager& mgr = cache_->manager;
  const int64_t decode_rows = int64_t(options_.max_sequences) * (1 + options_.draft_tokens);
  const int64_t T = std::max(options_.max_tokens_per_step, StepGraphs::bucket(options_.max_sequences) *
                                                               (1 + options_.draft_tokens));
  // A profile step: one prefill of T tokens (fewer when the cache cannot hold them: activations
  // grow linearly with the tokens, so the peak is scaled up) through a sequence id no request
  // gets (ids start at 1).
  int64_t Tp = T;
  while (Tp > 1 && !mgr.can_admit(Tp)) Tp /= 2;
  if (!mgr.can_admit(Tp)) return;  // not even one token fits: nothing to profile with
  const SequenceId dummy = 0;
  mgr.admit(dummy, Tp);
  size_t peak = 0;
  try {
    ForwardOptions fwd;
    fwd.numerics = options_.numerics;
    fwd.workspace = workspace_.get();
    fwd.streams = false;
    fwd.device_logits = true;
    std::vector<int64_t> ids(static_cast<size_t>(Tp));
    for (int64_t i = 0; i < Tp; ++i) ids[size_t(i)] = i % c.vocab_size;
    model_.forward({{dummy, 0, std::move(ids), false}}, cache_->storage, fwd);
    model_.ops().synchronize();
    peak = workspace_->peak();
  } catch (...) {
    mgr.release(dummy);
    throw;
  }
  mgr.release(dummy);
  // What the profile did not exercise: context-dependent plan arrays (CSA tables, HCA entry
  // lists), the indexer's and attention's scratch at max_model_len, and logits for every decode
  // row (speculative verification wants them all).
  const int64_t L = options_.max_model_len, W = c.sliding_window;
  const uint64_t blocks = uint64_t(L / kCacheBlockTokens + 1);
  uint64_t bytes = uint64_t(double(peak) * double(T) / double(Tp)) + (size_t(16) << 20);
  bytes += uint64_t(T) * blocks * 4 + uint64_t(decode_rows) * blocks * 4;
  bytes += model_.ops().indexer_topk_scratch_bytes(T, L / 4);
  bytes += model_.ops().paged_attention_scratch_bytes(T, c.num_heads, c.head_dim, W,
                                                      std::max<int64_t>(c.index_topk, L / 128));
  bytes += uint64_t(decode_rows) * uint64_t(c.vocab_size) * 4;
  workspace_ = std::make_unique<Workspace>(model_.ops());
  workspace_->reserve(size_t(bytes));
}

uint64_t Engine::submit(GenerationRequest request, TokenCallback on_token) {
  request.params.validate();
  if (request.prompt.empty()) fail("generate: the prompt is empty");
  const int64_t V = model_.config().vocab_size;
  for (size_t i = 0; i < request.prompt.size(); ++i)
    if (request.prompt[i] < 0 || request.prompt[i] >= V)
      fail("generate: prompt token {} at index {} is outside the vocabulary [0, {})", request.prompt[i], i, V);
  if (!request.params.stop_strings.empty() && !options_.detokenize)
    fail("generate: stop strings need a detokenizer (none configured)");
  auto s = std::make_unique<Sequence>(next_id_++, std::move(request), eos_ids_, std::move(on_token));
  // A request must fit the whole cache alone (it may wait, or be preempted, but never fail).
  const int64_t most = blocks_for(s->prompt_len() + s->request.params.max_tokens + options_.draft_tokens + 1);
  for (size_t p = 1; p < cache_->manager.pool_count(); ++p)
    if (most > cache_->manager.pool(p).capacity())
      fail("generate: a request of {} prompt + {} new tokens needs {} '{}' cache blocks, the cache has {}",
           s->prompt_len(), s->request.params.max_tokens, most, cache_->manager.pool(p).name(),
           cache_->manager.pool(p).capacity());
  const uint64_t id = s->id;
  waiting_.push_back(std::move(s));
  return id;
}

// Admission: a state slot, and room for the whole prefill (after a prefix-cache hit) without
// preempting anyone; decoding then grows a request step by step, preempting when the cache runs
// out. Preempted requests wait at the front of the queue.
bool Engine::admit_waiting() {
  bool any = false;
  CacheManager& mgr = cache_->manager;
  while (!waiting_.empty() && mgr.free_state_slots() > 0) {
    Sequence& s = *waiting_.front();
    const SequenceId id(s.id);
    const int64_t hit = mgr.admit_cached(id, s.tokens);
    if (!mgr.can_extend(id, s.prefill_target)) {
      mgr.release(id);
      break;
    }
    std::unique_ptr<Sequence> owned = std::move(waiting_.front());
    waiting_.pop_front();
    s.processed = hit;
    s.mtp_done = hit;
    if (hit > 0) cache_->storage.restore_compressor_state(id);
    s.cached_blocks = hit / kCacheBlockTokens;
    if (mgr.prefix_caching()) {
      stats_.prefix_queries += s.prefill_target;
      stats_.prefix_hits += hit;
    }
    if (s.result.preemptions == 0) {
      s.admitted = Clock::now();
      s.result.request = s.id;
      s.result.prompt_tokens = s.prompt_len();
      s.result.cached_tokens = std::min(hit, s.prompt_len());
    }
    live_.push_back(std::move(owned));
    any = true;
  }
  return any;
}

void Engine::preempt(Sequence& s) {
  cache_->manager.release(SequenceId(s.id));
  s.processed = 0;
  s.mtp_done = 0;
  s.mtp_row = 0;
  s.drafts.clear();
  s.draft_probs.clear();
  s.cached_blocks = 0;
  s.prefill_target = int64_t(s.tokens.size());  // the pending token too: its logits sample the next one
  ++s.result.preemptions;
  ++stats_.preemptions;
  for (auto it = live_.begin(); it != live_.end(); ++it)
    if (it->get() == &s) {
      waiting_.push_front(std::move(*it));
      live_.erase(it);
      return;
    }
}

bool Engine::preempt_youngest(const Sequence* except, const std::vector<Sequence*>& scheduled) {
  for (auto it = live_.rbegin(); it != live_.rend(); ++it) {
    Sequence* v = it->get();
    if (v == except || v->finished || std::find(scheduled.begin(), scheduled.end(), v) != scheduled.end()) continue;
    preempt(*v);
    return true;
  }
  return false;
}

bool Engine::make_room(Sequence& s, int64_t tokens, const std::vector<Sequence*>& scheduled) {
  CacheManager& mgr = cache_->manager;
  while (!mgr.can_extend(SequenceId(s.id), tokens))
    if (!preempt_youngest(&s, scheduled)) return false;
  mgr.extend(SequenceId(s.id), tokens);
  return true;
}

// Hands the sequence's newly completed blocks to the prefix cache: positions below `processed`
// are final (a speculative rollback never goes below it); with the MTP, its vectors too
// (positions below mtp_done), and the first token of the next block is part of the key.
void Engine::cache_prefix(Sequence& s) {
  CacheManager& mgr = cache_->manager;
  if (!mgr.prefix_caching()) return;
  int64_t upto = s.processed;
  if (options_.draft_tokens > 0 && !options_.drafter) upto = std::min(upto, s.mtp_done);
  if (upto / kCacheBlockTokens <= s.cached_blocks) return;
  mgr.cache_prefix(SequenceId(s.id), s.tokens, upto);
  s.cached_blocks = upto / kCacheBlockTokens;
}

void Engine::finish(Sequence& s, FinishReason reason) {
  s.finished = true;
  s.result.finish = reason;
  s.result.ids = s.output;
  const Clock::time_point now = Clock::now();
  const Clock::time_point first = s.output.empty() ? now : s.first_token;
  s.result.prompt_seconds = seconds_between(s.admitted, first);
  s.result.decode_seconds = seconds_between(first, now);
  s.result.prompt_tokens_per_s = s.result.prompt_seconds > 0 ? double(s.prompt_len()) / s.result.prompt_seconds : 0;
  const int64_t decoded = int64_t(s.output.size()) - 1;
  s.result.decode_tokens_per_s = decoded > 0 && s.result.decode_seconds > 0 ? double(decoded) / s.result.decode_seconds : 0;
}

void Engine::accept_token(Sequence& s, const SampledToken& t) {
  s.sampler.accept(t.id);  // structured output: advance the constraint (throws if it forbids t)
  if (s.output.empty()) s.first_token = Clock::now();
  s.output.push_back(t.id);
  s.tokens.push_back(t.id);
  if (s.request.params.logprobs >= 0) s.result.tokens.push_back(t);
  if (s.on_token) s.on_token(s.id, t);
  const SamplingParams& p = s.request.params;
  if (int(s.output.size()) >= p.min_tokens) {
    const bool eos = std::find(eos_ids_.begin(), eos_ids_.end(), t.id) != eos_ids_.end();
    const bool stop_id = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), t.id) != p.stop_token_ids.end();
    if ((eos && !p.ignore_eos) || stop_id) return finish(s, FinishReason::Stop);
    if (!p.stop_strings.empty()) {
      const std::string text = options_.detokenize(s.output);
      for (const std::string& stop : p.stop_strings)
        if (text.find(stop) != std::string::npos) {
          s.result.stop = stop;
          return finish(s, FinishReason::Stop);
        }
    }
  }
  if (int(s.output.size()) >= p.max_tokens) finish(s, FinishReason::Length);
}

// MTP drafting for decoding sequences (spec §8.6): step 1 catches the MTP cache up on the main
// model's streams (positions mtp_done .. T-1, the last one paired with the pending token x_T) and
// proposes x_{T+1}; steps 2..k feed the MTP's own output streams back.
void Engine::draft(std::vector<Sequence*>& seqs) {
  const int64_t V = model_.config().vocab_size;
  std::vector<int> want(seqs.size());
  int kmax = 0;
  if (options_.drafter) {
    for (Sequence* s : seqs) {
      s->drafts.clear();
      s->draft_probs.clear();
      const int k = int(std::clamp<int64_t>(s->request.params.max_tokens - int64_t(s->output.size()) - 1, 0,
                                            options_.draft_tokens));
      std::vector<int32_t> d = options_.drafter(s->id, s->tokens, k);
      if (int(d.size()) > k) d.resize(size_t(k));
      for (int32_t t : d) {
        if (t < 0 || t >= V) fail("drafter: token {} outside the vocabulary [0, {})", t, V);
        s->drafts.push_back(t);
        if (!s->request.params.greedy()) {
          s->draft_probs.emplace_back(size_t(V), 0.0f);
          s->draft_probs.back()[size_t(t)] = 1.0f;
        }
      }
    }
    return;
  }
  // Constrained requests draft under a copy of their constraint advanced through the drafts, so
  // drafts follow the format (drafting stops once it allows nothing more: the value ended).
  std::vector<std::unique_ptr<TokenConstraint>> lookahead(seqs.size());
  std::vector<float> masked;
  std::vector<MtpSegment> segs;
  // Per sequence: the row of mtp_streams_ holding the MTP's output streams of its last draft.
  std::vector<int64_t> own(seqs.size(), -1);
  for (size_t i = 0; i < seqs.size(); ++i) {
    Sequence& s = *seqs[i];
    if (TokenConstraint* c = s.sampler.constraint()) lookahead[i] = c->clone();
    s.drafts.clear();
    s.draft_probs.clear();
    const int64_t T = s.processed;
    want[i] = int(std::min<int64_t>(options_.draft_tokens, s.request.params.max_tokens - int64_t(s.output.size()) - 1));
    want[i] = std::max(want[i], 0);
    kmax = std::max(kmax, want[i]);
    MtpSegment m;
    m.seq = SequenceId(s.id);
    m.start = s.mtp_done;
    m.stream_row = s.mtp_row;  // the main model's streams of positions mtp_done .. T-1, still in main_streams_
    m.next_ids.assign(s.tokens.begin() + s.mtp_done + 1, s.tokens.begin() + T + 1);
    s.mtp_done = T;
    segs.push_back(std::move(m));
  }
  for (int step = 0; step < std::max(kmax, 1); ++step) {
    std::vector<size_t> who;
    if (step > 0) {
      segs.clear();
      for (size_t i = 0; i < seqs.size(); ++i) {
        if (want[i] <= step) continue;
        Sequence& s = *seqs[i];
        MtpSegment m;
        m.seq = SequenceId(s.id);
        m.start = s.processed + step - 1;
        m.stream_row = own[i];
        m.next_ids = {s.drafts.back()};
        segs.push_back(std::move(m));
        who.push_back(i);
      }
      if (segs.empty()) break;
    } else {
      for (size_t i = 0; i < seqs.size(); ++i) who.push_back(i);
    }
    // Greedy drafts: one sampling call over every drafting sequence's row, its rows known before
    // the call (every MTP token's logits are computed: segment j's last row is its last token's),
    // so they travel with the plan. Sampled drafts stay on the host: the rejection scheme needs the
    // draft's whole distribution q_i (one row download each).
    SampleBatch& batch = *batch_;
    batch.clear();
    struct GreedyDraft {
      size_t i, j, row;
    };
    std::vector<GreedyDraft> greedy;
    std::vector<size_t> sampled;  // indices j of segs
    std::vector<int64_t> last_row(who.size());
    int64_t offset = 0;
    for (size_t j = 0; j < who.size(); ++j) {
      offset += int64_t(segs[j].next_ids.size());
      last_row[j] = offset - 1;
      const size_t i = who[j];
      Sequence& s = *seqs[i];
      if (want[i] <= step) continue;  // step 0 of a sequence that drafts nothing: catch-up only
      if (lookahead[i]) {
        const std::vector<uint64_t>& allowed = lookahead[i]->allowed();
        if (std::all_of(allowed.begin(), allowed.end(), [](uint64_t w) { return w == 0; })) {
          want[i] = int(s.drafts.size());  // the value is complete: nothing to draft
          continue;
        }
      }
      if (!s.request.params.greedy()) {
        sampled.push_back(j);
        continue;
      }
      std::vector<int32_t> ctx_out = s.output;
      ctx_out.insert(ctx_out.end(), s.drafts.begin(), s.drafts.end());
      const std::vector<uint64_t>* allowed = lookahead[i] ? &lookahead[i]->allowed() : nullptr;
      greedy.push_back(
          {i, j, batch.rows().add(last_row[j], s.request.params, s.context(ctx_out), eos_ids_, allowed, 0.0, -1)});
    }
    ForwardOptions fwd;
    fwd.numerics = options_.numerics;
    fwd.workspace = workspace_.get();
    fwd.streams = false;  // the MTP reads them in backend memory
    fwd.graphs = graphs_.get();
    fwd.device_logits = options_.device_sampling;
    fwd.keep_streams = &mtp_streams_;
    fwd.stream_source = step == 0 ? &main_streams_ : &mtp_streams_;
    if (options_.device_sampling && batch.size() > 0) fwd.payload = batch.staged();
    const BatchResult r = model_.mtp_forward(segs, cache_->storage, fwd);
    std::vector<float> host_row;
    for (size_t j : sampled) {
      const size_t i = who[j];
      Sequence& s = *seqs[i];
      std::vector<int32_t> ctx_out = s.output;
      ctx_out.insert(ctx_out.end(), s.drafts.begin(), s.drafts.end());
      std::span<const float> logits = host_logits(r, last_row[j], host_row);
      if (lookahead[i]) logits = mask_logits(logits, lookahead[i]->allowed(), masked);
      std::vector<float> probs;
      sampling_distribution(logits, s.request.params, s.context(ctx_out), eos_ids_, probs);
      s.drafts.push_back(sample_from(probs, s.sampler.stream().uniform()));
      s.draft_probs.push_back(std::move(probs));
      if (lookahead[i]) lookahead[i]->accept(s.drafts.back());  // allowed: it was sampled under the mask
      own[i] = r.token_row[j] + r.logit_rows[j] - 1;
    }
    sample_rows(r);
    for (const GreedyDraft& g : greedy) {
      Sequence& s = *seqs[g.i];
      s.drafts.push_back(batch.result(g.row).id);
      if (lookahead[g.i]) lookahead[g.i]->accept(s.drafts.back());  // allowed: it was chosen under the mask
      own[g.i] = r.token_row[g.j] + r.logit_rows[g.j] - 1;
    }
  }
}

std::span<const float> Engine::host_logits(const BatchResult& r, int64_t row, std::vector<float>& buf) const {
  const int64_t V = model_.config().vocab_size;
  if (r.device_logits == nullptr) return std::span<const float>(r.logits.data() + row * V, size_t(V));
  buf.resize(size_t(V));
  model_.ops().download(buf.data(), r.device_logits + row * V, size_t(V) * sizeof(float));
  return buf;
}

void Engine::sample_rows(const BatchResult& r) {
  if (batch_->size() == 0) return;
  const bool on_backend = r.device_logits != nullptr;
  batch_->run(on_backend ? r.device_logits : r.logits.data(), r.logit_count, on_backend, on_backend ? r.payload : nullptr);
}

bool Engine::step() {
  admit_waiting();
  if (live_.empty()) return !waiting_.empty();
  const bool spec = options_.draft_tokens > 0;
  const bool mtp = spec && !options_.drafter;
  ForwardOptions fwd;
  fwd.numerics = options_.numerics;
  fwd.workspace = workspace_.get();
  fwd.streams = false;  // nothing reads host streams (the MTP reads them in backend memory)
  fwd.graphs = graphs_.get();
  fwd.device_logits = options_.device_sampling;
  if (mtp) fwd.keep_streams = &main_streams_;  // the MTP reads them there (next step's draft, the catch-up below)
  CacheManager& mgr = cache_->manager;

  // Decoding sequences first (1 token, or the pending token + drafts), then prefill chunks, each
  // in admission order; a request that does not fit preempts the youngest unscheduled ones, or
  // itself (decoding) / waits a step (prefill) when there are none.
  auto is_live = [&](const Sequence* q) {
    return std::any_of(live_.begin(), live_.end(), [&](const auto& l) { return l.get() == q; });
  };
  std::vector<Sequence*> order;
  for (auto& q : live_) order.push_back(q.get());
  std::vector<Sequence*> decoding, scheduled;
  int64_t budget = options_.max_tokens_per_step;
  const int64_t decode_tokens = 1 + (spec ? options_.draft_tokens : 0);
  for (Sequence* q : order) {
    if (!is_live(q) || q->prefilling()) continue;
    if (!make_room(*q, q->processed + decode_tokens, scheduled)) {
      preempt(*q);
      continue;
    }
    decoding.push_back(q);
    scheduled.push_back(q);
    budget -= decode_tokens;
  }
  if (spec && !decoding.empty()) draft(decoding);

  std::vector<Segment> segs;
  std::vector<Sequence*> owners;
  for (Sequence* q : decoding) {
    Segment g{SequenceId(q->id), q->processed, {q->tokens.back()}, spec};
    g.ids.insert(g.ids.end(), q->drafts.begin(), q->drafts.end());
    segs.push_back(std::move(g));
    owners.push_back(q);
  }
  for (Sequence* q : order) {
    if (budget <= 0) break;
    if (!is_live(q) || !q->prefilling()) continue;
    Sequence& s = *q;
    const int64_t chunk = std::min(s.prefill_target - s.processed, budget);
    if (!make_room(s, s.processed + chunk, scheduled)) continue;
    scheduled.push_back(&s);
    segs.push_back({SequenceId(s.id), s.processed, std::vector<int64_t>(s.tokens.begin() + s.processed,
                                                                         s.tokens.begin() + s.processed + chunk),
                    false});
    owners.push_back(&s);
    budget -= chunk;
  }
  if (segs.empty()) return true;  // everything waits for room (the running requests free it)

  // Every logit row this step samples on the backend goes into one batch, built before the
  // forward (the rows are known from the segments: a decode or prefill segment's logits start
  // where the previous ones' end) and uploaded with the plan; then the op and one download:
  // prefill-last and decode rows, and the k+1 rows of each greedy verification. Sampled
  // verification stays on the host (rejection sampling needs the full p and q).
  SampleBatch& batch = *batch_;
  batch.clear();
  enum class Use { Prefill, Finish, Token, GreedyVerify, SampledVerify };
  struct Pending {
    Sequence* s;
    size_t seg;
    Use use;
    size_t row;  // Token: its row in the batch; GreedyVerify: the first of its k+1 rows
    int64_t logit_row;  // the segment's first logit row
  };
  std::vector<Pending> pending;
  int64_t logit_row = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    Sequence& s = *owners[i];
    const int64_t S = int64_t(segs[i].ids.size());
    const int64_t first = logit_row;
    logit_row += segs[i].all_logits ? S : 1;
    if (s.prefilling()) {
      Use use = Use::Prefill;  // prefill continues next step
      size_t row = 0;
      if (s.processed + S >= s.prefill_target) {
        use = s.request.params.max_tokens == 0 ? Use::Finish : Use::Token;
        if (use == Use::Token) row = s.sampler.add_row(batch.rows(), first, s.context(s.output));
      }
      pending.push_back({&s, i, use, row, first});
      continue;
    }
    if (!spec) {
      pending.push_back({&s, i, Use::Token, s.sampler.add_row(batch.rows(), first, s.context(s.output)), first});
      continue;
    }
    const SamplingParams& p = s.request.params;
    if (!p.greedy()) {
      pending.push_back({&s, i, Use::SampledVerify, 0, first});
      continue;
    }
    // Greedy verification: row j holds the target's logits after the pending token + drafts[0..j),
    // penalized with the output + drafts[0..j) and masked as below.
    const size_t first_row = batch.size();
    std::unique_ptr<TokenConstraint> lookahead = s.sampler.constraint() ? s.sampler.constraint()->clone() : nullptr;
    for (size_t j = 0; j <= s.drafts.size(); ++j) {
      std::vector<int32_t> ctx_out = s.output;
      ctx_out.insert(ctx_out.end(), s.drafts.begin(), s.drafts.begin() + int64_t(j));
      const std::vector<uint64_t>* allowed = lookahead ? &lookahead->allowed() : nullptr;
      if (allowed != nullptr && std::none_of(allowed->begin(), allowed->end(), [](uint64_t w) { return w != 0; })) {
        allowed = nullptr;
        lookahead.reset();
      }
      batch.rows().add(first + int64_t(j), p, s.context(ctx_out), eos_ids_, allowed, 0.0, p.logprobs);
      if (lookahead && j < s.drafts.size() && !lookahead->accept(s.drafts[j])) lookahead.reset();
    }
    pending.push_back({&s, i, Use::GreedyVerify, first_row, first});
  }
  if (options_.device_sampling && batch.size() > 0) fwd.payload = batch.staged();
  const BatchResult r = model_.forward(segs, cache_->storage, fwd);
  sample_rows(r);

  std::vector<MtpSegment> catch_up;  // MTP over freshly prefilled positions
  for (const Pending& q : pending) {
    Sequence& s = *q.s;
    const size_t i = q.seg;
    if (q.logit_row != r.logit_row[i]) fail("engine: segment {} logits at row {}, planned at {}", i, r.logit_row[i], q.logit_row);
    if (s.prefilling()) {
      const int64_t chunk_start = s.processed;
      s.processed += int64_t(segs[i].ids.size());
      if (mtp) {
        // Nothing is pending before a chunk (each chunk's catch-up below takes every position
        // whose next token is known), so the pending streams start at this chunk's first row.
        if (s.mtp_done != chunk_start)
          fail("engine: sequence {}: MTP at {} behind a prefill chunk at {}", s.id, s.mtp_done, chunk_start);
        s.mtp_row = r.token_row[i];
        const int64_t upto = std::min(s.processed, s.prefill_target - 1);  // positions whose next token is known
        if (upto > s.mtp_done) {
          MtpSegment m;
          m.seq = SequenceId(s.id);
          m.start = s.mtp_done;
          m.stream_row = s.mtp_row;
          m.next_ids.assign(s.tokens.begin() + s.mtp_done + 1, s.tokens.begin() + upto + 1);
          s.mtp_row += upto - s.mtp_done;
          s.mtp_done = upto;
          catch_up.push_back(std::move(m));
        }
      }
      if (q.use == Use::Finish) finish(s, FinishReason::Length);
      if (q.use == Use::Token) accept_token(s, s.sampler.token(batch.result(q.row)));
      continue;
    }
    if (q.use == Use::Token) {
      s.processed += 1;
      accept_token(s, s.sampler.token(batch.result(q.row)));
      continue;
    }
    const SamplingParams& p = s.request.params;
    const size_t k = s.drafts.size();
    VerifyResult v;
    std::vector<std::vector<float>> raw(k + 1);  // sampled: the rows' raw logits (for logprobs)
    if (q.use == Use::GreedyVerify) {
      std::vector<int32_t> best;
      for (size_t j = 0; j <= k; ++j) best.push_back(batch.result(q.row + j).id);
      v = verify_greedy_ids(best, s.drafts);
    } else {
      // Sampled verification on the host. Constrained: target j is masked by the constraint
      // advanced through drafts[0..j), so the kept tokens are distributed exactly as constrained
      // sampling without speculation. Past a draft the constraint forbids (external drafters)
      // verification stops at that draft, and past the end of the value nothing more is kept, so
      // those targets go unmasked.
      std::vector<std::vector<float>> target(k + 1);
      std::unique_ptr<TokenConstraint> lookahead = s.sampler.constraint() ? s.sampler.constraint()->clone() : nullptr;
      std::vector<float> masked;
      for (size_t j = 0; j <= k; ++j) {
        std::vector<int32_t> ctx_out = s.output;
        ctx_out.insert(ctx_out.end(), s.drafts.begin(), s.drafts.begin() + int64_t(j));
        const std::span<const float> row = host_logits(r, r.logit_row[i] + int64_t(j), raw[j]);
        if (raw[j].empty()) raw[j].assign(row.begin(), row.end());
        std::span<const float> logits = raw[j];
        if (lookahead) {
          const std::vector<uint64_t>& allowed = lookahead->allowed();
          if (std::any_of(allowed.begin(), allowed.end(), [](uint64_t w) { return w != 0; })) {
            logits = mask_logits(logits, allowed, masked);
            if (j < k && !lookahead->accept(s.drafts[j])) lookahead.reset();
          } else {
            lookahead.reset();
          }
        }
        sampling_distribution(logits, p, s.context(ctx_out), eos_ids_, target[j]);
      }
      v = verify_sampled(target, s.draft_probs, s.drafts, s.sampler.stream());
    }
    s.result.drafted += int64_t(k);
    if (options_.record_drafts) s.result.draft_log.emplace_back(s.processed, s.drafts);
    s.result.accepted += v.accepted;
    // Keep positions T .. T+accepted (the pending token and the accepted drafts); roll back the rest.
    const int64_t T = s.processed;
    s.processed = T + v.accepted + 1;
    mgr.truncate(SequenceId(s.id), s.processed);
    if (mtp) s.mtp_row = r.token_row[i];  // positions T .. T+accepted: the MTP's input next step
    for (size_t j = 0; j < v.tokens.size() && !s.finished; ++j) {
      SampledToken t;
      if (q.use == Use::GreedyVerify) {
        t = to_token(batch.result(q.row + j), p.logprobs);  // token j is row j's argmax
      } else {
        t.id = v.tokens[j];
        if (p.logprobs >= 0) raw_logprobs(raw[j], t.id, p.logprobs, t);
      }
      accept_token(s, t);
    }
  }
  if (!catch_up.empty()) {
    // Only the MTP cache matters here: nothing of the call's output is read.
    ForwardOptions quiet = fwd;
    quiet.streams = false;
    quiet.device_logits = true;
    quiet.keep_streams = nullptr;
    quiet.stream_source = &main_streams_;
    quiet.payload = {};
    model_.mtp_forward(catch_up, cache_->storage, quiet);
  }

  for (auto it = live_.begin(); it != live_.end();) {
    cache_prefix(**it);
    if ((*it)->finished) {
      mgr.release(SequenceId((*it)->id));
      done_[(*it)->id] = std::move((*it)->result);
      it = live_.erase(it);
    } else {
      ++it;
    }
  }
  return true;
}

std::vector<GenerationResult> Engine::run() {
  while (!live_.empty() || !waiting_.empty()) step();
  std::vector<GenerationResult> out;
  for (auto& [id, r] : done_) out.push_back(std::move(r));
  done_.clear();
  return out;
}

bool Engine::cancel(uint64_t request) {
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it)
    if ((*it)->id == request) {
      waiting_.erase(it);
      return true;
    }
  for (auto it = live_.begin(); it != live_.end(); ++it)
    if ((*it)->id == request) {
      cache_->manager.release(SequenceId(request));
      live_.erase(it);
      return true;
    }
  return done_.erase(request) != 0;
}

std::vector<GenerationResult> Engine::take_finished() {
  std::vector<GenerationResult> out;
  for (auto& [id, r] : done_) out.push_back(std::move(r));
  done_.clear();
  return out;
}

bool Engine::is_waiting(uint64_t request) const {
  return std::any_of(waiting_.begin(), waiting_.end(), [&](const auto& s) { return s->id == request; });
}

std::vector<GenerationResult> Engine::generate(const std::vector<GenerationRequest>& requests, TokenCallback on_token) {
  for (const GenerationRequest& r : requests) submit(r, on_token);
  return run();
}

}  // namespace dsv4
