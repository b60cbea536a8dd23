#include "backends/cuda/device.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

namespace dsv4::cuda {
namespace {

Status cuda_status(const char* what, cudaError_t err) {
  if (err == cudaSuccess) return Status::ok();
  return Status::error(fmt::format("{}: {} ({})", what, cudaGetErrorString(err), cudaGetErrorName(err)));
}

}  // namespace

Status device_count(int* count) {
  *count = 0;
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    (void)cudaGetLastError();  // clear the sticky "last error" this leaves behind
    return Status::ok();
  }
  if (Status st = cuda_status("cudaGetDeviceCount", err); !st) return st;
  *count = n;
  return Status::ok();
}

Status device_info(int index, DeviceInfo* info) {
  int n = 0;
  if (Status st = device_count(&n); !st) return st;
  if (index < 0 || index >= n)
    return Status::error(fmt::format("device_info: no CUDA device {} (found {})", index, n));
  cudaDeviceProp prop{};
  if (Status st = cuda_status("cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, index)); !st) return st;
  DeviceInfo d;
  d.index = index;
  d.name = prop.name;
  d.compute_major = prop.major;
  d.compute_minor = prop.minor;
  d.sm_count = prop.multiProcessorCount;
  d.total_memory = prop.totalGlobalMem;
  d.l2_cache_bytes = prop.l2CacheSize;
  d.memory_bus_bits = prop.memoryBusWidth;
  if (cudaDeviceGetAttribute(&d.memory_clock_khz, cudaDevAttrMemoryClockRate, index) != cudaSuccess) {
    d.memory_clock_khz = 0;
    (void)cudaGetLastError();
  }
  int previous = 0;
  if (Status st = cuda_status("cudaGetDevice", cudaGetDevice(&previous)); !st) return st;
  if (Status st = cuda_status("cudaSetDevice", cudaSetDevice(index)); !st) return st;
  size_t free_bytes = 0, total_bytes = 0;
  const cudaError_t mem_err = cudaMemGetInfo(&free_bytes, &total_bytes);
  (void)cudaSetDevice(previous);
  if (Status st = cuda_status("cudaMemGetInfo", mem_err); !st) return st;
  d.free_memory = free_bytes;
  *info = std::move(d);
  return Status::ok();
}

}  // namespace dsv4::cuda
