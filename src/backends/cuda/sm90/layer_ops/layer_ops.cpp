// The checking launchers of the layer-op headers: arguments first (a Status naming the failed
// requirement, before any GPU call), then the raw launch of kernels.h. Empty work queues nothing.
#include <fmt/format.h>

#include <cmath>

#include "backends/cuda/sm90/layer_ops/kernels.h"

namespace dsv4::cuda {
namespace {

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <typename... Args>
Status fail(fmt::format_string<Args...> f, Args&&... args) {
  return Status::error(fmt::format(f, std::forward<Args>(args)...));
}

Status launched(const char* what, cudaError_t err) {
  if (err != cudaSuccess)
    return fail("{}: launch failed: {} ({})", what, cudaGetErrorString(err), cudaGetErrorName(err));
  return Status::ok();
}

constexpr int64_t kMaxGrid = (int64_t(1) << 31) - 1;

}  // namespace

// ---------------- rms_norm ----------------
Status check_rms_norm(const RmsNormParams& p) {
  if (p.rows < 0) return fail("rms_norm: negative rows {}", p.rows);
  if (p.n <= 0 || p.ld < p.n) return fail("rms_norm: bad width {} / stride {}", p.n, p.ld);
  if (p.rows == 0) return Status::ok();
  if (p.x == nullptr || p.y == nullptr) return fail("rms_norm: null x or y");
  if (!(p.eps >= 0.0f)) return fail("rms_norm: eps {} must be >= 0", p.eps);
  if (p.rows > kMaxGrid) return fail("rms_norm: {} rows exceed the grid", p.rows);
  return Status::ok();
}
Status rms_norm(const RmsNormParams& p, cudaStream_t stream) {
  if (Status st = check_rms_norm(p); !st) return st;
  if (p.rows == 0) return Status::ok();
  return launched("rms_norm", detail::launch_rms_norm(p, stream));
}

// ---------------- rope ----------------
Status check_rope(const RopeParams& p) {
  if (p.rows < 0 || p.vecs < 0) return fail("rope: negative rows {} / vecs {}", p.rows, p.vecs);
  if (p.rope_dim <= 0 || p.rope_dim % 2 != 0 || p.rope_dim > 1024)
    return fail("rope: rope_dim {} must be even, in [2, 1024]", p.rope_dim);
  if (p.offset < 0 || (p.vecs > 1 && p.vec_stride < p.offset + p.rope_dim))
    return fail("rope: channels [{}, {}) do not fit a vector stride of {}", p.offset, p.offset + p.rope_dim,
                p.vec_stride);
  if (p.rows == 0 || p.vecs == 0) return Status::ok();
  if (p.x == nullptr || p.positions == nullptr || p.inv_freq == nullptr)
    return fail("rope: null x, positions or inv_freq");
  if (p.rows > kMaxGrid) return fail("rope: {} rows exceed the grid", p.rows);
  return Status::ok();
}
Status rope(const RopeParams& p, cudaStream_t stream) {
  if (Status st = check_rope(p); !st) return st;
  if (p.rows == 0 || p.vecs == 0) return Status::ok();
  return launched("rope", detail::launch_rope(p, stream));
}

// ---------------- fake_quant_fp8 ----------------
Status check_fake_quant_fp8(const FakeQuantFp8Params& p) {
  if (p.rows < 0 || p.n < 0) return fail("fake_quant_fp8: negative rows {} / n {}", p.rows, p.n);
  if (p.block <= 0 || p.c0 < 0 || p.c0 + p.n > p.ld)
    return fail("fake_quant_fp8: channels [{}, {}) outside stride {} (block {})", p.c0, p.c0 + p.n, p.ld, p.block);
  if (p.rows == 0 || p.n == 0) return Status::ok();
  if (p.x == nullptr) return fail("fake_quant_fp8: null x");
  if (p.rows * ((p.n + p.block - 1) / p.block) / 8 >= kMaxGrid) return fail("fake_quant_fp8: too many blocks");
  return Status::ok();
}
Status fake_quant_fp8(const FakeQuantFp8Params& p, cudaStream_t stream) {
  if (Status st = check_fake_quant_fp8(p); !st) return st;
  if (p.rows == 0 || p.n == 0) return Status::ok();
  return launched("fake_quant_fp8", detail::launch_fake_quant_fp8(p, stream));
}

// ---------------- fake_quant_nvfp4 ----------------
Status check_fake_quant_nvfp4(const FakeQuantNvfp4Params& p) {
  if (p.rows < 0 || p.n < 0) return fail("fake_quant_nvfp4: negative rows {} / n {}", p.rows, p.n);
  if (!(p.input_scale > 0.0f) || !std::isfinite(p.input_scale))
    return fail("fake_quant_nvfp4: input_scale must be positive and finite, got {}", p.input_scale);
  if (p.rows == 0 || p.n == 0) return Status::ok();
  if (p.x == nullptr) return fail("fake_quant_nvfp4: null x");
  if (p.rows * ((p.n + 15) / 16) * 16 / 256 >= kMaxGrid) return fail("fake_quant_nvfp4: too many blocks");
  return Status::ok();
}
Status fake_quant_nvfp4(const FakeQuantNvfp4Params& p, cudaStream_t stream) {
  if (Status st = check_fake_quant_nvfp4(p); !st) return st;
  if (p.rows == 0 || p.n == 0) return Status::ok();
  return launched("fake_quant_nvfp4", detail::launch_fake_quant_nvfp4(p, 1.0f / p.input_scale, stream));
}

// ---------------- hadamard_fp4 ----------------
Status check_hadamard_fp4(const HadamardFp4Params& p) {
  if (p.rows < 0) return fail("hadamard_fp4: negative rows {}", p.rows);
  if (p.n < 32 || p.n > 1024 || (p.n & (p.n - 1)) != 0)
    return fail("hadamard_fp4: length {} is not a power of two in [32, 1024] (one warp per row)", p.n);
  if (p.rows == 0) return Status::ok();
  if (p.x == nullptr) return fail("hadamard_fp4: null x");
  if (p.rows / 8 >= kMaxGrid) return fail("hadamard_fp4: too many rows");
  return Status::ok();
}
Status hadamard_fp4(const HadamardFp4Params& p, cudaStream_t stream) {
  if (Status st = check_hadamard_fp4(p); !st) return st;
  if (p.rows == 0) return Status::ok();
  const float scale = 1.0f / std::sqrt(float(p.n));  // core/quant.cpp hadamard_transform
  return launched("hadamard_fp4", detail::launch_hadamard_fp4(p, scale, stream));
}

// ---------------- swiglu ----------------
Status check_swiglu(const SwigluParams& p) {
  if (p.M < 0 || p.I < 0) return fail("swiglu: negative shape [{}, {}]", p.M, p.I);
  if (p.M == 0 || p.I == 0) return Status::ok();
  if (p.g == nullptr || p.u == nullptr || p.h == nullptr) return fail("swiglu: null g, u or h");
  return Status::ok();
}
Status swiglu(const SwigluParams& p, cudaStream_t stream) {
  if (Status st = check_swiglu(p); !st) return st;
  if (p.M == 0 || p.I == 0) return Status::ok();
  return launched("swiglu", detail::launch_swiglu(p, stream));
}

// ---------------- add ----------------
Status check_add(const AddParams& p) {
  if (p.n < 0) return fail("add: negative n {}", p.n);
  if (p.n == 0) return Status::ok();
  if (p.x == nullptr || p.y == nullptr) return fail("add: null x or y");
  return Status::ok();
}
Status add(const AddParams& p, cudaStream_t stream) {
  if (Status st = check_add(p); !st) return st;
  if (p.n == 0) return Status::ok();
  return launched("add", detail::launch_add(p, stream));
}

// ---------------- embed ----------------
Status check_embed(const EmbedParams& p) {
  if (p.T < 0) return fail("embed: negative T {}", p.T);
  if (p.vocab <= 0 || p.d <= 0 || p.n < 1) return fail("embed: bad vocab {} / d {} / n {}", p.vocab, p.d, p.n);
  if (p.T == 0) return Status::ok();
  if (p.table == nullptr || p.ids == nullptr || p.X == nullptr) return fail("embed: null table, ids or X");
  return Status::ok();
}
Status embed(const EmbedParams& p, cudaStream_t stream) {
  if (Status st = check_embed(p); !st) return st;
  if (p.T == 0) return Status::ok();
  return launched("embed", detail::launch_embed(p, stream));
}

// ---------------- compress_pool ----------------
Status check_compress_pool(const DenseCompressPoolParams& p) {
  if (p.ratio <= 0) return fail("compress_pool: ratio {} must be positive", p.ratio);
  if (p.S < 0 || p.Dc <= 0) return fail("compress_pool: bad S {} / Dc {}", p.S, p.Dc);
  if (p.S / p.ratio == 0) return Status::ok();
  if (p.kv == nullptr || p.gate == nullptr || p.ape == nullptr || p.E == nullptr)
    return fail("compress_pool: null kv, gate, ape or E");
  return Status::ok();
}
Status compress_pool(const DenseCompressPoolParams& p, cudaStream_t stream) {
  if (Status st = check_compress_pool(p); !st) return st;
  if (p.S / p.ratio == 0) return Status::ok();
  return launched("compress_pool", detail::launch_compress_pool(p, stream));
}

// ---------------- topk_indices ----------------
Status check_topk_indices(const TopkIndicesParams& p) {
  if (p.S < 0) return fail("topk_indices: negative S {}", p.S);
  if (p.k < 0 || p.k > p.Ne) return fail("topk_indices: k = {} with {} candidates", p.k, p.Ne);
  if (p.k > 1024) return fail("topk_indices: k = {} above the kernel's 1024", p.k);
  if (p.Ne >= (int64_t(1) << 31)) return fail("topk_indices: {} candidates (indices are int32)", p.Ne);
  if (p.S == 0 || p.k == 0) return Status::ok();
  if (p.score == nullptr || p.sel == nullptr) return fail("topk_indices: null score or sel");
  if (p.S > kMaxGrid) return fail("topk_indices: {} rows exceed the grid", p.S);
  return Status::ok();
}
Status topk_indices(const TopkIndicesParams& p, cudaStream_t stream) {
  if (Status st = check_topk_indices(p); !st) return st;
  if (p.S == 0 || p.k == 0) return Status::ok();
  return launched("topk_indices", detail::launch_topk_indices(p, stream));
}

// ---------------- route ----------------
Status check_route(const RouteParams& p) {
  if (p.S < 0) return fail("route: negative S {}", p.S);
  if (p.E < 1 || p.E > 1024) return fail("route: {} experts (supported 1..1024)", p.E);
  if (p.k <= 0 || p.k > p.E || p.k > 32) return fail("route: top-k {} with {} experts (k <= 32)", p.k, p.E);
  if (p.S == 0) return Status::ok();
  if (p.logits == nullptr || p.scores == nullptr || p.ids == nullptr || p.weights == nullptr)
    return fail("route: null logits, scores, ids or weights");
  if (p.tid2eid != nullptr && (p.token_ids == nullptr || p.vocab <= 0))
    return fail("route: hash routing needs token_ids and vocab > 0 (got vocab {})", p.vocab);
  return Status::ok();
}
Status route(const RouteParams& p, cudaStream_t stream) {
  if (Status st = check_route(p); !st) return st;
  if (p.S == 0) return Status::ok();
  return launched("route", detail::launch_route(p, stream));
}

// ---------------- hyper-connections ----------------
namespace {
Status check_hc_common(const char* what, int n, int64_t S, int64_t d) {
  if (n != 4) return fail("{}: {} streams (the kernels support n = 4)", what, n);
  if (S < 0) return fail("{}: negative S {}", what, S);
  if (d <= 0 || d % 4 != 0) return fail("{}: d = {} must be positive and a multiple of 4 (float4)", what, d);
  if (S > 65535 * 4) return fail("{}: S = {} above 262140", what, S);
  return Status::ok();
}
size_t hc_ws(int64_t S, int64_t d, int mix) {
  return size_t(detail::hc_chunks(4 * d)) * size_t(S) * size_t(mix + 1) * sizeof(float);
}
}  // namespace

size_t hc_pre_workspace_bytes(int64_t S, int64_t d) { return hc_ws(S, d, 24); }
size_t hc_head_workspace_bytes(int64_t S, int64_t d) { return hc_ws(S, d, 4); }

Status check_hc_pre(const HcPreParams& p) {
  if (Status st = check_hc_common("hc_pre", p.n, p.S, p.d); !st) return st;
  if (p.sinkhorn_iters < 1) return fail("hc_pre: sinkhorn_iters {} must be >= 1", p.sinkhorn_iters);
  if (p.S == 0) return Status::ok();
  if (!p.X || !p.fn || !p.scale || !p.base || !p.a_in || !p.post || !p.comb || !p.workspace)
    return fail("hc_pre: null pointer");
  if (!aligned16(p.X) || !aligned16(p.fn) || !aligned16(p.a_in) || !aligned16(p.workspace))
    return fail("hc_pre: X, fn, a_in and workspace must be 16-byte aligned");
  if (p.workspace_bytes < hc_pre_workspace_bytes(p.S, p.d))
    return fail("hc_pre: workspace {} bytes < {} needed", p.workspace_bytes, hc_pre_workspace_bytes(p.S, p.d));
  return Status::ok();
}
Status check_hc_head(const HcHeadParams& p) {
  if (Status st = check_hc_common("hc_head", p.n, p.S, p.d); !st) return st;
  if (p.S == 0) return Status::ok();
  if (!p.X || !p.fn || !p.scale || !p.base || !p.y || !p.workspace) return fail("hc_head: null pointer");
  if (!aligned16(p.X) || !aligned16(p.fn) || !aligned16(p.y) || !aligned16(p.workspace))
    return fail("hc_head: X, fn, y and workspace must be 16-byte aligned");
  if (p.workspace_bytes < hc_head_workspace_bytes(p.S, p.d))
    return fail("hc_head: workspace {} bytes < {} needed", p.workspace_bytes, hc_head_workspace_bytes(p.S, p.d));
  return Status::ok();
}
Status check_hc_post(const HcPostParams& p) {
  if (Status st = check_hc_common("hc_post", p.n, p.S, p.d); !st) return st;
  if (p.S == 0) return Status::ok();
  if (!p.f || !p.X || !p.post || !p.comb || !p.Xout) return fail("hc_post: null pointer");
  if (!aligned16(p.f) || !aligned16(p.X) || !aligned16(p.Xout))
    return fail("hc_post: f, X and Xout must be 16-byte aligned");
  if (p.Xout == p.X) return fail("hc_post: Xout may not alias X");
  return Status::ok();
}
Status hc_pre(const HcPreParams& p, cudaStream_t stream) {
  if (Status st = check_hc_pre(p); !st) return st;
  if (p.S == 0) return Status::ok();
  return launched("hc_pre", detail::launch_hc_pre(p, stream));
}
Status hc_head(const HcHeadParams& p, cudaStream_t stream) {
  if (Status st = check_hc_head(p); !st) return st;
  if (p.S == 0) return Status::ok();
  return launched("hc_head", detail::launch_hc_head(p, stream));
}
Status hc_post(const HcPostParams& p, cudaStream_t stream) {
  if (Status st = check_hc_post(p); !st) return st;
  if (p.S == 0) return Status::ok();
  return launched("hc_post", detail::launch_hc_post(p, stream));
}

}  // namespace dsv4::cuda
