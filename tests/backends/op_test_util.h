// Helpers for the op tests: random data from a printed seed, and comparison with a tolerance
// relative to the reference's magnitude.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backends/ops.h"
#include "support/test_support.h"

namespace dsv4::test {

struct Rng {
  explicit Rng(uint64_t seed) : gen(seed) {}
  std::mt19937_64 gen;
  float normal(float sd = 1.0f) { return std::normal_distribution<float>(0.0f, sd)(gen); }
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); }
  int64_t integer(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(gen); }
  std::vector<float> normals(size_t n, float sd = 1.0f) {
    std::vector<float> v(n);
    for (auto& x : v) x = normal(sd);
    return v;
  }
};

// max |a - b| <= atol + rtol·max|b|, reporting the first offending index.
inline ::testing::AssertionResult close(const std::vector<float>& got, const std::vector<double>& want, double atol,
                                        double rtol = 0.0) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "size " << got.size() << " vs " << want.size();
  double ref_max = 0.0;
  for (double w : want)
    if (std::isfinite(w)) ref_max = std::max(ref_max, std::fabs(w));
  const double tol = atol + rtol * ref_max;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(double(got[i]) - want[i]);
    if (!(d <= tol) && !(std::isinf(want[i]) && double(got[i]) == want[i]))
      return ::testing::AssertionFailure() << "index " << i << ": got " << got[i] << " want " << want[i]
                                           << " (|d| = " << d << " > " << tol << ")";
  }
  return ::testing::AssertionSuccess();
}

inline Ops& ops() { return cpu_ops(); }

}  // namespace dsv4::test
