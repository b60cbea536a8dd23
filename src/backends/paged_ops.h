// The cache-side ops of the batched, paged forward pass (spec §7, §11): storing K=V vectors and
// indexer keys into the cache pools, pooling compressed entries from the compressor's ring and
// the call's projections, the lightning indexer's scores + top-k over paged keys, and sparse
// attention over the window and the selected compressed entries — all for every segment of a
// step in one call, driven by per-step metadata that the host plans once (no per-sequence loop
// and no gathering into contiguous copies).
//
// Every pointer is in the backend's memory (host for the CPU reference, device for CUDA). Shapes
// in comments are row-major, last index fastest. T = tokens of the step (all segments
// concatenated), D = head_dim (512), rd = rope dims (64, the last rd channels of a vector).
//
// Pools. A pool holds the vectors of one layer as a flat array of slots; slot = block·P + i for
// block id `block` of the CacheManager's table and position i in the block (P = 128 window
// positions, 128/ratio compressed entries per block). The host turns positions and entry indices
// into slots; the kernels take slots.
//
// Formats of a slot:
//   KvFormat::F32    — D fp32 (exact numerics).
//   KvFormat::Fp8Ds  — the 584-byte "ds_mla" layout (spec §11.5) for D = 512, rd = 64:
//                      bytes [0, 448) e4m3 codes of channels 0..447, [448, 576) bf16 of channels
//                      448..511, [576, 583) 7 UE8M0 scales (one per 64 no-rope channels), byte
//                      583 = 0 (NaN codes are written as 0x7F). Encoding = the §9.2 FP8 fake-quant (block 64, power-of-two scales)
//                      of the no-rope channels and bf16 of the rope channels; decoding is exact.
//                      General D: nope = D − rd (a multiple of 64), bytes = align8(nope + 2·rd +
//                      nope/64).
//   KeyFormat::F32   — hd fp32 (exact numerics).
//   KeyFormat::Mxfp4 — hd/2 bytes of e2m1 codes (element 2m in the low nibble of byte m) then
//                      hd/32 UE8M0 scales, padded to a multiple of 8 bytes (hd = 128: 64 + 4 → 72).
//                      Encoding = the §9.3 FP4 fake-quant (block 32); exact for values that went
//                      through hadamard_fp4 (the official indexer keys).
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsv4 {

enum class KvFormat : uint8_t { F32, Fp8Ds };
enum class KeyFormat : uint8_t { F32, Mxfp4 };

// Bytes of one slot.
inline constexpr int64_t align8(int64_t n) { return (n + 7) / 8 * 8; }
inline constexpr int64_t kv_slot_bytes(KvFormat format, int64_t D, int64_t rope_dim) {
  return format == KvFormat::F32 ? D * 4 : align8((D - rope_dim) + 2 * rope_dim + (D - rope_dim) / 64);
}
inline constexpr int64_t key_slot_bytes(KeyFormat format, int64_t hd) {
  return format == KeyFormat::F32 ? hd * 4 : align8(hd / 2 + hd / 32);
}
static_assert(kv_slot_bytes(KvFormat::Fp8Ds, 512, 64) == 584);
static_assert(key_slot_bytes(KeyFormat::Mxfp4, 128) == 72);

// Bounds. Every struct carries the sizes of the buffers its indices point into (pool_slots,
// ring_rows, T, segments, ...). The CPU reference checks every index against them and throws
// dsv4::Error naming the field and value; the CUDA launchers check the host-side fields (shapes,
// pointers, alignment) and return a Status, and the kernels, which cannot report, treat an index
// out of range like a skipped one (-1: not stored, zeros when loaded, no key, score −inf).
//
// Decoding a scale byte 255 (the scale of a block holding ±inf) multiplies by +inf, so decoding
// reproduces the fake-quant's value in every case (a block with an infinity becomes NaN / ±inf
// exactly as fake_quant_fp8 / fake_quant_fp4 leave it).

// ---- stores (scatter through a slot mapping) ----
// pool[slots[i]] = encode(vecs[i, :]) for i < n with slots[i] >= 0 (slots[i] = -1: skipped).
// No two i share a slot (the host guarantees it).
struct KvStoreParams {
  const float* vecs = nullptr;   // [n, D]
  const int32_t* slots = nullptr;  // [n]
  int64_t n = 0;
  int64_t D = 0, rope_dim = 0;
  KvFormat format = KvFormat::F32;
  void* pool = nullptr;          // the layer's slots
  int64_t pool_slots = 0;        // slots in `pool`: every slots[i] < pool_slots
};
struct KeyStoreParams {
  const float* keys = nullptr;   // [n, hd]
  const int32_t* slots = nullptr;  // [n]
  int64_t n = 0;
  int64_t hd = 0;
  KeyFormat format = KeyFormat::F32;
  void* pool = nullptr;
  int64_t pool_slots = 0;        // slots in `pool`: every slots[i] < pool_slots
};
// Decoders (tests, the drift tool, prefix-cache checks): out[i, :] = decode(pool[slots[i]]),
// slots[i] = -1 gives zeros.
struct KvLoadParams {
  const void* pool = nullptr;
  const int32_t* slots = nullptr;  // [n]
  int64_t n = 0, D = 0, rope_dim = 0;
  KvFormat format = KvFormat::F32;
  float* out = nullptr;            // [n, D]
  int64_t pool_slots = 0;          // slots in `pool`: every slots[i] < pool_slots
};
struct KeyLoadParams {
  const void* pool = nullptr;
  const int32_t* slots = nullptr;  // [n]
  int64_t n = 0, hd = 0;
  KeyFormat format = KeyFormat::F32;
  float* out = nullptr;            // [n, hd]
  int64_t pool_slots = 0;          // slots in `pool`: every slots[i] < pool_slots
};

// ---- compressor (spec §7.3, §11.1) ----
// The compressor's per-token projections kv, gate [T, W] (W = coff·Dc; coff = 2 for ratio 4
// (overlap), 1 for ratio 128) live either in the step's buffers (this call's tokens) or in the
// per-sequence ring of the state pool (earlier tokens): ring slot r of state slot s holds the
// token at position p with r = p mod R (R = ring tokens, cache_layout.h), at
// ring_kv + (s·R + r)·W (the same for ring_gate).
//
// Pooling: for each emitted entry e (a window that completes in this step), the window's source
// tokens are listed in src[e, :L] with L = 2·ratio for overlap (the previous window's tokens,
// then the entry's own), ratio otherwise. src >= 0: row of kv/gate; src < 0: ring slot
// (−1 − src) in ring_kv/ring_gate (absolute: s·R + r); for overlap, src = INT32_MIN marks a
// missing previous window (entry 0): those slots take part with score −inf (weight 0).
// out[e, c] = Σ_j softmax_j(gate_j[c'] + ape[j', c']) · kv_j[c'] over the L slots, where for
// overlap, slot j < ratio (previous window) reads channel c' = c of its token and
// ape row j' = j, and slot j >= ratio reads channel c' = Dc + c with ape row j' = j − ratio;
// without overlap c' = c and j' = j. Exactly the CPU compress_pool over the gathered tokens.
struct CompressPoolParams {
  const float* kv = nullptr;       // [T, W] this step's projections
  const float* gate = nullptr;     // [T, W]
  const float* ring_kv = nullptr;  // state pool, this layer and role: [slots·R, W]
  const float* ring_gate = nullptr;
  const float* ape = nullptr;      // [ratio, W]
  const int32_t* src = nullptr;    // [n_emit, L]
  int64_t n_emit = 0;
  int ratio = 4;
  int64_t Dc = 0;                  // entry width; W = (ratio == 4 ? 2 : 1)·Dc
  float* out = nullptr;            // [n_emit, Dc] raw pooled entries (before norm / RoPE)
  int64_t T = 0;                   // rows of kv / gate: every src >= 0 is < T
  int64_t ring_rows = 0;           // rows of ring_kv / ring_gate (slots·R): every −1 − src < ring_rows
};
// ring[dst[i]] = (kv[rows[i]], gate[rows[i]]) for i < n with dst[i] >= 0 (dst = s·R + r;
// distinct, so only the last R tokens of a segment are listed; −1: skipped). Runs after the
// step's pooling has read the ring. The same op keeps the prefix cache's compressor tails
// (model/kv_cache.h), with the tail arrays as the "ring".
struct RingStoreParams {
  const float* kv = nullptr;       // [T, W]
  const float* gate = nullptr;
  const int32_t* rows = nullptr;   // [n]
  const int32_t* dst = nullptr;    // [n]
  int64_t n = 0, W = 0;
  float* ring_kv = nullptr;        // [slots·R, W]
  float* ring_gate = nullptr;
  int64_t T = 0;                   // rows of kv / gate: every rows[i] < T
  int64_t ring_rows = 0;           // rows of the ring (slots·R): every dst[i] < ring_rows
};

// ---- lightning indexer over paged keys (spec §7.4) ----
// For token t of segment seg[t], the visible entries are w < visible[t] (= (pos + 1) / 4); entry
// w of the segment's sequence is at slot table[seg[t]·table_stride + w / E]·E + w mod E
// (E = entries per block = 32). score[t, w] = Σ_h wts[t, h] · ReLU(q[t, h, :] · key_w).
// Output: the k (= min(topk, visible[t])) highest-scoring entries' SLOTS in sel[t, 0..k), in
// descending score order (ties: smaller w first), sel[t, j] = -1 for j >= k; count[t] = k.
// scores (optional, for recorders / drift): [T, score_stride] with score[t, w] for w <
// visible[t] and -inf for visible[t] <= w < score_stride.
struct IndexerTopkParams {
  const float* q = nullptr;        // [T, nh, hd] (official: Hadamard + FP4 applied)
  const float* wts = nullptr;      // [T, nh] (already scaled by hd^-1/2 · nh^-1/2)
  const void* key_pool = nullptr;  // the layer's indexer-key slots
  KeyFormat format = KeyFormat::F32;
  const int32_t* seg = nullptr;      // [T] segment of each token
  const int32_t* visible = nullptr;  // [T]
  const int32_t* table = nullptr;    // [segments, table_stride] csa block ids
  int64_t table_stride = 0;
  int64_t entries_per_block = 32;
  int64_t T = 0, nh = 0, hd = 0;
  int64_t topk = 0;
  int32_t* sel = nullptr;          // [T, topk] slots
  int32_t* count = nullptr;        // [T]
  float* scores = nullptr;         // optional [T, score_stride]
  int64_t score_stride = 0;
  int64_t key_pool_slots = 0;      // slots in key_pool: every table entry reached is < key_pool_slots / E
  int64_t segments = 0;            // rows of `table`: every seg[t] < segments
  int64_t max_visible = 0;         // an upper bound of visible[t] the host knows (sizes the CUDA
                                   // grid and scratch); every visible[t] <= max_visible,
                                   // <= table_stride·E and, with scores, <= score_stride
  void* scratch = nullptr;         // CUDA only: device scratch of scratch_bytes
                                   // (cuda::indexer_topk_scratch_bytes); the CPU ignores it
  size_t scratch_bytes = 0;
};

// ---- core attention with sink over paged keys (spec §7.6) ----
// For token t, head h, the keys are (K = V):
//   window:     win[t, j] for j < Wn: >= 0 a slot of win_pool; <= -2 row (−2 − v) of call_kv
//               (this step's vectors, in the same format, [T, slot bytes]); -1 skipped;
//   compressed: comp[t, j] for j < comp_count[t]: slots of comp_pool (-1 skipped).
// out[t, h, :] = Σ_keys softmax(q·k·scale, with the extra denominator term exp(sink[h])) · k.
// A token with no key at all gets zeros. comp may be null (no compressed keys: SWA layers).
struct PagedAttentionParams {
  const float* q = nullptr;          // [T, H, D]
  const float* sink = nullptr;       // [H]
  const void* win_pool = nullptr;
  const void* call_kv = nullptr;     // [T] slots of this step's window K=V
  const int32_t* win = nullptr;      // [T, Wn]
  int64_t Wn = 0;
  const void* comp_pool = nullptr;
  const int32_t* comp = nullptr;     // [T, comp_stride]
  const int32_t* comp_count = nullptr;  // [T]
  int64_t comp_stride = 0;
  KvFormat format = KvFormat::F32;
  int64_t T = 0, H = 0, D = 0, rope_dim = 0;
  float scale = 1.0f;
  float* out = nullptr;              // [T, H, D]
  int64_t win_pool_slots = 0;        // slots in win_pool: every win[t, j] >= 0 is < win_pool_slots
  int64_t comp_pool_slots = 0;       // slots in comp_pool: every comp[t, j] >= 0 is < comp_pool_slots
  void* scratch = nullptr;           // CUDA only: device scratch of scratch_bytes for the split-KV
  size_t scratch_bytes = 0;          // partials (cuda::paged_attention_scratch_bytes); CPU ignores it
};

}  // namespace dsv4
