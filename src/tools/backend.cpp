#include "tools/backend.h"

#include <cstdio>

#include "core/error.h"
#if DSV4_HAVE_CUDA
#include "backends/cuda/cuda_ops.h"
#endif

namespace dsv4::tools {

Backend make_backend(const std::string& device) {
  Backend b;
  b.device = device;
  if (device == "cpu") {
    b.ops = &cpu_ops();
    return b;
  }
  if (device.rfind("cuda", 0) != 0) fail("--device must be cpu, cuda or cuda:N, not '{}'", device);
  int index = 0;
  if (device.size() > 4) {
    if (device[4] != ':' || device.size() == 5) fail("--device must be cpu, cuda or cuda:N, not '{}'", device);
    try {
      index = std::stoi(device.substr(5));
    } catch (...) {
      fail("--device {}: '{}' is not a device index", device, device.substr(5));
    }
  }
#if DSV4_HAVE_CUDA
  auto progress = [last = uint64_t(0)](uint64_t bytes, int64_t tensors) mutable {
    if (bytes - last < (uint64_t(256) << 20)) return;
    last = bytes;
    std::fprintf(stderr, "\r[load] %lld tensors, %.2f GiB on the GPU", static_cast<long long>(tensors),
                 double(bytes) / double(1ull << 30));
    std::fflush(stderr);
  };
  b.owned = cuda::make_cuda_ops(index, progress);
  b.ops = b.owned.get();
  return b;
#else
  (void)index;
  fail("--device {}: this dsv4 was built without the CUDA backend (no nvcc at build time)", device);
#endif
}

void add_device_option(CLI::App* cmd, std::string& device) {
  cmd->add_option("--device", device, "cpu (reference backend, default) or cuda / cuda:N (Hopper GPU)");
}

}  // namespace dsv4::tools
