// Shared state of the golden-a tests: the model (loaded once), the prompts, the expected tensors,
// and cached forward results, plus comparison helpers that describe a mismatch.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "model/transformer.h"

namespace dsv4::test {

struct Expected {
  Shape shape;
  std::vector<float> values;  // I32 tensors converted exactly
};

struct Comparison {
  double max_abs = 0.0;
  double ref_max = 0.0;
  double rel_l2 = 0.0;
  int64_t worst = -1;  // flat index of the largest difference
};
Comparison compare(const std::vector<float>& got, const std::vector<float>& want);

// Row r of a [rows, cols] tensor.
std::vector<float> row_of(const std::vector<float>& m, int64_t cols, int64_t r);
int64_t argmax(const float* v, int64_t n);

class GoldenA {
 public:
  static GoldenA& get();  // loads on first use
  const Transformer& model() const { return *model_; }
  const std::vector<int64_t>& prompt(const std::string& name) const { return prompts_.at(name); }
  bool has(const std::string& tensor) const { return expected_->find(tensor) != nullptr; }
  Expected tensor(const std::string& name) const;
  // Full exact prefill of a prompt (cached), with the recorder's intermediates for p0.
  const PrefillResult& prefill(const std::string& prompt);
  const MemoryRecorder& recorder(const std::string& prompt);

 private:
  GoldenA();
  std::unique_ptr<Transformer> model_;
  std::unique_ptr<SafetensorsFile> expected_;
  std::map<std::string, std::vector<int64_t>> prompts_;
  std::map<std::string, PrefillResult> prefills_;
  std::map<std::string, MemoryRecorder> recorders_;
};

}  // namespace dsv4::test
