// Helpers for the CUDA tests: skipping without a device, device buffers, guarded outputs.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "backends/cuda/device.h"

namespace dsv4::cuda::test {

// True when a CUDA device is usable; otherwise the caller should GTEST_SKIP (CI has no GPU).
inline bool have_device(std::string* why) {
  int n = 0;
  const Status st = device_count(&n);
  if (!st) {
    *why = "no usable CUDA runtime: " + st.message();
    return false;
  }
  if (n == 0) {
    *why = "no CUDA device";
    return false;
  }
  return true;
}

#define DSV4_REQUIRE_CUDA_DEVICE()                           \
  do {                                                       \
    std::string why_;                                        \
    if (!::dsv4::cuda::test::have_device(&why_)) GTEST_SKIP() << why_; \
  } while (0)

#define DSV4_CUDA_OK(expr)                                                               \
  do {                                                                                   \
    const cudaError_t err_ = (expr);                                                     \
    ASSERT_EQ(err_, cudaSuccess) << #expr << ": " << cudaGetErrorString(err_);           \
  } while (0)

// Owns a cudaMalloc'ed buffer.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes) != cudaSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  uint8_t* get() const { return static_cast<uint8_t*>(ptr_); }
  size_t size() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace dsv4::cuda::test
