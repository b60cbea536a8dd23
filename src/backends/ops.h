// The ops interface: every numeric operation the DeepSeek-V4 forward pass calls, one entry per
// op, over plain row-major fp32 buffers (plus weights in their checkpoint formats). The model
// (src/model/) is written against this interface only; a backend implements it (CPU: reference
// loops in src/backends/cpu/; CUDA later with the same entries and device buffers).
//
// Today the model allocates its activations as host std::vector<float>; a CUDA backend will need
// the buffers to come from the backend (an allocation entry, or TensorViews with Device::Cuda)
// before it can run the same model code — the entries themselves are already device-agnostic.
//
// Conventions: shapes in the comments are row-major, last index fastest; S = tokens of the call,
// H = attention heads, D = head dim (512), n = hc_mult. Buffers never alias unless a comment says
// so. Ops throw dsv4::Error on invalid arguments.
#pragma once

#include <cstdint>
#include <vector>

#include "core/linear_weight.h"

namespace dsv4 {

// RoPE frequencies of one layer: angle(pos, i) = fp32(pos) * inv_freq[i], pair i = channels
// (offset + 2i, offset + 2i + 1) of a vector (interleaved pairs, spec §2.4).
struct RopeFrequencies {
  std::vector<float> inv_freq;  // rope_dim / 2 entries (YaRN already applied where it applies)
  int rope_dim() const { return int(inv_freq.size() * 2); }
};

// Manifold-constrained hyper-connection sizes and constants (spec §6).
struct HcShape {
  int n = 4;            // streams (hc_mult)
  int64_t d = 0;        // hidden size
  float norm_eps = 1e-6f;  // rms_norm_eps (the collapse's unweighted RMS)
  float hc_eps = 1e-6f;
  int sinkhorn_iters = 20;
};

class Ops {
 public:
  virtual ~Ops() = default;
  virtual const char* name() const = 0;

  // ---- GEMM ----
  // y[m, j] = Σ_k x[m, k] · W[row0 + j, k]   for m < M, j < N; K = w.in.
  // x rows are ldx floats apart, y rows ldy apart. fp32 accumulation over the exactly
  // dequantized weight (any WeightFormat).
  virtual void linear(const float* x, int64_t M, int64_t ldx, const LinearWeight& w, int64_t row0,
                      int64_t N, float* y, int64_t ldy) = 0;

  // ---- normalisation, RoPE ----
  // y[r, :] = x[r, :] · rsqrt(mean(x[r, :]²) + eps) · weight   (weight [n] or null = unweighted)
  // rows × n, rows `ld` floats apart in x and y; x == y allowed.
  virtual void rms_norm(const float* x, int64_t rows, int64_t n, int64_t ld, const float* weight,
                        float eps, float* y) = 0;
  // Rotates channels [offset, offset + rope_dim) of `vecs` vectors per row, in place:
  // x[r, v, :] at x + r·row_stride + v·vec_stride, at position positions[r]. inverse = conjugate.
  virtual void rope(float* x, int64_t rows, int64_t vecs, int64_t row_stride, int64_t vec_stride,
                    int64_t offset, const int64_t* positions, const RopeFrequencies& freqs,
                    bool inverse) = 0;

  // ---- quantization points (numerics = official, spec §9) ----
  // x[r, c0 : c0 + n] <- e4m3(x / s)·s with power-of-two scales per `block` (rows ld apart).
  // bf16_out: round the result to bf16 (KV fake-quant §9.2); false: fp32 (GEMM inputs §9.1).
  virtual void fake_quant_fp8(float* x, int64_t rows, int64_t ld, int64_t c0, int64_t n, int64_t block,
                              bool bf16_out) = 0;
  // Rows of n contiguous floats <- NVFP4 quantize-dequantize in 1×16 blocks under the global
  // input_scale (ModelOpt W4A4 activations, the GEMM inputs of NVFP4 experts; core/quant.h).
  virtual void fake_quant_nvfp4(float* x, int64_t rows, int64_t n, float input_scale) = 0;
  // Each of `rows` vectors of length n (contiguous): Hadamard (scaled n^-1/2), then FP4 e2m1
  // fake-quant in 1×32 blocks (§9.3).
  virtual void hadamard_fp4(float* x, int64_t rows, int64_t n) = 0;

