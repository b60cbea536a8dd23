// Transformer::forward / mtp_forward: the cached, chunked, batched forward (spec §4, §8.6, §11).
#include <set>

#include "core/error.h"
#include "model/block.h"
#include "model/cached_attention.h"
#include "model/transformer.h"

namespace dsv4 {

namespace {

std::vector<SegmentSpan> spans_of(const std::vector<SequenceId>& seqs, const std::vector<int64_t>& starts,
                                  const std::vector<int64_t>& lengths, std::vector<int64_t>& positions) {
  std::vector<SegmentSpan> spans;
  std::set<SequenceId> seen;
  int64_t offset = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (lengths[i] <= 0) fail("forward: segment {} (sequence {}) has no tokens", i, seqs[i]);
    if (starts[i] < 0) fail("forward: segment {} starts at negative position {}", i, starts[i]);
    if (!seen.insert(seqs[i]).second) fail("forward: sequence {} appears in two segments of one call", seqs[i]);
    spans.push_back({seqs[i], starts[i], offset, lengths[i]});
    for (int64_t t = 0; t < lengths[i]; ++t) positions.push_back(starts[i] + t);
    offset += lengths[i];
  }
  return spans;
}

// Rows of X [T, n, d] to run the head on: every token, or the last of each segment.
void pick_rows(const std::vector<SegmentSpan>& spans, const std::vector<bool>& all, BatchResult& r,
               std::vector<int64_t>& rows) {
  for (size_t i = 0; i < spans.size(); ++i) {
    r.token_row.push_back(spans[i].offset);
    r.logit_row.push_back(int64_t(rows.size()));
    const int64_t first = all[i] ? spans[i].offset : spans[i].offset + spans[i].length - 1;
    for (int64_t t = first; t < spans[i].offset + spans[i].length; ++t) rows.push_back(t);
    r.logit_rows.push_back(int64_t(rows.size()) - r.logit_row.back());
  }
}

}  // namespace

BatchResult Transformer::forward(const std::vector<Segment>& segments, KvCache& cache,
                                 const ForwardOptions& options) const {
  if (segments.empty()) fail("forward: no segments");
  const ForwardContext ctx = context(options);
  const int64_t d = config_.hidden_size, n = config_.hc_mult;
  std::vector<SequenceId> seqs;
  std::vector<int64_t> starts, lengths, positions, ids;
  std::vector<bool> all;
  for (const Segment& s : segments) {
    seqs.push_back(s.seq);
    starts.push_back(s.start);
    lengths.push_back(int64_t(s.ids.size()));
    all.push_back(s.all_logits);
    ids.insert(ids.end(), s.ids.begin(), s.ids.end());
  }
  const std::vector<SegmentSpan> spans = spans_of(seqs, starts, lengths, positions);
  const int64_t T = int64_t(ids.size());

  const Floats e = embed(ctx, ids, 0, T);
  Floats X(size_t(T * n * d));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < n; ++j) std::copy(e.begin() + t * d, e.begin() + (t + 1) * d, X.begin() + (t * n + j) * d);
  for (const BlockParams& b : blocks_)
    with_context(b.scope, [&] {
      block_forward_with(ctx, b, X, T, ids.data(), [&](const float* x) {
        return attention_cached(ctx, b.attn, *b.spec, x, T, positions.data(), spans, cache);
      });
    });

  BatchResult r;
  std::vector<int64_t> rows;
  pick_rows(spans, all, r, rows);
  Floats Xs(rows.size() * size_t(n * d));
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy(X.begin() + rows[i] * n * d, X.begin() + (rows[i] + 1) * n * d, Xs.begin() + int64_t(i) * n * d);
  r.logits = head_logits(ctx, Xs, int64_t(rows.size()), hc_head_, norm_, "");
  r.streams = std::move(X);
  return r;
}

BatchResult Transformer::mtp_forward(const std::vector<MtpSegment>& segments, KvCache& cache,
                                     const ForwardOptions& options) const {
  if (!has_mtp_) fail("mtp: the model has no MTP block");
  if (segments.empty()) fail("mtp: no segments");
  const ForwardContext ctx = context(options);
  const int64_t d = config_.hidden_size, n = config_.hc_mult;
  std::vector<SequenceId> seqs;
  std::vector<int64_t> starts, lengths, positions, ids;
  Floats streams;
  for (const MtpSegment& s : segments) {
    const int64_t S = int64_t(s.next_ids.size());
    if (int64_t(s.streams.size()) != S * n * d)
      fail("mtp: sequence {}: {} stream values for {} tokens", s.seq, s.streams.size(), S);
    seqs.push_back(s.seq);
    starts.push_back(s.start);
    lengths.push_back(S);
    ids.insert(ids.end(), s.next_ids.begin(), s.next_ids.end());
    streams.insert(streams.end(), s.streams.begin(), s.streams.end());
  }
  const std::vector<SegmentSpan> spans = spans_of(seqs, starts, lengths, positions);
  const int64_t T = int64_t(ids.size());
  Floats X = mtp_input(ctx, streams.data(), ids.data(), T);
  with_context("mtp", [&] {
    block_forward_with(ctx, mtp_block_, X, T, ids.data(), [&](const float* x) {
      return attention_cached(ctx, mtp_block_.attn, *mtp_block_.spec, x, T, positions.data(), spans, cache);
    });
  });
  BatchResult r;
  std::vector<int64_t> rows;
  pick_rows(spans, std::vector<bool>(spans.size(), true), r, rows);
  r.logits = head_logits(ctx, X, T, mtp_hc_head_, mtp_norm_, "mtp");
  r.streams = std::move(X);
  return r;
}

}  // namespace dsv4
