// backends/cuda/device.h: counting and describing devices.
#include <gtest/gtest.h>

#include <cstdio>

#include "backends/cuda/device.h"
#include "cuda/cuda_test_support.h"

namespace dsv4::cuda {
namespace {

TEST(CudaDevice, CountIsOkWithOrWithoutADevice) {
  int n = -1;
  const Status st = device_count(&n);
  if (!st) GTEST_SKIP() << "CUDA runtime unusable here: " << st.message();
  EXPECT_GE(n, 0);
}

TEST(CudaDevice, InfoDescribesEveryDevice) {
  DSV4_REQUIRE_CUDA_DEVICE();
  int n = 0;
  ASSERT_TRUE(device_count(&n).is_ok());
  for (int i = 0; i < n; ++i) {
    DeviceInfo d;
    const Status st = device_info(i, &d);
    ASSERT_TRUE(st.is_ok()) << st.message();
    std::printf("[device %d] %s, sm_%d%d, %d SMs, %.1f GiB (%.1f GiB free), L2 %d KiB, bus %d bits\n", i,
                d.name.c_str(), d.compute_major, d.compute_minor, d.sm_count, double(d.total_memory) / (1 << 30),
                double(d.free_memory) / (1 << 30), d.l2_cache_bytes / 1024, d.memory_bus_bits);
    EXPECT_EQ(d.index, i);
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.sm_count, 0);
    EXPECT_GT(d.total_memory, 0u);
    EXPECT_LE(d.free_memory, d.total_memory);
  }
  DeviceInfo d;
  EXPECT_FALSE(device_info(-1, &d).is_ok());
  EXPECT_FALSE(device_info(n, &d).is_ok());
}

TEST(CudaDevice, KernelsAreBuiltForThisDevice) {
  DSV4_REQUIRE_CUDA_DEVICE();
  DeviceInfo d;
  ASSERT_TRUE(device_info(0, &d).is_ok());
  // The backend is compiled for sm_90a only (Hopper).
  EXPECT_EQ(d.compute_major, 9) << d.name << " is not a Hopper GPU; the sm_90a kernels cannot run on it";
}

}  // namespace
}  // namespace dsv4::cuda