  // ---- mHC (spec §6) ----
  // X [S, n, d] -> a_in [S, d] (collapsed input), post [S, n], comb [S, n, n] (Sinkhorn).
  // fn [(2+n)n, n·d], scale [3], base [(2+n)n].
  virtual void hc_pre(const float* X, int64_t S, const HcShape& hc, const float* fn,
                      const float* scale, const float* base, float* a_in, float* post,
                      float* comb) = 0;
  // Xout[s, k, :] = post[s, k]·f[s, :] + Σ_j comb[s, j, k]·X[s, j, :]   (Xout may not alias X)
  virtual void hc_post(const float* f, const float* X, const float* post, const float* comb,
                       int64_t S, const HcShape& hc, float* Xout) = 0;
  // Final collapse: y[s, :] = Σ_j (sigmoid(...) + hc_eps)·X[s, j, :]; fn [n, n·d], scale [1], base [n].
  virtual void hc_head(const float* X, int64_t S, const HcShape& hc, const float* fn,
                       const float* scale, const float* base, float* y) = 0;

  // ---- compressor (spec §7.3) ----
  // kv, gate [S, coff·Dc] (coff = 2 if overlap), ape [ratio, coff·Dc] -> E [S / ratio, Dc]:
  // per-channel softmax over the window's slots (8 with overlap: A-halves of window w-1, B-halves
  // of window w) of gate + ape, weighting kv. Only complete windows are emitted.
  virtual void compress_pool(const float* kv, const float* gate, const float* ape, int64_t S,
                             int ratio, int64_t Dc, bool overlap, float* E) = 0;

  // ---- lightning indexer (spec §7.4) ----
  // score[t, w] = Σ_h wts[t, h] · ReLU(q[t, h, :] · keys[w, :]) for visible entries
  // (w < (positions[t] + 1) / ratio), -inf otherwise. q [S, nh, hd], wts [S, nh], keys [Ne, hd].
  virtual void indexer_scores(const float* q, const float* wts, const float* keys, int64_t S,
                              int64_t nh, int64_t hd, int64_t Ne, const int64_t* positions,
                              int ratio, float* score) = 0;
  // sel[t, :k] = indices of the k largest score[t, :] in descending order (k <= Ne); entries
  // whose score is -inf (not visible) are written as -1.
  virtual void topk_indices(const float* score, int64_t S, int64_t Ne, int64_t k, int32_t* sel) = 0;

  // ---- core attention with sink (spec §7.6) ----
  // For each token t and head h over the keys keys[idx[t, j]] (j < kw, -1 = skipped):
  // out[t, h, :] = Σ_j softmax_j(q·k_j·scale; extra denominator term exp(sink[h])) · k_j.
  // q [S, H, D], keys [Nk, D] (K = V), idx [S, kw], sink [H], out [S, H, D].
  virtual void sparse_attention(const float* q, const float* keys, const int32_t* idx,
                                const float* sink, int64_t S, int64_t H, int64_t D, int64_t Nk,
                                int64_t kw, float scale, float* out) = 0;

  // ---- MoE (spec §8) ----
  // Router: scores[t, e] = sqrt(softplus(logits[t, e])); ids[t, :k] = top-k of scores + bias
  // (bias may be null) unless `fixed_ids` (hash routing, [S, k] int64 rows) is given; weights =
  // scores[ids] / Σ scores[ids] · route_scale. logits [S, E].
  virtual void route(const float* logits, int64_t S, int64_t E, int64_t k, const float* bias,
                     const int64_t* fixed_ids, float route_scale, float* scores, int32_t* ids,
                     float* weights) = 0;
  // Clamped SwiGLU: h[m, i] = silu(min(g, limit)) · clamp(u, ±limit) · (row_weight ? row_weight[m] : 1).
  // g, u, h [M, I]; h may alias g.
  virtual void swiglu(const float* g, const float* u, int64_t M, int64_t I, float limit,
                      const float* row_weight, float* h) = 0;
};

// The reference CPU backend (fp32 loops over the default thread pool).
Ops& cpu_ops();

}  // namespace dsv4
