#include "dist/host_reduce.h"

#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace dsv4::dist {

namespace {

float combine(float acc, float x, ReduceOp op) {
  if (op == ReduceOp::sum) return acc + x;
  return (x > acc || std::isnan(x)) && !std::isnan(acc) ? x : acc;
}

int32_t combine(int32_t acc, int32_t x, ReduceOp op) {
  if (op == ReduceOp::sum) return static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(x));
  return x > acc ? x : acc;
}

// T: the element type in memory; Acc: what it is accumulated in; load/store convert.
template <typename T, typename Acc, typename Load, typename Store>
void reduce(std::span<const void* const> inputs, void* out, size_t count, ReduceOp op, Load load, Store store) {
  auto* o = static_cast<T*>(out);
  for (size_t i = 0; i < count; ++i) {
    Acc acc = load(static_cast<const T*>(inputs[0])[i]);
    for (size_t r = 1; r < inputs.size(); ++r) acc = combine(acc, load(static_cast<const T*>(inputs[r])[i]), op);
    o[i] = store(acc);
  }
}

}  // namespace

void reduce_in_rank_order(std::span<const void* const> inputs, void* out, size_t count, DType type, ReduceOp op) {
  if (inputs.empty()) fail("reduce_in_rank_order: no inputs");
  switch (type) {
    case DType::F32:
      reduce<float, float>(inputs, out, count, op, [](float x) { return x; }, [](float x) { return x; });
      return;
    case DType::BF16:
      reduce<uint16_t, float>(inputs, out, count, op, bf16_to_f32, f32_to_bf16);
      return;
    case DType::I32:
      reduce<int32_t, int32_t>(inputs, out, count, op, [](int32_t x) { return x; }, [](int32_t x) { return x; });
      return;
    default: fail("reduce_in_rank_order: cannot reduce {}", dtype_name(type));
  }
}

}  // namespace dsv4::dist
