// The checking launchers of the paged ops (kv_store.h, compress_pool.h, gather_rows.h,
// indexer_topk.h, paged_attention.h): host-side requirements first, then the raw launches of paged_kernels.h.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

#include "backends/cuda/sm90/paged/compress_pool.h"
#include "backends/cuda/sm90/paged/gather_rows.h"
#include "backends/cuda/sm90/paged/indexer_topk.h"
#include "backends/cuda/sm90/paged/kv_store.h"
#include "backends/cuda/sm90/paged/paged_attention.h"
#include "backends/cuda/sm90/paged/paged_kernels.h"

namespace dsv4::cuda {
namespace {

template <typename... Args>
Status err(fmt::format_string<Args...> f, Args&&... args) {
  return Status::error(fmt::format(f, std::forward<Args>(args)...));
}

bool aligned(const void* p, uintptr_t a) { return (reinterpret_cast<uintptr_t>(p) & (a - 1)) == 0; }
const void* vp(const void* p) { return p; }

Status launched(const char* what, cudaError_t e) {
  if (e != cudaSuccess) return err("{}: launch failed: {} ({})", what, cudaGetErrorString(e), cudaGetErrorName(e));
  return Status::ok();
}

Status check_kv_shape(const char* what, int64_t D, int64_t rd, KvFormat format) {
  if (D <= 0 || rd < 0 || rd > D || rd % 2 != 0) return err("{}: D = {}, rope_dim = {} invalid", what, D, rd);
  if (format != KvFormat::F32 && format != KvFormat::Fp8Ds) return err("{}: unknown KvFormat {}", what, int(format));
  if (format == KvFormat::Fp8Ds && (D - rd) % 64 != 0)
    return err("{}: Fp8Ds needs D − rope_dim a multiple of 64 (D = {}, rope_dim = {})", what, D, rd);
  if (D > (int64_t(1) << 20)) return err("{}: D = {} too large", what, D);
  return Status::ok();
}

Status check_key_shape(const char* what, int64_t hd, KeyFormat format) {
  if (hd <= 0 || hd > (int64_t(1) << 20)) return err("{}: hd = {} invalid", what, hd);
  if (format != KeyFormat::F32 && format != KeyFormat::Mxfp4) return err("{}: unknown KeyFormat {}", what, int(format));
  if (format == KeyFormat::Mxfp4 && hd % 32 != 0) return err("{}: Mxfp4 needs hd % 32 == 0 (hd = {})", what, hd);
  return Status::ok();
}

Status check_n(const char* what, int64_t n) {
  if (n < 0) return err("{}: n = {} negative", what, n);
  if (n > (int64_t(1) << 31) - 1) return err("{}: n = {} >= 2^31 (one CTA per vector)", what, n);
  return Status::ok();
}

}  // namespace

// ---------------------------------------------------------------- stores / loads

Status check_kv_store(const KvStoreParams& p) {
  const char* what = "kv_store";
  if (Status s = check_n(what, p.n); !s) return s;
  if (p.n == 0) return Status::ok();
  if (Status s = check_kv_shape(what, p.D, p.rope_dim, p.format); !s) return s;
  if (!p.vecs || !p.slots || !p.pool) return err("{}: null pointer (vecs {}, slots {}, pool {})", what, vp(p.vecs), vp(p.slots), vp(p.pool));
  if (!aligned(p.vecs, 16) || !aligned(p.pool, 16)) return err("{}: vecs {} / pool {} not 16-byte aligned", what, vp(p.vecs), vp(p.pool));
  if (p.pool_slots < 0) return err("{}: pool_slots = {} negative", what, p.pool_slots);
  return Status::ok();
}

Status check_key_store(const KeyStoreParams& p) {
  const char* what = "key_store";
  if (Status s = check_n(what, p.n); !s) return s;
  if (p.n == 0) return Status::ok();
  if (Status s = check_key_shape(what, p.hd, p.format); !s) return s;
  if (!p.keys || !p.slots || !p.pool) return err("{}: null pointer (keys {}, slots {}, pool {})", what, vp(p.keys), vp(p.slots), vp(p.pool));
  if (!aligned(p.keys, 16) || !aligned(p.pool, 16)) return err("{}: keys {} / pool {} not 16-byte aligned", what, vp(p.keys), vp(p.pool));
  if (p.pool_slots < 0) return err("{}: pool_slots = {} negative", what, p.pool_slots);
  return Status::ok();
}

Status check_kv_load(const KvLoadParams& p) {
  const char* what = "kv_load";
  if (Status s = check_n(what, p.n); !s) return s;
  if (p.n == 0) return Status::ok();
  if (Status s = check_kv_shape(what, p.D, p.rope_dim, p.format); !s) return s;
  if (!p.pool || !p.slots || !p.out) return err("{}: null pointer (pool {}, slots {}, out {})", what, vp(p.pool), vp(p.slots), vp(p.out));
  if (!aligned(p.out, 16) || !aligned(p.pool, 16)) return err("{}: out {} / pool {} not 16-byte aligned", what, vp(p.out), vp(p.pool));
  if (p.pool_slots < 0) return err("{}: pool_slots = {} negative", what, p.pool_slots);
  return Status::ok();
}

Status check_key_load(const KeyLoadParams& p) {
  const char* what = "key_load";
  if (Status s = check_n(what, p.n); !s) return s;
  if (p.n == 0) return Status::ok();
  if (Status s = check_key_shape(what, p.hd, p.format); !s) return s;
  if (!p.pool || !p.slots || !p.out) return err("{}: null pointer (pool {}, slots {}, out {})", what, vp(p.pool), vp(p.slots), vp(p.out));
  if (!aligned(p.out, 16) || !aligned(p.pool, 16)) return err("{}: out {} / pool {} not 16-byte aligned", what, vp(p.out), vp(p.pool));
  if (p.pool_slots < 0) return err("{}: pool_slots = {} negative", what, p.pool_slots);
  return Status::ok();
}

Status kv_store(const KvStoreParams& p, cudaStream_t stream) {
  if (Status s = check_kv_store(p); !s) return s;
  if (p.n == 0) return Status::ok();
  return launched("kv_store", detail::launch_kv_store(p, stream));
}
Status key_store(const KeyStoreParams& p, cudaStream_t stream) {
  if (Status s = check_key_store(p); !s) return s;
  if (p.n == 0) return Status::ok();
  return launched("key_store", detail::launch_key_store(p, stream));
}
Status kv_load(const KvLoadParams& p, cudaStream_t stream) {
  if (Status s = check_kv_load(p); !s) return s;
  if (p.n == 0) return Status::ok();
  return launched("kv_load", detail::launch_kv_load(p, stream));
}
Status key_load(const KeyLoadParams& p, cudaStream_t stream) {
  if (Status s = check_key_load(p); !s) return s;
  if (p.n == 0) return Status::ok();
  return launched("key_load", detail::launch_key_load(p, stream));
}

// ---------------------------------------------------------------- compressor

Status check_compress_pool_paged(const CompressPoolParams& p) {
  const char* what = "compress_pool_paged";
  if (p.n_emit < 0 || p.n_emit > 65535) return err("{}: n_emit = {} outside [0, 65535] (grid.y)", what, p.n_emit);
  if (p.ratio <= 0) return err("{}: ratio = {} must be positive", what, p.ratio);
  if (p.Dc <= 0) return err("{}: Dc = {} must be positive", what, p.Dc);
  if (p.T < 0 || p.ring_rows < 0) return err("{}: T = {}, ring_rows = {} negative", what, p.T, p.ring_rows);
  if (p.n_emit == 0) return Status::ok();
  if (!p.src || !p.ape || !p.out) return err("{}: null pointer (src {}, ape {}, out {})", what, vp(p.src), vp(p.ape), vp(p.out));
  if (p.T > 0 && (!p.kv || !p.gate)) return err("{}: T = {} with null kv / gate", what, p.T);
  if (p.ring_rows > 0 && (!p.ring_kv || !p.ring_gate)) return err("{}: ring_rows = {} with null ring", what, p.ring_rows);
  return Status::ok();
}

Status check_ring_store(const RingStoreParams& p) {
  const char* what = "ring_store";
  if (p.n < 0 || p.W < 0) return err("{}: n = {}, W = {} invalid", what, p.n, p.W);
  if (p.n == 0 || p.W == 0) return Status::ok();
  if (!p.kv || !p.gate || !p.rows || !p.dst || !p.ring_kv || !p.ring_gate) return err("{}: null pointer", what);
  return Status::ok();
}

Status compress_pool_paged(const CompressPoolParams& p, cudaStream_t stream) {
  if (Status s = check_compress_pool_paged(p); !s) return s;
  if (p.n_emit == 0) return Status::ok();
  return launched("compress_pool_paged", detail::launch_compress_pool_paged(p, stream));
}

Status ring_store(const RingStoreParams& p, cudaStream_t stream) {
  if (Status s = check_ring_store(p); !s) return s;
  if (p.n == 0 || p.W == 0) return Status::ok();
  return launched("ring_store", detail::launch_ring_store(p, stream));
}

Status check_gather_rows(const GatherRowsParams& p) {
  const char* what = "gather_rows";
  if (p.n < 0 || p.W < 0 || p.src_rows < 0) return err("{}: n = {}, W = {}, src_rows = {} invalid", what, p.n, p.W, p.src_rows);
  if (p.n == 0 || p.W == 0) return Status::ok();
  if (!p.rows || !p.dst || (p.src_rows > 0 && !p.src)) return err("{}: null pointer", what);
  return Status::ok();
}

Status gather_rows(const GatherRowsParams& p, cudaStream_t stream) {
  if (Status s = check_gather_rows(p); !s) return s;
  if (p.n == 0 || p.W == 0) return Status::ok();
  return launched("gather_rows", detail::launch_gather_rows(p, stream));
}

// ---------------------------------------------------------------- indexer

size_t indexer_topk_scratch_bytes(int64_t T, int64_t max_visible) {
  return size_t(std::max<int64_t>(T, 0)) * size_t(std::max<int64_t>(max_visible, 0)) * 4;
}

Status check_indexer_topk(const IndexerTopkParams& p) {
  const char* what = "indexer_topk";
  if (p.T < 0 || p.T > 65535) return err("{}: T = {} outside [0, 65535]", what, p.T);
  if (p.T == 0) return Status::ok();
  if (Status s = check_key_shape(what, p.hd, p.format); !s) return s;
  if (p.hd != 32 && p.hd != 64 && p.hd != 128) return err("{}: hd = {} unsupported (32, 64 or 128)", what, p.hd);
  if (p.nh <= 0 || p.nh * p.hd > 16384) return err("{}: nh = {} with hd = {}: need 0 < nh·hd <= 16384", what, p.nh, p.hd);
  if (p.topk < 0 || p.topk > 2048) return err("{}: topk = {} outside [0, 2048]", what, p.topk);
  if (p.entries_per_block <= 0) return err("{}: entries_per_block = {} must be positive", what, p.entries_per_block);
  if (p.max_visible < 0 || p.max_visible >= (int64_t(1) << 31)) return err("{}: max_visible = {} invalid", what, p.max_visible);
  if (p.table_stride < 0 || p.segments < 0 || p.key_pool_slots < 0) return err("{}: negative table_stride / segments / key_pool_slots", what);
  if (!p.q || !p.wts || !p.key_pool || !p.seg || !p.visible || !p.table || !p.sel || !p.count)
    return err("{}: null pointer (q {}, wts {}, key_pool {}, seg {}, visible {}, table {}, sel {}, count {})", what, vp(p.q),
               vp(p.wts), vp(p.key_pool), vp(p.seg), vp(p.visible), vp(p.table), vp(p.sel), vp(p.count));
  if (!aligned(p.q, 16) || !aligned(p.key_pool, 16)) return err("{}: q {} / key_pool {} not 16-byte aligned", what, vp(p.q), vp(p.key_pool));
  if (p.scores != nullptr) {
    if (p.score_stride < p.max_visible) return err("{}: score_stride = {} < max_visible = {}", what, p.score_stride, p.max_visible);
  } else if (p.max_visible > 0) {
    if (p.scratch == nullptr || p.scratch_bytes < size_t(p.max_visible) * 4)
      return err("{}: scratch of {} bytes at {}: need at least one row of max_visible = {} floats ({} bytes; all T: "
                 "indexer_topk_scratch_bytes = {})", what, p.scratch_bytes, vp(p.scratch), p.max_visible,
                 p.max_visible * 4, indexer_topk_scratch_bytes(p.T, p.max_visible));
    if (!aligned(p.scratch, 16)) return err("{}: scratch {} not 16-byte aligned", what, vp(p.scratch));
  }
  return Status::ok();
}

Status indexer_topk(const IndexerTopkParams& p, cudaStream_t stream) {
  if (Status s = check_indexer_topk(p); !s) return s;
  if (p.T == 0) return Status::ok();
  if (p.scores != nullptr) {
    if (Status s = launched("indexer_topk (scores)", detail::launch_indexer_scores(p, 0, p.T, p.scores, p.score_stride, true, stream)); !s)
      return s;
    return launched("indexer_topk (select)", detail::launch_indexer_select(p, 0, p.T, p.scores, p.score_stride, stream));
  }
  const int64_t stride = std::max<int64_t>(p.max_visible, 1);
  const int64_t chunk = p.max_visible == 0 ? p.T : std::min<int64_t>(p.T, int64_t(p.scratch_bytes / (size_t(stride) * 4)));
  float* scores = static_cast<float*>(p.scratch);
  for (int64_t t0 = 0; t0 < p.T; t0 += chunk) {
    const int64_t tc = std::min(chunk, p.T - t0);
    if (Status s = launched("indexer_topk (scores)", detail::launch_indexer_scores(p, t0, tc, scores, stride, false, stream)); !s)
      return s;
    if (Status s = launched("indexer_topk (select)", detail::launch_indexer_select(p, t0, tc, scores, stride, stream)); !s)
      return s;
  }
  return Status::ok();
}

// ---------------------------------------------------------------- attention

namespace {
int64_t attention_splits(int64_t Wn, int64_t comp_stride) {
  return (Wn + comp_stride + kPagedAttentionSplit - 1) / kPagedAttentionSplit;
}
int64_t attention_token_floats(int64_t H, int64_t D, int64_t Wn, int64_t comp_stride) {
  return H * attention_splits(Wn, comp_stride) * (D + 2);
}
}  // namespace

size_t paged_attention_scratch_bytes(int64_t T, int64_t H, int64_t D, int64_t Wn, int64_t comp_stride) {
  return size_t(std::max<int64_t>(T, 0)) * size_t(attention_token_floats(H, D, Wn, comp_stride)) * 4;
}

Status check_paged_attention(const PagedAttentionParams& p) {
  const char* what = "paged_attention";
  if (p.T < 0 || p.T > 65535) return err("{}: T = {} outside [0, 65535] (grid.z)", what, p.T);
  if (p.T == 0) return Status::ok();
  if (Status s = check_kv_shape(what, p.D, p.rope_dim, p.format); !s) return s;
  if (p.D != 128 && p.D != 256 && p.D != 384 && p.D != 512) return err("{}: D = {} unsupported (128, 256, 384, 512)", what, p.D);
  if (p.H <= 0 || p.H > 65535 * 8) return err("{}: H = {} invalid", what, p.H);
  if (p.Wn < 0 || p.comp_stride < 0) return err("{}: Wn = {}, comp_stride = {} invalid", what, p.Wn, p.comp_stride);
  if (attention_splits(p.Wn, p.comp_stride) > 65535) return err("{}: Wn + comp_stride = {} too long", what, p.Wn + p.comp_stride);
  if (!p.q || !p.sink || !p.out) return err("{}: null pointer (q {}, sink {}, out {})", what, vp(p.q), vp(p.sink), vp(p.out));
  if (p.Wn > 0 && p.win == nullptr) return err("{}: win null with Wn = {}", what, p.Wn);
  if (p.comp != nullptr && p.comp_count == nullptr) return err("{}: comp without comp_count", what);
  if (p.win_pool_slots < 0 || p.comp_pool_slots < 0) return err("{}: negative pool slot counts", what);
  if (p.win_pool_slots > 0 && p.win_pool == nullptr) return err("{}: win_pool null with win_pool_slots = {}", what, p.win_pool_slots);
  if (p.comp_pool_slots > 0 && p.comp_pool == nullptr) return err("{}: comp_pool null with comp_pool_slots = {}", what, p.comp_pool_slots);
  const uintptr_t a = p.format == KvFormat::F32 ? 16 : 8;
  if (!aligned(p.q, 16) || !aligned(p.out, 16)) return err("{}: q {} / out {} not 16-byte aligned", what, vp(p.q), vp(p.out));
  if (!aligned(p.win_pool, a) || !aligned(p.comp_pool, a) || !aligned(p.call_kv, a))
    return err("{}: win_pool {}, comp_pool {}, call_kv {}: need {}-byte alignment", what, vp(p.win_pool), vp(p.comp_pool),
               vp(p.call_kv), a);
  const size_t need = paged_attention_scratch_bytes(1, p.H, p.D, p.Wn, p.comp_stride);
  if (need > 0 && (p.scratch == nullptr || p.scratch_bytes < need))
    return err("{}: scratch of {} bytes at {}: need at least one token's partials, {} bytes (all T: {})", what,
               p.scratch_bytes, vp(p.scratch), need, paged_attention_scratch_bytes(p.T, p.H, p.D, p.Wn, p.comp_stride));
  if (!aligned(p.scratch, 16)) return err("{}: scratch {} not 16-byte aligned", what, vp(p.scratch));
  return Status::ok();
}

Status paged_attention(const PagedAttentionParams& p, cudaStream_t stream, PagedAttentionKernel kernel) {
  if (Status s = check_paged_attention(p); !s) return s;
  if (p.T == 0) return Status::ok();
  const bool tiled = kernel == PagedAttentionKernel::kTiled ||
                     (kernel == PagedAttentionKernel::kAuto && p.format == KvFormat::Fp8Ds);
  const int64_t ns = attention_splits(p.Wn, p.comp_stride);
  const int64_t per_token = paged_attention_scratch_bytes(1, p.H, p.D, p.Wn, p.comp_stride);
  const int64_t chunk = per_token == 0 ? p.T : std::min<int64_t>(p.T, int64_t(p.scratch_bytes) / per_token);
  for (int64_t t0 = 0; t0 < p.T; t0 += chunk) {
    const int64_t tc = std::min(chunk, p.T - t0);
    if (Status s = launched("paged_attention", detail::launch_paged_attention(p, t0, tc, ns, static_cast<float*>(p.scratch),
                                                                           tiled, stream)); !s)
      return s;
  }
  return Status::ok();
}

}  // namespace dsv4::cuda
