// The checking launcher of the sampling op (sample.h): host-side requirements, then the raw launch.
#include "backends/cuda/sm90/sample/sample.h"

#include <fmt/format.h>

#include "backends/cuda/sm90/sample/sample_kernels.h"

namespace dsv4::cuda {
namespace {

template <typename... Args>
Status err(fmt::format_string<Args...> f, Args&&... args) {
  return Status::error(fmt::format(f, std::forward<Args>(args)...));
}

constexpr int64_t kMax31 = (int64_t(1) << 31) - 1;

}  // namespace

size_t sample_scratch_bytes(int64_t R, int64_t V) { return size_t(R > 0 ? R : 0) * size_t(V > 0 ? V : 0) * sizeof(float); }

Status check_sample(const SampleArgs& a, const void* scratch, size_t scratch_bytes) {
  if (a.R < 0 || a.R > kMax31) return err("sample: R = {} outside [0, 2^31)", a.R);
  if (a.V <= 0 || a.V > kMax31) return err("sample: V = {} outside (0, 2^31)", a.V);
  if (a.logit_rows < 0 || a.penalty_count < 0 || a.mask_count < 0 || a.allowed_rows < 0)
    return err("sample: negative logit_rows {} / penalty_count {} / mask_count {} / allowed_rows {}", a.logit_rows,
               a.penalty_count, a.mask_count, a.allowed_rows);
  if (a.R == 0) return Status::ok();
  if (a.logits == nullptr || a.rows == nullptr || a.out == nullptr) return err("sample: null logits, rows or out");
  if ((a.penalty_count > 0 && a.penalties == nullptr) || (a.mask_count > 0 && a.mask_ids == nullptr) ||
      (a.allowed_rows > 0 && a.allowed == nullptr))
    return err("sample: null penalties, mask ids or allowed with a nonzero count");
  if (scratch == nullptr || scratch_bytes < sample_scratch_bytes(a.R, a.V))
    return err("sample: scratch of {} bytes, {} needed", scratch_bytes, sample_scratch_bytes(a.R, a.V));
  return Status::ok();
}

Status sample(const SampleArgs& a, void* scratch, size_t scratch_bytes, cudaStream_t stream) {
  if (Status st = check_sample(a, scratch, scratch_bytes); !st) return st;
  if (a.R == 0) return Status::ok();
  const cudaError_t e = detail::launch_sample(a, static_cast<float*>(scratch), stream);
  if (e != cudaSuccess) return err("sample: launch failed: {} ({})", cudaGetErrorString(e), cudaGetErrorName(e));
  return Status::ok();
}

}  // namespace dsv4::cuda
