// The ops interface: every numeric operation the DeepSeek-V4 forward pass calls, one entry per
// op, plus the memory entries the forward pass needs to keep everything in the backend's memory.
// The model (src/model/) is written against this interface only; a backend implements it (CPU:
// reference loops in src/backends/cpu/, memory = host memory; CUDA: src/backends/cuda/, memory =
// device memory, work queued on the backend's stream).
//
// Every pointer an op takes is in the backend's memory (buffers from alloc(), weights from
// upload(), the cache pools), except where a comment says "host". Weights are LinearWeights
// whose views point into backend memory (prepare_weight()).
//
// Conventions: shapes in the comments are row-major, last index fastest; S = tokens of the call,
// H = attention heads, D = head dim (512), n = hc_mult. Buffers never alias unless a comment says
// so. Ops throw dsv4::Error on invalid arguments (what a host can check without reading data).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/paged_ops.h"
#include "backends/random_fill.h"
#include "backends/sample_ops.h"
#include "core/linear_weight.h"

namespace dsv4 {

// RoPE frequencies of one layer: angle(pos, i) = fp32(pos) * inv_freq[i], pair i = channels
// (offset + 2i, offset + 2i + 1) of a vector (interleaved pairs, spec §2.4).
struct RopeFrequencies {
  std::vector<float> inv_freq;  // rope_dim / 2 entries (YaRN already applied where it applies)
  int rope_dim() const { return int(inv_freq.size() * 2); }
};
// The same table in backend memory, as the rope op takes it.
struct RopeTable {
  const float* inv_freq = nullptr;  // [rope_dim / 2]
  int rope_dim = 0;
};
// A host view of a frequency table (backend memory of the CPU backend).
inline RopeTable host_table(const RopeFrequencies& f) { return {f.inv_freq.data(), f.rope_dim()}; }

// Activation quantization fused in front of a GEMM (numerics = official, spec §9.1).
enum class ActQuant : uint8_t {
  None,         // x as is
  Fp8Block128,  // e4m3 with power-of-two 1×128 scales (quant-dequant, fp32 view)
  Nvfp4,        // NVFP4 1×16 blocks under the weight's input_scale (ModelOpt W4A4)
};

// y[m, g·N + j] (ldy) = alpha · Σ_k q(x)[m, g·K + k] · W[row0 + g·N + j, k] (+ y when accumulate)
// for m < M, j < N, g < groups, K = w.in. groups > 1 is the grouped wo_a (row0 = 0 then).
struct LinearArgs {
  const float* x = nullptr;
  int64_t M = 0, ldx = 0;
  const LinearWeight* w = nullptr;
  int64_t row0 = 0, N = 0;
  float* y = nullptr;
  int64_t ldy = 0;
  ActQuant act = ActQuant::None;
  float alpha = 1.0f;
  bool accumulate = false;
  int64_t groups = 1;
};

// The routed experts of one MoE layer: y[t, :] = Σ_{j<k, ids[t,j] >= 0} weights[t, j]·expert(x[t])
// with expert(x) = w2 · q(swiglu(q(x)·w1ᵀ, q(x)·w3ᵀ; limit) · weight) as src/model/expert.cpp
// composes it (the routing weight scales the SwiGLU output; q = act quantization).
struct MoeArgs {
  const float* x = nullptr;        // [T, d]
  int64_t T = 0, d = 0;
  const int32_t* ids = nullptr;    // [T, k] expert ids (< E) or -1
  const float* weights = nullptr;  // [T, k]
  int64_t k = 0;
  const ExpertWeights* experts = nullptr;  // host array of E experts (views in backend memory)
  int64_t E = 0;
  // Expert parallelism: experts[i] is the layer's expert expert0 + i; ids outside
  // [expert0, expert0 + E) are another rank's and skipped. experts_total: the layer's experts
  // (ids must be below it); 0 = E.
  int64_t expert0 = 0;
  int64_t experts_total = 0;
  float swiglu_limit = 0.0f;
  ActQuant act = ActQuant::None;   // for MXFP4/FP8 experts Fp8Block128, NVFP4 experts Nvfp4
  float* y = nullptr;              // [T, d], overwritten
};

// Manifold-constrained hyper-connection sizes and constants (spec §6).
struct HcShape {
  int n = 4;            // streams (hc_mult)
  int64_t d = 0;        // hidden size
  float norm_eps = 1e-6f;  // rms_norm_eps (the collapse's unweighted RMS)
  float hc_eps = 1e-6f;
  int sinkhorn_iters = 20;
};

// dst[i, :] = src[rows[i], :] (W floats) for i < n; rows[i] < 0 writes zeros there. The row list
// is in backend memory (a step's plan), so a captured step gathers whatever rows its replay's plan
// names (the MTP's input streams, kept in backend memory between calls). Every rows[i] < src_rows.
struct GatherRowsParams {
  const float* src = nullptr;    // [src_rows, W]
  int64_t src_rows = 0;
  const int32_t* rows = nullptr;  // [n]
  int64_t n = 0, W = 0;
  float* dst = nullptr;           // [n, W]; does not alias src
};

class Ops {
 public:
  virtual ~Ops() = default;
  virtual const char* name() const = 0;

