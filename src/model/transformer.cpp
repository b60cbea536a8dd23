#include "model/transformer.h"

#include <numeric>

#include "core/error.h"
#include "model/attention.h"
#include "model/block.h"
#include "model/hyper_connection.h"

namespace dsv4 {

namespace {

// The part of the weights a rank binds (all of them on one rank). The layout is checked first,
// so that a bad one is reported as such rather than as a binding error (with the declared
// expert format, else the block check waits for the checkpoint's).
WeightShare bound_share(const Parallel& p, const ModelConfig& c) {
  validate_parallel(p, c, c.expert_format_declared ? c.expert_format : ExpertFormat::BF16);
  return weight_share(p, c);
}

}  // namespace

Transformer::Transformer(const std::string& dir, Ops* ops)
    : Transformer(ModelConfig::from_file(dir + "/config.json"), std::make_unique<Checkpoint>(dir), ops) {}

Transformer::Transformer(const std::string& dir, Ops* ops, const Parallel& parallel)
    : Transformer(ModelConfig::from_file(dir + "/config.json"), std::make_unique<Checkpoint>(dir), ops, parallel) {}

Transformer::Transformer(ModelConfig config, std::unique_ptr<Checkpoint> checkpoint, Ops* ops, const Parallel& parallel)
    : config_(std::move(config)),
      parallel_(parallel),
      checkpoint_(std::move(checkpoint)),
      weights_(bind_weights(*checkpoint_, config_, bound_share(parallel_, config_))),
      ops_(ops != nullptr ? *ops : cpu_ops()),
      store_(std::make_unique<ParamStore>(ops_)) {
  validate_parallel(parallel_, config_, weights_.expert_format);
  const Parallel* share = parallel_.distributed() ? &parallel_ : nullptr;
  ParamStore& store = *store_;
  for (int l = 0; l < config_.num_layers; ++l)
    blocks_.push_back(prepare_block(config_, config_.layers.at(size_t(l)), weights_.layers.at(size_t(l)),
                                    "layer" + std::to_string(l), store, share));
  hc_head_ = prepare_hc(weights_.hc_head, store);
  norm_ = store.f32(weights_.norm);
  head_ = store.weight(plain_linear(weights_.head, "head.weight"));
  if (weights_.embed.dtype != DType::BF16 || weights_.embed.ndim() != 2)
    fail("embed.weight: expected BF16 [vocab, d], got {} {}", dtype_name(weights_.embed.dtype),
         shape_str(weights_.embed.shape));
  embed_ = store.tensor(weights_.embed);
  has_mtp_ = config_.num_mtp_layers > 0 && !weights_.mtp.empty();
  if (has_mtp_) {
    const MTPWeights& m = weights_.mtp.front();
    mtp_block_ = prepare_block(config_, config_.mtp_layer(0), m.block, "mtp", store, share);
    mtp_hc_head_ = prepare_hc(m.hc_head, store);
    mtp_enorm_ = store.f32(m.enorm);
    mtp_hnorm_ = store.f32(m.hnorm);
    mtp_norm_ = store.f32(m.norm);
    mtp_e_proj_ = store.weight(m.e_proj);
    mtp_h_proj_ = store.weight(m.h_proj);
  }
}

Transformer::~Transformer() = default;

ForwardContext Transformer::context(Workspace& ws, const ForwardOptions& options) const {
  return ForwardContext{config_, ops_, ws, options.numerics, options.recorder,
                        parallel_.distributed() ? &parallel_ : nullptr};
}

float* Transformer::embed_streams(const ForwardContext& ctx, const int64_t* ids, int64_t T) const {
  float* X = ctx.ws.floats(T * config_.hc_mult * config_.hidden_size);
  ctx.ops.embed(ids, T, embed_, config_.hc_mult, X);
  return X;
}

float* Transformer::head_logits(const ForwardContext& ctx, const float* X, int64_t S, const HcParams& hc,
                                const float* norm, std::string_view scope) const {
  const int64_t d = config_.hidden_size, V = config_.vocab_size;
  float* y = dsv4::hc_head(ctx, hc, X, S);
  ctx.record(scope, "hc_head_out", y, {S, d});
  ctx.ops.rms_norm(y, S, d, d, norm, float(config_.rms_norm_eps), y);
  ctx.record(scope, "final_norm_out", y, {S, d});
  float* logits = ctx.ws.floats(S * V);
  ctx.ops.linear(y, S, d, head_, 0, V, logits, V);
  return logits;
}

float* Transformer::mtp_input(const ForwardContext& ctx, const float* streams, const int64_t* next_ids,
                              int64_t T) const {
  const int64_t d = config_.hidden_size, n = config_.hc_mult;
  const float eps = float(config_.rms_norm_eps);
  float* e = ctx.ws.floats(T * d);
  ctx.ops.embed(next_ids, T, embed_, 1, e);
  ctx.ops.rms_norm(e, T, d, d, mtp_enorm_, eps, e);
  float* h = ctx.ws.floats(T * n * d);
  ctx.ops.rms_norm(streams, T * n, d, d, mtp_hnorm_, eps, h);
  float* ep = ctx.ws.floats(T * d);
  float* X = ctx.ws.floats(T * n * d);
  project(ctx, e, T, mtp_e_proj_, ep);
  project(ctx, h, T * n, mtp_h_proj_, X);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < n; ++j) ctx.ops.add(X + (t * n + j) * d, ep + t * d, d, 1.0f);
  return X;
}

