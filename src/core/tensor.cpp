#include "core/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace dsv4 {

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

uint64_t shape_numel(const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

}  // namespace dsv4
