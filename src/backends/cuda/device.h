// CUDA devices: how many, and what each one is (name, multiprocessors, memory).
#pragma once

#include <cstdint>
#include <string>

#include "core/error.h"

namespace dsv4::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;              // "NVIDIA H100 80GB HBM3"
  int compute_major = 0;         // 9 for Hopper
  int compute_minor = 0;
  int sm_count = 0;              // streaming multiprocessors
  uint64_t total_memory = 0;     // bytes of device memory
  uint64_t free_memory = 0;      // bytes free when asked
  int l2_cache_bytes = 0;
  int memory_bus_bits = 0;
  int memory_clock_khz = 0;      // peak memory clock
};

// Number of CUDA devices; 0 (and ok) when there is no device or no driver.
Status device_count(int* count);
// Properties of device `index` (0-based). Leaves the calling thread's current device as it was.
Status device_info(int index, DeviceInfo* info);

}  // namespace dsv4::cuda
