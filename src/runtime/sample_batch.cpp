#include "runtime/sample_batch.h"

#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_sample.h"
#include "core/error.h"

namespace dsv4 {

namespace {

size_t align16(size_t n) { return (n + 15) / 16 * 16; }

}  // namespace

SampleBatch::SampleBatch(Ops& ops, int64_t vocab) : ops_(ops), rows_(vocab) {}

SampleBatch::~SampleBatch() {
  if (device_ != nullptr) ops_.free(device_);
}

void SampleBatch::clear() {
  rows_.clear();
  results_.clear();
}

void SampleBatch::run(const float* logits, int64_t logit_rows, bool on_backend) {
  const size_t R = rows_.size();
  results_.assign(R, SampledRow{});
  uploaded_ = downloaded_ = 0;
  if (R == 0) return;
  if (!on_backend) {
    const SampleArgs a = rows_.host_args(logits, logit_rows, results_.data());
    for (size_t r = 0; r < R; ++r) results_[r] = sample_ref::sample_row(a, int64_t(r), scratch_);
    return;
  }
  // One buffer: rows | penalties | mask ids | bitmasks (uploaded) | results (downloaded).
  const auto& rows = rows_.rows();
  const auto& pen = rows_.penalties();
  const auto& mask = rows_.mask_ids();
  const auto& allowed = rows_.allowed();
  const size_t o_rows = 0;
  const size_t o_pen = align16(o_rows + rows.size() * sizeof(SampleRowParams));
  const size_t o_mask = align16(o_pen + pen.size() * sizeof(PenaltyToken));
  const size_t o_allowed = align16(o_mask + mask.size() * sizeof(int32_t));
  const size_t in_bytes = o_allowed + allowed.size() * sizeof(uint64_t);
  const size_t o_out = align16(in_bytes);
  const size_t bytes = o_out + R * sizeof(SampledRow);
  if (bytes > device_bytes_) {
    if (device_ != nullptr) ops_.free(device_);
    device_ = nullptr;
    device_bytes_ = std::max(bytes, device_bytes_ * 2);
    device_ = ops_.alloc(device_bytes_);
  }
  staging_.resize(in_bytes);
  std::memcpy(staging_.data() + o_rows, rows.data(), rows.size() * sizeof(SampleRowParams));
  if (!pen.empty()) std::memcpy(staging_.data() + o_pen, pen.data(), pen.size() * sizeof(PenaltyToken));
  if (!mask.empty()) std::memcpy(staging_.data() + o_mask, mask.data(), mask.size() * sizeof(int32_t));
  if (!allowed.empty()) std::memcpy(staging_.data() + o_allowed, allowed.data(), allowed.size() * sizeof(uint64_t));
  uint8_t* dev = static_cast<uint8_t*>(device_);
  ops_.upload(dev, staging_.data(), in_bytes);
  SampleArgs a = rows_.host_args(logits, logit_rows, nullptr);
  a.rows = reinterpret_cast<const SampleRowParams*>(dev + o_rows);
  a.penalties = reinterpret_cast<const PenaltyToken*>(dev + o_pen);
  a.mask_ids = reinterpret_cast<const int32_t*>(dev + o_mask);
  a.allowed = reinterpret_cast<const uint64_t*>(dev + o_allowed);
  a.out = reinterpret_cast<SampledRow*>(dev + o_out);
  ops_.sample(a);
  ops_.download(results_.data(), dev + o_out, R * sizeof(SampledRow));
  uploaded_ = in_bytes;
  downloaded_ = R * sizeof(SampledRow);
}

}  // namespace dsv4