// ---- the oracle: uncached prefill on the CPU backend ----

namespace {

void require_host(const Ops& ops, const char* what) {
  if (!ops.host_memory()) fail("{}: the uncached oracle runs on the CPU backend only (use forward())", what);
}

}  // namespace

PrefillResult Transformer::prefill(const std::vector<int64_t>& ids, const ForwardOptions& options) const {
  if (ids.empty()) fail("prefill: no tokens");
  require_host(ops_, "prefill");
  Workspace local(ops_);
  Workspace& ws = options.workspace != nullptr ? *options.workspace : local;
  ws.reset();
  const ForwardContext ctx = context(ws, options);
  const int64_t S = int64_t(ids.size()), d = config_.hidden_size, n = config_.hc_mult;
  for (int64_t t = 0; t < S; ++t)
    if (ids[size_t(t)] < 0 || ids[size_t(t)] >= config_.vocab_size)
      fail("token id {} at position {} is outside the vocabulary [0, {})", ids[size_t(t)], t, config_.vocab_size);
  std::vector<int64_t> positions(ids.size());
  std::iota(positions.begin(), positions.end(), 0);

  float* X = embed_streams(ctx, ids.data(), S);
  if (ctx.recording()) {  // the embedding = stream 0 of every row (host memory: the oracle is CPU-only)
    Floats e(size_t(S * d));
    for (int64_t t = 0; t < S; ++t) std::copy(X + t * n * d, X + t * n * d + d, e.begin() + t * d);
    ctx.record("", "embed", e.data(), {S, d});
  }
  float* Y = ctx.ws.floats(S * n * d);
  for (const BlockParams& b : blocks_)
    with_context(b.scope, [&] {
      block_forward(ctx, b, X, S, ids.data(),
                    [&](const float* x) { return attention_prefill(ctx, b.attn, *b.spec, b.scope, x, S, positions.data()); },
                    Y);
      std::swap(X, Y);
    });

  PrefillResult r;
  r.tokens = S;
  const float* logits = head_logits(ctx, X, S, hc_head_, norm_, "");
  r.logits.assign(logits, logits + S * config_.vocab_size);
  r.streams.assign(X, X + S * n * d);
  return r;
}

Floats Transformer::mtp_logits(const Floats& streams, const std::vector<int64_t>& ids,
                               const ForwardOptions& options) const {
  if (!has_mtp_) fail("mtp: the model has no MTP block");
  require_host(ops_, "mtp_logits");
  const int64_t S = int64_t(ids.size()), d = config_.hidden_size, n = config_.hc_mult;
  if (int64_t(streams.size()) != S * n * d) fail("mtp: {} stream values for {} tokens", streams.size(), S);
  const int64_t T = S - 1;
  if (T <= 0) return {};
  Workspace local(ops_);
  Workspace& ws = options.workspace != nullptr ? *options.workspace : local;
  ws.reset();
  const ForwardContext ctx = context(ws, options);
  for (int64_t t = 0; t < S; ++t)
    if (ids[size_t(t)] < 0 || ids[size_t(t)] >= config_.vocab_size)
      fail("token id {} at position {} is outside the vocabulary [0, {})", ids[size_t(t)], t, config_.vocab_size);
  ctx.record("mtp", "main_hidden_streams_last_layer", streams.data(), {S, n, d});
  const float* X = mtp_input(ctx, streams.data(), ids.data() + 1, T);

  std::vector<int64_t> positions(static_cast<size_t>(T));
  std::iota(positions.begin(), positions.end(), 0);
  const std::vector<int64_t> next_ids(ids.begin() + 1, ids.end());
  float* Y = ctx.ws.floats(T * n * d);
  with_context("mtp", [&] {
    block_forward(ctx, mtp_block_, X, T, next_ids.data(),
                  [&](const float* x) {
                    return attention_prefill(ctx, mtp_block_.attn, *mtp_block_.spec, "mtp", x, T, positions.data());
                  },
                  Y);
  });
  const float* logits = head_logits(ctx, Y, T, mtp_hc_head_, mtp_norm_, "mtp");
  return Floats(logits, logits + T * config_.vocab_size);
}

}  // namespace dsv4