  // ---- memory ----
  // Backend memory: allocate / free (alloc never returns null; it throws when out of memory).
  virtual void* alloc(size_t bytes) = 0;
  virtual void free(void* p) = 0;
  // Host <-> backend copies and copies within backend memory (ordered with the ops).
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_zero(void* dst, size_t bytes) = 0;
  // Rows of src by a row list in backend memory (GatherRowsParams).
  virtual void gather_rows(const GatherRowsParams& p) = 0;
  // Waits until every queued op has finished (a no-op on the CPU).
  virtual void synchronize() = 0;
  // The backend's queue (a cudaStream_t), for the collectives that must be ordered with the ops
  // (dist::Communicator's `stream`); null on the CPU, whose ops are synchronous.
  virtual void* native_stream() const { return nullptr; }
  // True when backend memory is host memory (the CPU): host code may then read it directly.
  virtual bool host_memory() const = 0;
  // The backend's memory now (a device: cudaMemGetInfo), for sizing the cache; zeros = unknown.
  struct MemoryInfo {
    uint64_t free = 0, total = 0;
  };
  virtual MemoryInfo memory_info() const { return {}; }
  // A weight in backend memory: the CPU returns w as is (mmapped views); a device copies the
  // tensors in their checkpoint formats. The returned views live as long as the backend.
  virtual LinearWeight prepare_weight(const LinearWeight& w) = 0;
  virtual TensorView prepare_tensor(const TensorView& t) = 0;
  // CUDA graphs: the ops queued between graph_begin() and graph_end() are recorded, not run;
  // graph_replay(id) runs them again on the same buffers (whose contents may change). Between
  // begin and end no op may allocate, synchronize or copy to the host. Backends without graphs
  // say so with graphs_supported() == false (the others then throw).
  virtual bool graphs_supported() const { return false; }
  virtual void graph_begin();
  virtual uint64_t graph_end();
  virtual void graph_replay(uint64_t id);
  virtual void graph_release(uint64_t id);
  // A seeded random tensor in a checkpoint format, written in place (--random-weights).
  virtual void fill_random(const RandomFillParams& p) = 0;

