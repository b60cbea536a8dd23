// Helpers of the layer-op tests: random data with the quantizers' boundary patterns, guarded device
// buffers (256 canary bytes before and after, pre-poisoned), bitwise and relative comparisons.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "cuda/cuda_test_support.h"

namespace dsv4::cuda::test {

constexpr size_t kGuardBytes = 256;
constexpr uint8_t kPoison = 0xA5;

inline float fbits(uint32_t u) { return f32_from_bits(u); }
inline uint32_t bitsf(float x) { return f32_bits(x); }

// A device array of n T framed by canaries. upload() writes data into the middle (the rest
// poisoned); download() checks the canaries and returns the middle.
template <typename T>
class Guarded {
 public:
  explicit Guarded(size_t n) : n_(n), bytes_(2 * kGuardBytes + n * sizeof(T)) {
    if (cudaMalloc(&ptr_, bytes_) != cudaSuccess) ptr_ = nullptr;
    if (ptr_ != nullptr) cudaMemset(ptr_, kPoison, bytes_);
  }
  ~Guarded() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  Guarded(Guarded&& o) noexcept : n_(o.n_), bytes_(o.bytes_), ptr_(o.ptr_) { o.ptr_ = nullptr; }
  Guarded(const Guarded&) = delete;
  Guarded& operator=(const Guarded&) = delete;
  Guarded& operator=(Guarded&&) = delete;
  T* get() const { return reinterpret_cast<T*>(static_cast<uint8_t*>(ptr_) + kGuardBytes); }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& v) {
    ASSERT_EQ(v.size(), n_);
    ASSERT_EQ(cudaMemcpy(get(), v.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  std::vector<T> download(const char* what) const {
    std::vector<uint8_t> all(bytes_);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what;
    EXPECT_EQ(cudaMemcpy(all.data(), ptr_, all.size(), cudaMemcpyDeviceToHost), cudaSuccess) << what;
    for (size_t i = 0; i < kGuardBytes; ++i) {
      if (all[i] != kPoison) {
        ADD_FAILURE() << what << ": canary before the output overwritten at byte " << i;
        break;
      }
      if (all[kGuardBytes + n_ * sizeof(T) + i] != kPoison) {
        ADD_FAILURE() << what << ": canary after the output overwritten at byte " << i;
        break;
      }
    }
    std::vector<T> out(n_);
    std::memcpy(out.data(), all.data() + kGuardBytes, n_ * sizeof(T));
    return out;
  }

 private:
  size_t n_;
  size_t bytes_;
  void* ptr_ = nullptr;
};

// Poisoned output of n floats (NaN-ish 0xA5A5A5A5 pattern everywhere before the kernel).
template <typename T>
Guarded<T> poisoned(size_t n) {
  return Guarded<T>(n);
}

// Bitwise float comparison; prints the first mismatches.
inline void expect_bitwise(const std::vector<float>& got, const std::vector<float>& want, const std::string& what,
                           const std::vector<float>* input = nullptr) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (bitsf(got[i]) == bitsf(want[i])) continue;
    if (++bad <= 6)
      ADD_FAILURE() << what << ": element " << i << std::hex << " gpu 0x" << bitsf(got[i]) << " cpu 0x"
                    << bitsf(want[i]) << (input ? " input 0x" : "") << (input ? bitsf((*input)[i]) : 0u) << std::dec
                    << " (" << got[i] << " vs " << want[i] << ")";
  }
  EXPECT_EQ(bad, 0u) << what << ": mismatching elements out of " << got.size();
}

// Relative comparison |g - w| <= rel·max(|w|, floor); NaN positions must agree. Returns the max
// relative difference (over elements with |w| >= floor).
inline double expect_close(const std::vector<float>& got, const std::vector<float>& want, double rel,
                           double floor, const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  double worst = 0.0;
  size_t bad = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) || std::isnan(g)) {
      if (std::isnan(w) != std::isnan(g) && ++bad <= 6)
        ADD_FAILURE() << what << ": NaN mismatch at " << i << ": gpu " << g << " cpu " << w;
      continue;
    }
    if (std::isinf(w) || std::isinf(g)) {
      if (g != w && ++bad <= 6) ADD_FAILURE() << what << ": inf mismatch at " << i << ": gpu " << g << " cpu " << w;
      continue;
    }
    const double err = std::fabs(g - w) / std::max(std::fabs(w), floor);
    worst = std::max(worst, err);
    if (err > rel && ++bad <= 6)
      ADD_FAILURE() << what << ": element " << i << " gpu " << g << " cpu " << w << " rel " << err;
  }
  EXPECT_EQ(bad, 0u) << what << ": elements beyond rel " << rel << " out of " << got.size();
  return worst;
}

