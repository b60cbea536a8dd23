// Transformer::forward / mtp_forward: the batched, paged forward over the decode cache (spec §4,
// §8.6, §11) that every backend runs. The host plans the step once (model/step_plan.h), uploads
// the plan, and every layer reads it; the only other host<->backend traffic is the download of
// the logits (and of the final streams when asked for).
#include "core/error.h"
#include "model/block.h"
#include "model/paged_attention.h"
#include "model/transformer.h"

namespace dsv4 {

BatchResult Transformer::run_blocks(const ForwardContext& ctx, const std::vector<const BlockParams*>& blocks, float* X,
                                    const StepPlan& plan, const DevicePlan& dplan, const KvCache& cache,
                                    const HcParams& hc, const float* norm, std::string_view scope,
                                    bool want_streams) const {
  const int64_t T = plan.T, d = config_.hidden_size, n = config_.hc_mult, V = config_.vocab_size;
  const KvPools& pools = cache.pools();
  float* Y = ctx.ws.floats(T * n * d);
  for (const BlockParams* b : blocks)
    with_context(b->scope, [&] {
      block_forward(ctx, *b, X, T, dplan.ids,
                    [&](const float* x) { return attention_paged(ctx, b->attn, *b->spec, b->scope, x, dplan, pools); },
                    Y);
      std::swap(X, Y);
    });

  BatchResult r;
  for (const SegmentSpan& s : plan.spans) r.token_row.push_back(s.offset);
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
  const float* logits = head_logits(ctx, Xh, R, hc, norm, scope);
  int64_t row = 0;
  for (size_t i = 0; i < plan.spans.size(); ++i) {
    r.logit_row.push_back(row);
    int64_t count = 0;
    while (row + count < R && plan.head_rows[size_t(row + count)] < plan.spans[i].offset + plan.spans[i].length) ++count;
    r.logit_rows.push_back(count);
    row += count;
  }
  r.logits.resize(size_t(R * V));
  ctx.ops.download(r.logits.data(), logits, r.logits.size() * sizeof(float));
  if (want_streams) {
    r.streams.resize(size_t(T * n * d));
    ctx.ops.download(r.streams.data(), X, r.streams.size() * sizeof(float));
  }
  ctx.ops.synchronize();
  return r;
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
  const StepPlan plan = plan_step(config_, cache, std::move(spans), std::move(ids), all);
  Workspace local(ops_);
  Workspace& ws = options.workspace != nullptr ? *options.workspace : local;
  ws.reset();
  const ForwardContext ctx{config_, ops_, ws, options.numerics, options.recorder};
  const DevicePlan dplan = upload_plan(plan, ws);
  float* X = embed_streams(ctx, dplan.ids, plan.T);
  std::vector<const BlockParams*> blocks;
  for (const BlockParams& b : blocks_) blocks.push_back(&b);
  return run_blocks(ctx, blocks, X, plan, dplan, cache, hc_head_, norm_, "", options.streams);
}

BatchResult Transformer::mtp_forward(const std::vector<MtpSegment>& segments, const KvCache& cache,
                                     const ForwardOptions& options) const {
  if (!has_mtp_) fail("mtp: the model has no MTP block");
  if (segments.empty()) fail("mtp: no segments");
  const int64_t d = config_.hidden_size, n = config_.hc_mult;
  std::vector<SegmentSpan> spans;
  std::vector<int64_t> ids;
  Floats streams;
  for (const MtpSegment& s : segments) {
    const int64_t S = int64_t(s.next_ids.size());
    if (int64_t(s.streams.size()) != S * n * d)
      fail("mtp: sequence {}: {} stream values for {} tokens", s.seq, s.streams.size(), S);
    spans.push_back({s.seq, s.start, 0, S});
    ids.insert(ids.end(), s.next_ids.begin(), s.next_ids.end());
    streams.insert(streams.end(), s.streams.begin(), s.streams.end());
  }
  const StepPlan plan = plan_step(config_, cache, std::move(spans), std::move(ids), {});
  Workspace local(ops_);
  Workspace& ws = options.workspace != nullptr ? *options.workspace : local;
  ws.reset();
  const ForwardContext ctx{config_, ops_, ws, options.numerics, options.recorder};
  const DevicePlan dplan = upload_plan(plan, ws);
  float* S = ws.floats(plan.T * n * d);
  ops_.upload(S, streams.data(), streams.size() * sizeof(float));
  float* X = mtp_input(ctx, S, dplan.ids, plan.T);
  return run_blocks(ctx, {&mtp_block_}, X, plan, dplan, cache, mtp_hc_head_, mtp_norm_, "mtp", options.streams);
}

}  // namespace dsv4
