// One sampling call of a step: the rows gathered on the host (SampleRows: every logit row the
// step needs — prefill-last, decode, greedy speculative verify and MTP draft rows), their arrays
// uploaded in one copy (with the step's plan: staged(), ForwardOptions::payload), the backend's sampling op (backends/sample_ops.h) over the logits the
// forward left in backend memory, and the results downloaded in one copy. Logits that are on the
// host instead (EngineOptions::device_sampling = false) are sampled there by the reference op.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backends/ops.h"
#include "runtime/sampler.h"

namespace dsv4 {

class SampleBatch {
 public:
  SampleBatch(Ops& ops, int64_t vocab);
  ~SampleBatch();
  SampleBatch(const SampleBatch&) = delete;
  SampleBatch& operator=(const SampleBatch&) = delete;

  SampleRows& rows() { return rows_; }
  size_t size() const { return rows_.size(); }
  void clear();
  // The rows' arrays packed for the backend (rows | penalties | mask ids | bitmasks, 16-byte
  // aligned pieces): the bytes that travel with the step's plan (ForwardOptions::payload), so the
  // step has one upload. Valid until the next clear() / staged().
  std::span<const uint8_t> staged();
  // Samples every row of rows() from logits [logit_rows, V]: in backend memory when on_backend
  // (the op and one download; the arrays are `uploaded`, staged() bytes already in backend memory,
  // or else uploaded here in one copy), else host memory (the reference op on the host).
  void run(const float* logits, int64_t logit_rows, bool on_backend, const void* uploaded = nullptr);
  const SampledRow& result(size_t i) const { return results_.at(i); }
  // Bytes of the last run's own upload (0 when the rows came with the plan) and download.
  size_t uploaded_bytes() const { return uploaded_; }
  size_t downloaded_bytes() const { return downloaded_; }

 private:
  Ops& ops_;
  SampleRows rows_;
  std::vector<SampledRow> results_;
  std::vector<uint8_t> staging_;
  size_t staged_rows_ = size_t(-1);  // rows when staged() ran
  size_t o_pen_ = 0, o_mask_ = 0, o_allowed_ = 0, in_bytes_ = 0;  // staging_'s layout
  void* device_ = nullptr;  // backend memory: the inputs (when not uploaded with the plan), then the results
  size_t device_bytes_ = 0;
  std::vector<float> scratch_;
  size_t uploaded_ = 0, downloaded_ = 0;
};

}  // namespace dsv4
