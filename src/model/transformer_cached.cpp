// Transformer::forward / mtp_forward: the batched, paged forward over the decode cache (spec §4,
// §8.6, §11) that every backend runs. The host plans the step once (model/step_plan.h), uploads
// the plan with whatever travels with it (the sampling rows: ForwardOptions::payload) in one copy,
// and every layer reads it; the only other host<->backend traffic is the download of the logits
// when they are not left in backend memory, and of the final streams when asked for (the engine
// keeps them in backend memory instead: ForwardOptions::keep_streams, MtpSegment::stream_row). Decode steps of a bucketed shape are
// captured once into a CUDA graph and replayed (model/step_graphs.h) where the backend has graphs.
#include "core/error.h"
#include "model/block.h"
#include "model/paged_attention.h"
#include "model/transformer.h"

namespace dsv4 {

StepGraphs::~StepGraphs() {
  if (ops != nullptr)
    for (const auto& [key, e] : graphs) ops->graph_release(e.id);
}

Transformer::StepOutput Transformer::run_step(const ForwardContext& ctx, const std::vector<const BlockParams*>& blocks,
                                              const StepPlan& plan, const DevicePlan& dplan, const KvCache& cache,
                                              const HcParams& hc, const float* norm, std::string_view scope,
                                              const StepStreams& io) const {
  const int64_t T = plan.T, d = config_.hidden_size, n = config_.hc_mult;
  const KvPools& pools = cache.pools();
  float* X = nullptr;
  if (!io.mtp) {
    X = embed_streams(ctx, dplan.ids, T);
  } else if (io.source != nullptr) {  // the rows the plan names, from backend memory
    float* S = ctx.ws.floats(T * n * d);
    ctx.ops.gather_rows({io.source->data, io.source->rows, dplan.stream_rows, T, n * d, S});
    X = mtp_input(ctx, S, dplan.ids, T);
  } else {
    X = mtp_input(ctx, io.uploaded, dplan.ids, T);
  }
  float* Y = ctx.ws.floats(T * n * d);
  for (const BlockParams* b : blocks)
    with_context(b->scope, [&] {
      block_forward(ctx, *b, X, T, dplan.ids,
                    [&](const float* x) { return attention_paged(ctx, b->attn, *b->spec, b->scope, x, dplan, pools); },
                    Y);
      std::swap(X, Y);
    });
  if (io.keep != nullptr) ctx.ops.copy(io.keep->data, X, size_t(T * n * d) * sizeof(float));
  // The head runs on the rows that want logits (runs of consecutive rows copied together).
  const int64_t R = int64_t(plan.head_rows.size());
  const float* Xh = X;
  if (R != T) {
    float* Xs = ctx.ws.floats(R * n * d);
    for (int64_t i = 0; i < R;) {
      int64_t j = i + 1;
      while (j < R && plan.head_rows[size_t(j)] == plan.head_rows[size_t(j - 1)] + 1) ++j;
      ctx.ops.copy(Xs + i * n * d, X + plan.head_rows[size_t(i)] * n * d, size_t((j - i) * n * d) * sizeof(float));
      i = j;
    }
    Xh = Xs;
  }
  return {head_logits(ctx, Xh, R, hc, norm, scope), X};
}

BatchResult Transformer::collect(const ForwardContext& ctx, const StepPlan& plan, const StepOutput& out,
                                 bool want_streams, bool device_logits) const {
  const int64_t V = config_.vocab_size, nd = config_.hc_mult * config_.hidden_size;
  BatchResult r;
  int64_t row = 0, tokens = 0;
  for (int64_t i = 0; i < plan.real_segments; ++i) {
    const SegmentSpan& s = plan.spans[size_t(i)];
    r.token_row.push_back(s.offset);
    r.logit_row.push_back(row);
    int64_t count = 0;
    while (row + count < int64_t(plan.head_rows.size()) && plan.head_rows[size_t(row + count)] < s.offset + s.length)
      ++count;
    r.logit_rows.push_back(count);
    row += count;
    tokens = s.offset + s.length;
  }
  // Real segments come first: their rows are a prefix of the head rows and of the tokens.
  r.logit_count = row;
  if (device_logits) {
    r.device_logits = out.logits;  // the sampling op reads them where they are
  } else {
    r.logits.resize(size_t(row * V));
    ctx.ops.download(r.logits.data(), out.logits, r.logits.size() * sizeof(float));
  }
  if (want_streams) {
    r.streams.resize(size_t(tokens * nd));
    ctx.ops.download(r.streams.data(), out.X, r.streams.size() * sizeof(float));
  }
  if (!device_logits || want_streams) ctx.ops.synchronize();
  return r;
}

BatchResult Transformer::forward_plan(const std::vector<const BlockParams*>& blocks, std::vector<SegmentSpan> spans,
                                      std::vector<int64_t> ids, const std::vector<bool>& all, const KvCache& cache,
                                      const ForwardOptions& options, const HcParams& hc, const float* norm,
                                      std::string_view scope, const std::vector<float>* mtp_streams,
                                      std::vector<int32_t> stream_rows) const {
  if (options.device_logits && options.workspace == nullptr)
    fail("forward: device logits live in the caller's workspace (ForwardOptions::workspace is null)");
  if (!options.payload.empty() && options.workspace == nullptr)
    fail("forward: the payload lives in the caller's workspace (ForwardOptions::workspace is null)");
  Workspace local(ops_);
  Workspace& ws = options.workspace != nullptr ? *options.workspace : local;
  ws.reset();
  const ForwardContext ctx = context(ws, options);
  const int64_t nd = config_.hc_mult * config_.hidden_size;
  const bool gathered = mtp_streams != nullptr && mtp_streams->empty() && !stream_rows.empty();
  if (gathered && options.stream_source == nullptr) fail("mtp: stream rows without ForwardOptions::stream_source");

  // A graph-shaped step: every segment the same short length, the same logits choice, no recorder.
  StepGraphs* graphs = options.graphs;
  bool graph = graphs != nullptr && ops_.graphs_supported() && options.recorder == nullptr && options.workspace &&
               int64_t(spans.size()) <= StepGraphs::kMaxGraphSegments;
  for (size_t i = 0; graph && i < spans.size(); ++i)
    graph = spans[i].length == spans[0].length && spans[i].length <= StepGraphs::kMaxGraphTokens && all[i] == all[0] &&
            spans[i].start + spans[i].length <= graphs->max_context;
  PlanPadding pad;
  if (graph) {
    pad.segments = StepGraphs::bucket(int64_t(spans.size()));
    pad.segment_tokens = spans[0].length;
    pad.table_blocks = (graphs->max_context + 127) / 128;
    pad.max_hca_entries = std::max<int64_t>(graphs->max_context / 128, 1);
    pad.max_visible4 = graphs->max_context / 4;
  }
  std::vector<bool> all_padded = all;
  if (graph) all_padded.resize(size_t(pad.segments), all[0]);
  StepPlan plan = plan_step(config_, cache, std::move(spans), std::move(ids), all_padded, graph ? &pad : nullptr);
  if (gathered) {
    for (int32_t row : stream_rows)
      if (row < 0 || row >= options.stream_source->rows)
        fail("mtp: stream row {} outside the stream buffer ({} rows)", row, options.stream_source->rows);
    stream_rows.resize(size_t(plan.T), -1);  // padding rows (a graph's dummy segments): zeros
    plan.stream_rows = std::move(stream_rows);
  }
  if (options.keep_streams != nullptr && plan.T > options.keep_streams->rows)
    fail("forward: {} tokens do not fit the kept streams' buffer of {} rows", plan.T, options.keep_streams->rows);
  const DevicePlan dplan = upload_plan(plan, ws, options.payload, graph);
  StepStreams io;
  io.mtp = mtp_streams != nullptr;
  io.source = gathered ? options.stream_source : nullptr;
  io.keep = options.keep_streams;
  if (io.mtp && !gathered) {
    float* S = ws.floats(plan.T * nd);
    ops_.upload(S, mtp_streams->data(), mtp_streams->size() * sizeof(float));
    if (int64_t(mtp_streams->size()) < plan.T * nd)  // padding rows (a graph's dummy segments): zeros
      ops_.fill_zero(S + mtp_streams->size(), size_t(plan.T * nd - int64_t(mtp_streams->size())) * sizeof(float));
    io.uploaded = S;
  }
  auto finish = [&](BatchResult r) {
    r.payload = dplan.payload;
    return r;
  };
  if (!graph)
    return finish(collect(ctx, plan, run_step(ctx, blocks, plan, dplan, cache, hc, norm, scope, io), options.streams,
                          options.device_logits));

  const StepGraphs::Key key{pad.segments,
                            pad.segment_tokens,
                            bool(all[0]),
                            !io.mtp ? 0 : gathered ? 2 : 1,
                            reinterpret_cast<uintptr_t>(io.source != nullptr ? io.source->data : nullptr),
                            reinterpret_cast<uintptr_t>(io.keep != nullptr ? io.keep->data : nullptr)};
  auto it = graphs->graphs.find(key);
  if (it != graphs->graphs.end() && it->second.staging != ws.staging_base()) {  // the plan moved: capture again
    ops_.graph_release(it->second.id);
    graphs->graphs.erase(it);
    it = graphs->graphs.end();
  }
  if (it != graphs->graphs.end()) {
    ops_.graph_replay(it->second.id);
    ++graphs->replays;
    return finish(collect(ctx, plan, {it->second.logits, it->second.X}, options.streams, options.device_logits));
  }
  // First step of this shape: run it eagerly (its results and cache writes are the step's, and
  // the workspace and scratch settle at their sizes), then record the same ops into a graph.
  const Workspace::Mark body = ws.mark();
  const StepOutput eager = run_step(ctx, blocks, plan, dplan, cache, hc, norm, scope, io);
  const BatchResult r = collect(ctx, plan, eager, options.streams, options.device_logits);
  ws.rewind(body);
  ops_.graph_begin();
  StepOutput captured;
  try {
    captured = run_step(ctx, blocks, plan, dplan, cache, hc, norm, scope, io);
  } catch (...) {
    try {
      ops_.graph_end();
    } catch (...) {
    }
    throw;
  }
  const uint64_t id = ops_.graph_end();
  if (captured.logits != eager.logits || captured.X != eager.X)
    fail("forward: the captured step's buffers moved (workspace not replayable)");
  graphs->ops = &ops_;
  graphs->graphs[key] = {id, captured.logits, captured.X, ws.staging_base()};
  ++graphs->captures;
  return finish(r);
}

BatchResult Transformer::forward(const std::vector<Segment>& segments, const KvCache& cache,
                                 const ForwardOptions& options) const {
  if (segments.empty()) fail("forward: no segments");
  std::vector<SegmentSpan> spans;
  std::vector<int64_t> ids;
  std::vector<bool> all;
  for (const Segment& s : segments) {
    spans.push_back({s.seq, s.start, 0, int64_t(s.ids.size())});
    all.push_back(s.all_logits);
    ids.insert(ids.end(), s.ids.begin(), s.ids.end());
  }
  std::vector<const BlockParams*> blocks;
  for (const BlockParams& b : blocks_) blocks.push_back(&b);
  return forward_plan(blocks, std::move(spans), std::move(ids), all, cache, options, hc_head_, norm_, "", nullptr);
}

BatchResult Transformer::mtp_forward(const std::vector<MtpSegment>& segments, const KvCache& cache,
                                     const ForwardOptions& options) const {
  if (!has_mtp_) fail("mtp: the model has no MTP block");
  if (segments.empty()) fail("mtp: no segments");
  const int64_t d = config_.hidden_size, n = config_.hc_mult;
  const bool gathered = segments[0].stream_row >= 0;
  std::vector<SegmentSpan> spans;
  std::vector<int64_t> ids;
  Floats streams;
  std::vector<int32_t> rows;
  for (const MtpSegment& s : segments) {
    const int64_t S = int64_t(s.next_ids.size());
    if ((s.stream_row >= 0) != gathered)
      fail("mtp: sequence {}: the streams of one call come from one place (host or stream buffer)", s.seq);
    if (gathered) {
      if (!s.streams.empty()) fail("mtp: sequence {}: host streams and a stream row", s.seq);
      for (int64_t t = 0; t < S; ++t) rows.push_back(int32_t(s.stream_row + t));
    } else {
      if (int64_t(s.streams.size()) != S * n * d)
        fail("mtp: sequence {}: {} stream values for {} tokens", s.seq, s.streams.size(), S);
      streams.insert(streams.end(), s.streams.begin(), s.streams.end());
    }
    spans.push_back({s.seq, s.start, 0, S});
    ids.insert(ids.end(), s.next_ids.begin(), s.next_ids.end());
  }
  // MTP calls are planned like any other, every token's logits wanted.
  return forward_plan({&mtp_block_}, std::move(spans), std::move(ids), std::vector<bool>(segments.size(), true), cache,
                      options, mtp_hc_head_, mtp_norm_, "mtp", &streams, std::move(rows));
}

}  // namespace dsv4