// Row-normwise comparison: |g - w| <= rel · max_row |w| for rows of row_len elements (for outputs
// that are sums of several terms, where an element near 0 is a cancellation and its own relative
// error says nothing). NaN/inf must agree. Returns the max of |g - w| / max_row |w|.
inline double expect_close_rowwise(const std::vector<float>& got, const std::vector<float>& want, size_t row_len,
                                   double rel, const std::string& what) {
  EXPECT_EQ(got.size(), want.size()) << what;
  double worst = 0.0;
  size_t bad = 0;
  for (size_t r0 = 0; r0 + row_len <= want.size() && row_len > 0; r0 += row_len) {
    double scale = 0.0;
    for (size_t i = r0; i < r0 + row_len; ++i)
      if (std::isfinite(want[i])) scale = std::max(scale, double(std::fabs(want[i])));
    for (size_t i = r0; i < r0 + row_len; ++i) {
      if (!std::isfinite(want[i]) || !std::isfinite(got[i])) {
        if (bitsf(got[i]) != bitsf(want[i]) && !(std::isnan(got[i]) && std::isnan(want[i])) && ++bad <= 6)
          ADD_FAILURE() << what << ": non-finite mismatch at " << i << ": gpu " << got[i] << " cpu " << want[i];
        continue;
      }
      const double err = std::fabs(double(got[i]) - double(want[i])) / std::max(scale, 1e-30);
      worst = std::max(worst, err);
      if (err > rel && ++bad <= 6)
        ADD_FAILURE() << what << ": element " << i << " gpu " << got[i] << " cpu " << want[i] << " err/rowmax " << err;
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": elements beyond " << rel << " of their row's max";
  return worst;
}

inline std::vector<float> randn(std::mt19937_64& rng, size_t n, float sd = 1.0f) {
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Fills x[0..len) with one of the FP8/FP4 boundary scenarios (maxv = 448 for e4m3, 6 for e2m1;
// grid = the format's representable magnitudes).
inline void fill_boundary_block(std::mt19937_64& rng, float* x, size_t len, int scenario, float maxv,
                                const std::vector<float>& grid) {
  std::uniform_int_distribution<int> ek(-20, 20), pick(0, int(grid.size()) - 2), sgn(0, 1), off(-2, 2);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const float s = std::ldexp(1.0f, ek(rng));
  auto nudge = [&](float v) {  // v moved by -2..2 ulps
    const int o = off(rng);
    uint32_t u = bitsf(v);
    if (v == 0.0f) return v;
    return fbits(uint32_t(int64_t(u) + o));
  };
  for (size_t i = 0; i < len; ++i) {
    float v = 0.0f;
    switch (scenario) {
      case 0: v = nd(rng) * s; break;                                          // plain random
      case 1: {                                                                 // midpoints (± ulps)
        const int g = pick(rng);
        v = nudge(0.5f * (grid[size_t(g)] + grid[size_t(g) + 1]) * s);
        break;
      }
      case 2: v = nudge(grid[size_t(pick(rng))] * s); break;                   // on the grid (± ulps)
      case 3: v = nd(rng) * 1e-7f; break;                                      // tiny (below the floor)
      case 4: v = fbits(uint32_t(rng() & 0x007FFFFFu)); break;                 // fp32 subnormals
      case 5: v = 0.0f; break;
      case 6: v = -0.0f; break;
      default: v = nd(rng) * s; break;
    }
    x[i] = sgn(rng) ? -v : v;
  }
  if (scenario == 7 || scenario == 8) x[rng() % len] = nudge(maxv * s) * (sgn(rng) ? -1.f : 1.f);  // amax at 2^k·max
  if (scenario == 9) x[rng() % len] = std::numeric_limits<float>::quiet_NaN();
  if (scenario == 10) x[rng() % len] = std::numeric_limits<float>::infinity();
  if (scenario == 11) x[rng() % len] = -std::numeric_limits<float>::infinity();
  if (scenario == 12)
    for (size_t i = 0; i < len; ++i) x[i] = std::numeric_limits<float>::quiet_NaN();
  if (scenario == 13) x[rng() % len] = nudge(std::ldexp(1.0f, ek(rng)));  // amax a power of two
  if (scenario == 14) x[rng() % len] = 1e-4f * (sgn(rng) ? -1.f : 1.f);    // amax at the floor
  if (scenario == 15) x[rng() % len] = std::numeric_limits<float>::max();
}
constexpr int kBoundaryScenarios = 16;

inline std::vector<float> e4m3_grid() {
  std::vector<float> g;
  for (int c = 0; c <= 0x7E; ++c) g.push_back(e4m3_to_f32(uint8_t(c)));
  return g;
}
inline std::vector<float> e2m1_grid() {
  std::vector<float> g;
  for (int c = 0; c <= 7; ++c) g.push_back(e2m1_to_f32(uint8_t(c)));
  return g;
}

// Rows of n with each `block` chunk a random boundary scenario (row stride ld, channels from c0).
inline std::vector<float> boundary_rows(std::mt19937_64& rng, int64_t rows, int64_t ld, int64_t c0, int64_t n,
                                        int64_t block, float maxv, const std::vector<float>& grid) {
  std::vector<float> x = randn(rng, size_t(rows * ld));
  std::uniform_int_distribution<int> sc(0, kBoundaryScenarios - 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b0 = 0; b0 < n; b0 += block)
      fill_boundary_block(rng, x.data() + r * ld + c0 + b0, size_t(std::min(block, n - b0)), sc(rng), maxv, grid);
  return x;
}

}  // namespace dsv4::cuda::test
