// A non-owning view of a contiguous, row-major tensor in host or device memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace dsv4 {

enum class Device : uint8_t { Host, Cuda };

using Shape = std::vector<int64_t>;

// "[129280, 4096]"
std::string shape_str(const Shape& shape);
// Product of the dims (1 for a scalar); nullopt-free: callers validate dims >= 0 first.
uint64_t shape_numel(const Shape& shape);

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  Shape shape;
  Device device = Device::Host;

  uint64_t numel() const { return shape_numel(shape); }
  uint64_t nbytes() const { return numel() * dtype_size(dtype); }
  int64_t dim(size_t i) const { return shape.at(i); }
  size_t ndim() const { return shape.size(); }
  template <typename T>
  const T* as() const { return static_cast<const T*>(data); }
  const uint8_t* bytes() const { return static_cast<const uint8_t*>(data); }
};

}  // namespace dsv4
