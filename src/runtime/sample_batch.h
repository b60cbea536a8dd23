// One sampling call of a step: the rows gathered on the host (SampleRows: every logit row the
// step needs — prefill-last, decode, greedy speculative verify and MTP draft rows), their arrays
// uploaded in one copy, the backend's sampling op (backends/sample_ops.h) over the logits the
// forward left in backend memory, and the results downloaded in one copy. Logits that are on the
// host instead (EngineOptions::device_sampling = false) are sampled there by the reference op.
#pragma once

#include <cstdint>
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
  // Samples every row of rows() from logits [logit_rows, V]: in backend memory when on_backend
  // (one upload, the op, one download), else host memory (the reference op on the host).
  void run(const float* logits, int64_t logit_rows, bool on_backend);
  const SampledRow& result(size_t i) const { return results_.at(i); }
  // Bytes of the last run's upload and download (what one step's sampling costs in traffic).
  size_t uploaded_bytes() const { return uploaded_; }
  size_t downloaded_bytes() const { return downloaded_; }

 private:
  Ops& ops_;
  SampleRows rows_;
  std::vector<SampledRow> results_;
  std::vector<uint8_t> staging_;
  void* device_ = nullptr;  // backend memory: the inputs, then the results
  size_t device_bytes_ = 0;
  std::vector<float> scratch_;
  size_t uploaded_ = 0, downloaded_ = 0;
};

}  // namespace dsv4
