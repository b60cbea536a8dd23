#include "model/recorder.h"

namespace dsv4 {

namespace {
std::string join(std::string_view scope, std::string_view stage) {
  std::string name(scope);
  if (!name.empty()) name += '/';
  name += stage;
  return name;
}
}  // namespace

void MemoryRecorder::record(std::string_view scope, std::string_view stage, const float* data, const Shape& shape) {
  Entry e{join(scope, stage), shape, false, {}};
  e.values.assign(data, data + shape_numel(shape));
  entries_.push_back(std::move(e));
}

void MemoryRecorder::record_ints(std::string_view scope, std::string_view stage, const int32_t* data,
                                 const Shape& shape) {
  Entry e{join(scope, stage), shape, true, {}};
  const uint64_t n = shape_numel(shape);
  e.values.resize(n);
  for (uint64_t i = 0; i < n; ++i) e.values[i] = float(data[i]);
  entries_.push_back(std::move(e));
}

const MemoryRecorder::Entry* MemoryRecorder::find(const std::string& name) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
    if (it->name == name) return &*it;
  return nullptr;
}

}  // namespace dsv4
