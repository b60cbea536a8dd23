#include "model/transformer.h"

#include <numeric>

#include "core/error.h"
#include "model/block.h"
#include "model/hyper_connection.h"

namespace dsv4 {

Transformer::Transformer(const std::string& dir)
    : config_(ModelConfig::from_file(dir + "/config.json")),
      checkpoint_(std::make_unique<Checkpoint>(dir)),
      weights_(bind_weights(*checkpoint_, config_)) {
  for (int l = 0; l < config_.num_layers; ++l)
    blocks_.push_back(prepare_block(config_, config_.layers.at(size_t(l)), weights_.layers.at(size_t(l)),
                                    "layer" + std::to_string(l)));
  hc_head_ = prepare_hc(weights_.hc_head);
  norm_ = param_f32(weights_.norm);
  head_ = plain_linear(weights_.head, "head.weight");
  embed_ = plain_linear(weights_.embed, "embed.weight");
  has_mtp_ = config_.num_mtp_layers > 0 && !weights_.mtp.empty();
  if (has_mtp_) {
    const MTPWeights& m = weights_.mtp.front();
    mtp_block_ = prepare_block(config_, config_.mtp_layer(0), m.block, "mtp");
    mtp_hc_head_ = prepare_hc(m.hc_head);
    mtp_enorm_ = param_f32(m.enorm);
    mtp_hnorm_ = param_f32(m.hnorm);
    mtp_norm_ = param_f32(m.norm);
  }
}

ForwardContext Transformer::context(const ForwardOptions& options) const {
  return ForwardContext{config_, options.ops != nullptr ? *options.ops : cpu_ops(), options.numerics,
                        options.recorder};
}

Floats Transformer::embed(const ForwardContext&, const std::vector<int64_t>& ids, size_t first, int64_t count) const {
  const int64_t d = config_.hidden_size;
  Floats e(size_t(count * d));
  for (int64_t t = 0; t < count; ++t) {
    const int64_t id = ids[first + size_t(t)];
    if (id < 0 || id >= config_.vocab_size)
      fail("token id {} at position {} is outside the vocabulary [0, {})", id, first + size_t(t), config_.vocab_size);
    dequantize_rows(embed_, id, 1, e.data() + t * d);
  }
  return e;
}

Floats Transformer::head_logits(const ForwardContext& ctx, const Floats& X, int64_t S, const HcParams& hc,
                                const Floats& norm, std::string_view scope) const {
  const int64_t d = config_.hidden_size, V = config_.vocab_size;
  Floats y = dsv4::hc_head(ctx, hc, X, S);
  ctx.record(scope, "hc_head_out", y.data(), {S, d});
  ctx.ops.rms_norm(y.data(), S, d, d, norm.data(), float(config_.rms_norm_eps), y.data());
  ctx.record(scope, "final_norm_out", y.data(), {S, d});
  Floats logits(size_t(S * V));
  ctx.ops.linear(y.data(), S, d, head_, 0, V, logits.data(), V);
  return logits;
}

PrefillResult Transformer::prefill(const std::vector<int64_t>& ids, const ForwardOptions& options) const {
  if (ids.empty()) fail("prefill: no tokens");
  const ForwardContext ctx = context(options);
  const int64_t S = int64_t(ids.size()), d = config_.hidden_size, n = config_.hc_mult;
  std::vector<int64_t> positions(ids.size());
  std::iota(positions.begin(), positions.end(), 0);

  const Floats e = embed(ctx, ids, 0, S);
  ctx.record("", "embed", e.data(), {S, d});
  Floats X(size_t(S * n * d));
  for (int64_t t = 0; t < S; ++t)
    for (int64_t j = 0; j < n; ++j) std::copy(e.begin() + t * d, e.begin() + (t + 1) * d, X.begin() + (t * n + j) * d);

  for (const BlockParams& b : blocks_)
    with_context(b.scope, [&] { block_forward(ctx, b, X, S, positions.data(), ids.data()); });

  PrefillResult r;
  r.tokens = S;
  r.logits = head_logits(ctx, X, S, hc_head_, norm_, "");
  r.streams = std::move(X);
  return r;
}

Floats Transformer::mtp_input(const ForwardContext& ctx, const float* streams, const int64_t* next_ids,
                              int64_t T) const {
  const int64_t d = config_.hidden_size, n = config_.hc_mult;
  const MTPWeights& m = weights_.mtp.front();
  const float eps = float(config_.rms_norm_eps);
  const std::vector<int64_t> ids(next_ids, next_ids + T);
  Floats e = embed(ctx, ids, 0, T);
  ctx.ops.rms_norm(e.data(), T, d, d, mtp_enorm_.data(), eps, e.data());
  Floats h(streams, streams + T * n * d);
  ctx.ops.rms_norm(h.data(), T * n, d, d, mtp_hnorm_.data(), eps, h.data());
  Floats ep(size_t(T * d)), X(size_t(T * n * d));
  project(ctx, e.data(), T, m.e_proj, ep.data());
  project(ctx, h.data(), T * n, m.h_proj, X.data());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < d; ++c) X[size_t((t * n + j) * d + c)] += ep[size_t(t * d + c)];
  return X;
}

Floats Transformer::mtp_logits(const Floats& streams, const std::vector<int64_t>& ids,
                               const ForwardOptions& options) const {
  if (!has_mtp_) fail("mtp: the model has no MTP block");
  const ForwardContext ctx = context(options);
  const int64_t S = int64_t(ids.size()), d = config_.hidden_size, n = config_.hc_mult;
  if (int64_t(streams.size()) != S * n * d) fail("mtp: {} stream values for {} tokens", streams.size(), S);
  const int64_t T = S - 1;
  if (T <= 0) return {};
  ctx.record("mtp", "main_hidden_streams_last_layer", streams.data(), {S, n, d});
  Floats X = mtp_input(ctx, streams.data(), ids.data() + 1, T);

  std::vector<int64_t> positions(static_cast<size_t>(T));
  std::iota(positions.begin(), positions.end(), 0);
  const std::vector<int64_t> next_ids(ids.begin() + 1, ids.end());
  with_context("mtp", [&] { block_forward(ctx, mtp_block_, X, T, positions.data(), next_ids.data()); });
  return head_logits(ctx, X, T, mtp_hc_head_, mtp_norm_, "mtp");
}

}  // namespace dsv4
