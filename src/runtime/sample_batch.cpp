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
  staged_rows_ = size_t(-1);
}

std::span<const uint8_t> SampleBatch::staged() {
  const auto& rows = rows_.rows();
  const auto& pen = rows_.penalties();
  const auto& mask = rows_.mask_ids();
  const auto& allowed = rows_.allowed();
  o_pen_ = align16(rows.size() * sizeof(SampleRowParams));
  o_mask_ = align16(o_pen_ + pen.size() * sizeof(PenaltyToken));
  o_allowed_ = align16(o_mask_ + mask.size() * sizeof(int32_t));
  in_bytes_ = o_allowed_ + allowed.size() * sizeof(uint64_t);
  staging_.assign(in_bytes_, 0);
  if (!rows.empty()) std::memcpy(staging_.data(), rows.data(), rows.size() * sizeof(SampleRowParams));
  if (!pen.empty()) std::memcpy(staging_.data() + o_pen_, pen.data(), pen.size() * sizeof(PenaltyToken));
  if (!mask.empty()) std::memcpy(staging_.data() + o_mask_, mask.data(), mask.size() * sizeof(int32_t));
  if (!allowed.empty()) std::memcpy(staging_.data() + o_allowed_, allowed.data(), allowed.size() * sizeof(uint64_t));
  staged_rows_ = rows.size();
  return staging_;
}

void SampleBatch::run(const float* logits, int64_t logit_rows, bool on_backend, const void* uploaded) {
  const size_t R = rows_.size();
  results_.assign(R, SampledRow{});
  uploaded_ = downloaded_ = 0;
  if (R == 0) return;
  if (!on_backend) {
    const SampleArgs a = rows_.host_args(logits, logit_rows, results_.data());
    for (size_t r = 0; r < R; ++r) results_[r] = sample_ref::sample_row(a, int64_t(r), scratch_);
    return;
  }
  if (uploaded != nullptr && staged_rows_ != R) fail("sample: rows were added after they were staged");
  if (uploaded == nullptr) staged();
  // Backend memory: the inputs (unless they came with the plan), then the results.
  const size_t o_out = uploaded != nullptr ? 0 : align16(in_bytes_);
  const size_t bytes = o_out + R * sizeof(SampledRow);
  if (bytes > device_bytes_) {
    if (device_ != nullptr) ops_.free(device_);
    device_ = nullptr;
    device_bytes_ = std::max(bytes, device_bytes_ * 2);
    device_ = ops_.alloc(device_bytes_);
  }
  uint8_t* dev = static_cast<uint8_t*>(device_);
  const uint8_t* in = static_cast<const uint8_t*>(uploaded);
  if (uploaded == nullptr) {
    ops_.upload(dev, staging_.data(), in_bytes_);
    uploaded_ = in_bytes_;
    in = dev;
  }
  SampleArgs a = rows_.host_args(logits, logit_rows, nullptr);
  a.rows = reinterpret_cast<const SampleRowParams*>(in);
  a.penalties = reinterpret_cast<const PenaltyToken*>(in + o_pen_);
  a.mask_ids = reinterpret_cast<const int32_t*>(in + o_mask_);
  a.allowed = reinterpret_cast<const uint64_t*>(in + o_allowed_);
  a.out = reinterpret_cast<SampledRow*>(dev + o_out);
  ops_.sample(a);
  ops_.download(results_.data(), dev + o_out, R * sizeof(SampledRow));
  downloaded_ = R * sizeof(SampledRow);
}

}  // namespace dsv4
