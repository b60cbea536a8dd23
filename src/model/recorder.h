// Named intermediates: the forward pass publishes stage outputs ("layer3/attn_out") to a
// Recorder when one is attached; with none attached nothing is copied or formatted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace dsv4 {

class Recorder {
 public:
  virtual ~Recorder() = default;
  // scope: "" (model-level stage), "layer<L>" or "mtp"; stage: "attn_out", "hidden_streams", ...
  virtual void record(std::string_view scope, std::string_view stage, const float* data, const Shape& shape) = 0;
  virtual void record_ints(std::string_view scope, std::string_view stage, const int32_t* data,
                           const Shape& shape) = 0;
};

// Keeps every recorded stage in memory, in recording order (= forward order).
class MemoryRecorder final : public Recorder {
 public:
  struct Entry {
    std::string name;          // "layer3/attn_out", "embed"
    Shape shape;
    bool is_int = false;
    std::vector<float> values;  // ints are stored exactly as floats (|v| < 2^24)
  };
  void record(std::string_view scope, std::string_view stage, const float* data, const Shape& shape) override;
  void record_ints(std::string_view scope, std::string_view stage, const int32_t* data, const Shape& shape) override;
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;

 private:
  std::vector<Entry> entries_;
};

}  // namespace dsv4
