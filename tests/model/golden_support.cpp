#include "golden_support.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/test_support.h"

namespace dsv4::test {

Comparison compare(const std::vector<float>& got, const std::vector<float>& want) {
  Comparison c;
  if (got.size() != want.size()) fail("compare: {} values vs {} expected", got.size(), want.size());
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(double(got[i]) - double(want[i]));
    if (d > c.max_abs || std::isnan(d)) {
      c.max_abs = std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
      c.worst = int64_t(i);
    }
    c.ref_max = std::max(c.ref_max, std::fabs(double(want[i])));
    num += d * d;
    den += double(want[i]) * double(want[i]);
  }
  c.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return c;
}

std::vector<float> row_of(const std::vector<float>& m, int64_t cols, int64_t r) {
  return std::vector<float>(m.begin() + r * cols, m.begin() + (r + 1) * cols);
}

int64_t argmax(const float* v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

GoldenA& GoldenA::get() {
  static GoldenA instance;
  return instance;
}

GoldenA::GoldenA() {
  const std::string dir = golden_dir("golden-a");
  model_ = std::make_unique<Transformer>(dir);
  expected_ = std::make_unique<SafetensorsFile>(dir + "/expected.safetensors");
  std::ifstream in(dir + "/expected.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& p : j.at("prompts")) prompts_[p.at("name").get<std::string>()] = p.at("token_ids").get<std::vector<int64_t>>();
}

Expected GoldenA::tensor(const std::string& name) const {
  const TensorEntry* e = expected_->find(name);
  if (e == nullptr) fail("expected.safetensors has no tensor {}", name);
  const TensorView v = expected_->view(*e);
  Expected out;
  out.shape = v.shape;
  out.values.resize(v.numel());
  if (v.dtype == DType::F32) {
    std::memcpy(out.values.data(), v.data, out.values.size() * 4);
  } else if (v.dtype == DType::I32) {
    for (size_t i = 0; i < out.values.size(); ++i) {
      int32_t x;
      std::memcpy(&x, v.bytes() + i * 4, 4);
      out.values[i] = float(x);
    }
  } else {
    fail("expected tensor {} has unsupported dtype {}", name, dtype_name(v.dtype));
  }
  return out;
}

const PrefillResult& GoldenA::prefill(const std::string& prompt) {
  auto it = prefills_.find(prompt);
  if (it != prefills_.end()) return it->second;
  ForwardOptions opts;
  opts.numerics = Numerics::Exact;
  opts.recorder = &recorders_[prompt];
  const auto start = std::chrono::steady_clock::now();
  PrefillResult& r = prefills_[prompt] = model_->prefill(prompts_.at(prompt), opts);
  std::printf("[golden] exact prefill of %s (%lld tokens, recording intermediates): %.2f s\n", prompt.c_str(),
              static_cast<long long>(r.tokens), std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return r;
}

const MemoryRecorder& GoldenA::recorder(const std::string& prompt) {
  prefill(prompt);
  return recorders_.at(prompt);
}

}  // namespace dsv4::test