  // ---- GEMM ----
  // y[m, j] = Σ_k x[m, k] · W[row0 + j, k]   for m < M, j < N; K = w.in.
  // x rows are ldx floats apart, y rows ldy apart. fp32 accumulation over the exactly
  // dequantized weight (any WeightFormat).
  virtual void linear(const LinearArgs& a) = 0;
  void linear(const float* x, int64_t M, int64_t ldx, const LinearWeight& w, int64_t row0, int64_t N, float* y,
              int64_t ldy) {
    linear(LinearArgs{x, M, ldx, &w, row0, N, y, ldy});
  }
  // Routed experts (see MoeArgs).
  virtual void moe_routed(const MoeArgs& a) = 0;
  // X[t, j, :] = fp32(table[ids[t], :]) for j < n (the n hyper-connection streams); table BF16
  // [vocab, d] (a prepared tensor), ids [T] (validated by the caller).
  virtual void embed(const int64_t* ids, int64_t T, const TensorView& table, int n, float* X) = 0;
  // y[i] += alpha · x[i] for i < n.
  virtual void add(float* y, const float* x, int64_t n, float alpha) = 0;

  // ---- normalisation, RoPE ----
  // y[r, :] = x[r, :] · rsqrt(mean(x[r, :]²) + eps) · weight   (weight [n] or null = unweighted)
  // rows × n, rows `ld` floats apart in x and y; x == y allowed.
  virtual void rms_norm(const float* x, int64_t rows, int64_t n, int64_t ld, const float* weight,
                        float eps, float* y) = 0;
  // Rotates channels [offset, offset + rope_dim) of `vecs` vectors per row, in place:
  // x[r, v, :] at x + r·row_stride + v·vec_stride, at position positions[r]. inverse = conjugate.
  virtual void rope(float* x, int64_t rows, int64_t vecs, int64_t row_stride, int64_t vec_stride,
                    int64_t offset, const int64_t* positions, const RopeTable& freqs,
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
  // (bias may be null) unless hash routing is given: ids[t, :] = tid2eid[token_ids[t], :]
  // (tid2eid I64 [vocab, k], token ids < vocab (validated by the caller), both in backend
  // memory); weights =
  // scores[ids] / Σ scores[ids] · route_scale. logits [S, E].
  virtual void route(const float* logits, int64_t S, int64_t E, int64_t k, const float* bias,
                     const int64_t* tid2eid, const int64_t* token_ids, int64_t vocab, float route_scale,
                     float* scores, int32_t* ids, float* weights) = 0;
  // Clamped SwiGLU: h[m, i] = silu(min(g, limit)) · clamp(u, ±limit) · (row_weight ? row_weight[m] : 1).
  // g, u, h [M, I]; h may alias g.
  virtual void swiglu(const float* g, const float* u, int64_t M, int64_t I, float limit,
                      const float* row_weight, float* h) = 0;

  // ---- the paged cache (backends/paged_ops.h) ----
  virtual void kv_store(const KvStoreParams& p) = 0;
  virtual void key_store(const KeyStoreParams& p) = 0;
  virtual void kv_load(const KvLoadParams& p) = 0;
  virtual void key_load(const KeyLoadParams& p) = 0;
  virtual void compress_pool_paged(const CompressPoolParams& p) = 0;
  virtual void ring_store(const RingStoreParams& p) = 0;
  virtual void indexer_topk(const IndexerTopkParams& p) = 0;
  virtual void paged_attention(const PagedAttentionParams& p) = 0;
  // Scratch the backend needs for those two (0 on the CPU).
  virtual size_t indexer_topk_scratch_bytes(int64_t /*T*/, int64_t /*max_visible*/) const { return 0; }
  virtual size_t paged_attention_scratch_bytes(int64_t /*T*/, int64_t /*H*/, int64_t /*D*/, int64_t /*Wn*/,
                                               int64_t /*comp_stride*/) const {
    return 0;
  }

  // ---- sampling (backends/sample_ops.h) ----
  // One token per row of a.logits (backend memory, e.g. the logits a forward left there): the
  // rows' parameters, penalty lists, mask ids and bitmasks in backend memory (uploaded once per
  // step), the results into a.out (downloaded once). Queued like every op; outside graphs.
  virtual void sample(const SampleArgs& a) = 0;
};

// The reference CPU backend (fp32 loops over the default thread pool).
Ops& cpu_ops();

}  // namespace dsv4
