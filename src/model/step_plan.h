// The per-step metadata of a batched forward call (the "runner" side of the ops): which tokens
// belong to which sequence, and where every vector of the step is read from and written to in
// the cache pools, planned once on the host from the segments and the cache's block tables,
// then uploaded in one copy and handed to every layer (DeepGEMM/FlashMLA-style metadata:
// slot lists, block tables, per-token counts).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"

namespace dsv4 {

// One sequence's part of a call: `length` tokens at positions start .. start+length-1, rows
// offset .. offset+length-1 of the call.
struct SegmentSpan {
  SequenceId seq = 0;
  int64_t start = 0;
  int64_t offset = 0;
  int64_t length = 0;
};

// Compressed entries that complete during the step, for one compression ratio (4: CSA layers'
// attention and indexer compressors; 128: HCA layers). backends/paged_ops.h CompressPoolParams
// says how `src` addresses the call's rows and the rings.
struct EmissionPlan {
  int ratio = 0;
  int64_t n = 0;
  std::vector<int32_t> src;         // [n, L] L = 2·ratio (overlap) or ratio
  std::vector<int64_t> first_pos;   // [n] w·ratio (the entry's RoPE position)
  std::vector<int32_t> slot;        // [n] the entry's slot in the layer's pool
  std::vector<int32_t> ring_rows;   // call rows to keep in the ring (the last R of each segment)
  std::vector<int32_t> ring_dst;    // their ring slots s·R + p mod R
  // Ratio 4 with prefix caching: call rows at the last kCompressorTailTokens positions of a
  // block, and their tail rows (window block · 4 + p mod 128 − 124; KvPools::tail_*).
  std::vector<int32_t> tail_rows, tail_dst;
};

// The host-side plan. Token order = segment order (as the call's rows).
struct StepPlan {
  int64_t T = 0;                     // tokens of the call
  std::vector<SegmentSpan> spans;
  std::vector<int64_t> ids;          // [T]
  std::vector<int64_t> positions;    // [T]
  std::vector<int32_t> seg;          // [T] segment of each token
  std::vector<int32_t> rows;         // [T] 0..T-1 (the call's own slots of call_kv)
  int64_t Wn = 0;                    // sliding window
  std::vector<int32_t> win_store;    // [T] window slot of each token (-1: its block slid out)
  std::vector<int32_t> win;          // [T, Wn] window keys (PagedAttentionParams::win)
  EmissionPlan e4, e128;
  // CSA: entries visible to each token and the csa block table of each segment.
  std::vector<int32_t> visible4;     // [T]
  int64_t max_visible4 = 0;
  int64_t table4_stride = 0;
  std::vector<int32_t> table4;       // [segments, table4_stride]
  // HCA: every visible entry's slot.
  int64_t comp128_stride = 0;
  std::vector<int32_t> comp128;      // [T, comp128_stride]
  std::vector<int32_t> count128;     // [T]
  // Rows whose logits the head computes.
  std::vector<int64_t> head_rows;
  // MTP calls over streams kept in backend memory: the row of the stream buffer each token's
  // input streams are gathered from (-1: zeros, the padding rows); empty otherwise.
  std::vector<int32_t> stream_rows;
  int64_t real_segments = 0;  // spans beyond these are padding (PlanPadding)
};

// A fixed shape for a step that a CUDA graph replays: `segments` segments of `segment_tokens`
// tokens (the real ones, then dummy segments that read and write nothing: no window key, no
// visible entry, no store), emission and ring lists padded to one entry per token (padding:
// no sources, slot -1), and strides fixed from the longest context the graph serves.
struct PlanPadding {
  int64_t segments = 0, segment_tokens = 0;
  int64_t table_blocks = 0;      // table4_stride
  int64_t max_hca_entries = 0;   // comp128_stride
  int64_t max_visible4 = 0;
};

// Plans a call over `spans` (distinct sequences, tokens in order) with token ids `ids`. The cache
// must already hold room for every segment (CacheManager admit / extend). Throws dsv4::Error on
// ids outside the vocabulary, overlapping or empty segments, and window blocks a segment needs
// that already slid out (and, with `pad`, on a step that does not fit the padded shape).
StepPlan plan_step(const ModelConfig& config, const KvCache& cache, std::vector<SegmentSpan> spans,
                   std::vector<int64_t> ids, const std::vector<bool>& all_logits, const PlanPadding* pad = nullptr);

// The plan in backend memory (one upload), as the ops take it.
struct DevicePlan {
  int64_t T = 0, Wn = 0;
  const int64_t* ids = nullptr;
  const int64_t* positions = nullptr;
  const int32_t* seg = nullptr;
  const int32_t* rows = nullptr;
  const int32_t* win_store = nullptr;
  const int32_t* win = nullptr;
  struct Emission {
    int ratio = 0;
    int64_t n = 0, ring_n = 0;
    const int32_t* src = nullptr;
    const int64_t* first_pos = nullptr;
    const int32_t* slot = nullptr;
    const int32_t* ring_rows = nullptr;
    const int32_t* ring_dst = nullptr;
    int64_t tail_n = 0;
    const int32_t* tail_rows = nullptr;
    const int32_t* tail_dst = nullptr;
  } e4, e128;
  const int32_t* visible4 = nullptr;
  int64_t max_visible4 = 0, segments = 0;
  int64_t table4_stride = 0;
  const int32_t* table4 = nullptr;
  int64_t comp128_stride = 0;
  const int32_t* comp128 = nullptr;
  const int32_t* count128 = nullptr;
  int64_t head_n = 0;
  const int64_t* head_rows = nullptr;
  const int32_t* stream_rows = nullptr;  // [T] when the plan has them
  // The bytes that travelled with the plan (ForwardOptions::payload), in backend memory.
  const void* payload = nullptr;
};

}  // namespace dsv4

namespace dsv4 {
class Workspace;
// Packs the plan, then `payload` (16-byte aligned), and uploads them in one copy: into the
// workspace's staging buffer when the step is (or may become) a graph replay, which needs the
// same address every time; otherwise into the workspace itself, so that a long eager step (a
// prefill chunk) never moves the staging buffer under the captured graphs.
DevicePlan upload_plan(const StepPlan& plan, Workspace& ws, std::span<const uint8_t> payload = {},
                       bool fixed_address = true);
}  // namespace dsv4
