// Shared by the GEMM and MoE tests and benchmarks' checks: random weights in every checkpoint format
// (through the real quantizers, or random codes for very large shapes), their device copies, guarded
// device outputs, and the normalized MSE.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/linear_weight.h"
#include "core/quant.h"
#include "cuda/cuda_test_support.h"

namespace dsv4::cuda::gemmtest {

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A weight held on the host (views into q/s) with an optional device copy (views into dq/ds).
struct TestWeight {
  LinearWeight host, dev;
  std::vector<uint8_t> q, s;
  void* dq = nullptr;
  void* ds = nullptr;
  TestWeight() = default;
  TestWeight(const TestWeight&) = delete;
  TestWeight& operator=(const TestWeight&) = delete;
  ~TestWeight() {
    if (dq != nullptr) cudaFree(dq);
    if (ds != nullptr) cudaFree(ds);
  }
  bool upload() {
    if (cudaMalloc(&dq, std::max<size_t>(q.size(), 1)) != cudaSuccess) return false;
    if (cudaMemcpy(dq, q.data(), q.size(), cudaMemcpyHostToDevice) != cudaSuccess) return false;
    dev = host;
    dev.weight.data = dq;
    dev.weight.device = Device::Cuda;
    if (!s.empty()) {
      if (cudaMalloc(&ds, s.size()) != cudaSuccess) return false;
      if (cudaMemcpy(ds, s.data(), s.size(), cudaMemcpyHostToDevice) != cudaSuccess) return false;
      dev.scale.data = ds;
      dev.scale.device = Device::Cuda;
    }
    return true;
  }
};

// Fills `tw` with a [out, in] weight of `fmt`. quantize = true: fp32 N(0, sigma) values through the
// format's quantizer; false: random codes with scale bytes near 2^-5 (fast, for huge shapes).
inline void make_weight(TestWeight& tw, WeightFormat fmt, int64_t out, int64_t in, std::mt19937_64& rng,
                        bool quantize = true, float sigma = 0.05f) {
  LinearWeight& w = tw.host;
  w.format = fmt;
  w.out = out;
  w.in = in;
  w.name = std::string("test.") + weight_format_name(fmt);
  std::normal_distribution<float> nd(0.0f, sigma);
  auto fill_random = [&](std::vector<uint8_t>& v) {
    size_t i = 0;
    for (; i + 8 <= v.size(); i += 8) {
      const uint64_t r = rng();
      std::memcpy(v.data() + i, &r, 8);
    }
    for (; i < v.size(); ++i) v[i] = uint8_t(rng());
  };
  switch (fmt) {
    case WeightFormat::F32: {
      tw.q.resize(static_cast<size_t>(out * in) * 4);
      float* f = reinterpret_cast<float*>(tw.q.data());
      for (int64_t i = 0; i < out * in; ++i) f[i] = nd(rng);
      w.weight = TensorView{tw.q.data(), DType::F32, {out, in}, Device::Host};
      break;
    }
    case WeightFormat::BF16: {
      tw.q.resize(static_cast<size_t>(out * in) * 2);
      uint16_t* b = reinterpret_cast<uint16_t*>(tw.q.data());
      for (int64_t i = 0; i < out * in; ++i) b[i] = f32_to_bf16(nd(rng));
      w.weight = TensorView{tw.q.data(), DType::BF16, {out, in}, Device::Host};
      break;
    }
    case WeightFormat::FP8Block: {
      const int64_t sr = cdiv(out, 128), sc = cdiv(in, 128);
      tw.q.resize(static_cast<size_t>(out * in));
      tw.s.resize(static_cast<size_t>(sr * sc));
      if (quantize) {
        std::vector<float> f(static_cast<size_t>(out * in));
        for (auto& v : f) v = nd(rng);
        for (int64_t bi = 0; bi < sr; ++bi)
          for (int64_t bj = 0; bj < sc; ++bj) {
            float amax = 0.0f;
            for (int64_t r = bi * 128; r < std::min(out, bi * 128 + 128); ++r)
              for (int64_t c = bj * 128; c < std::min(in, bj * 128 + 128); ++c) amax = std::max(amax, std::fabs(f[size_t(r * in + c)]));
            const float s = fp8_block_scale(amax);
            tw.s[size_t(bi * sc + bj)] = *f32_to_e8m0_exact(s);
            for (int64_t r = bi * 128; r < std::min(out, bi * 128 + 128); ++r)
              for (int64_t c = bj * 128; c < std::min(in, bj * 128 + 128); ++c)
                tw.q[size_t(r * in + c)] = f32_to_e4m3(std::clamp(f[size_t(r * in + c)] / s, -448.0f, 448.0f));
          }
      } else {
        fill_random(tw.q);
        for (auto& b : tw.q)
          if ((b & 0x7F) == 0x7F) b &= 0xFE;  // no NaN codes
        for (auto& b : tw.s) b = uint8_t(113 + rng() % 4);
      }
      w.weight = TensorView{tw.q.data(), DType::F8_E4M3, {out, in}, Device::Host};
      w.scale = TensorView{tw.s.data(), DType::F8_E8M0, {sr, sc}, Device::Host};
      break;
    }
    case WeightFormat::MXFP4: {
      tw.q.resize(static_cast<size_t>(out * in / 2));
      tw.s.resize(static_cast<size_t>(out * in / 32));
      if (quantize) {
        std::vector<float> f(static_cast<size_t>(in));
        std::vector<uint8_t> codes(static_cast<size_t>(in));
        for (int64_t r = 0; r < out; ++r) {
          for (auto& v : f) v = nd(rng);
          quantize_fp4_blocks(f.data(), size_t(in), 32, codes.data(), tw.s.data() + r * (in / 32));
          for (int64_t m = 0; m < in / 2; ++m)
            tw.q[size_t(r * (in / 2) + m)] = uint8_t((codes[size_t(2 * m)] & 0xF) | (codes[size_t(2 * m + 1)] << 4));
        }
      } else {
        fill_random(tw.q);
        for (auto& b : tw.s) b = uint8_t(118 + rng() % 4);
      }
      w.weight = TensorView{tw.q.data(), DType::I8, {out, in / 2}, Device::Host};
      w.scale = TensorView{tw.s.data(), DType::F8_E8M0, {out, in / 32}, Device::Host};
      break;
    }
    case WeightFormat::NVFP4: {
      tw.q.resize(static_cast<size_t>(out * in / 2));
      tw.s.resize(static_cast<size_t>(out * in / 16));
      const float global = 4.0f * sigma / (448.0f * 6.0f);
      w.global_scale = global;
      std::vector<float> f(static_cast<size_t>(in));
      for (int64_t r = 0; r < out; ++r) {
        for (auto& v : f) v = nd(rng);
        for (int64_t b = 0; b < in / 16; ++b) {
          float amax = 0.0f;
          for (int i = 0; i < 16; ++i) amax = std::max(amax, std::fabs(f[size_t(b * 16 + i)]));
          const uint8_t sf = f32_to_e4m3(amax / 6.0f / global);
          tw.s[size_t(r * (in / 16) + b)] = sf;
          const float step = e4m3_to_f32(sf) * global;
          for (int i = 0; i < 16; i += 2) {
            const int64_t k = b * 16 + i;
            const uint8_t c0 = step > 0 ? f32_to_e2m1(std::clamp(f[size_t(k)] / step, -6.0f, 6.0f)) : 0;
            const uint8_t c1 = step > 0 ? f32_to_e2m1(std::clamp(f[size_t(k + 1)] / step, -6.0f, 6.0f)) : 0;
            tw.q[size_t(r * (in / 2) + k / 2)] = uint8_t((c0 & 0xF) | (c1 << 4));
          }
        }
      }
      w.weight = TensorView{tw.q.data(), DType::U8, {out, in / 2}, Device::Host};
      w.scale = TensorView{tw.s.data(), DType::F8_E4M3, {out, in / 16}, Device::Host};
      w.input_scale = 4.0f / (448.0f * 6.0f);  // activations ~ N(0, 1)
      break;
    }
  }
}

// Σ (a - b)² / Σ b²
inline double nmse(const float* a, const float* b, size_t n) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return den > 0 ? num / den : num;
}

// A device output of n floats framed by 256 guard bytes each side, all pre-poisoned.
struct GuardedOut {
  static constexpr size_t kGuard = 256;
  uint8_t* base = nullptr;
  size_t n = 0;
  uint8_t poison = 0xA5;
  explicit GuardedOut(size_t n_, uint8_t p = 0xA5) : n(n_), poison(p) {
    if (cudaMalloc(reinterpret_cast<void**>(&base), 2 * kGuard + n * 4) != cudaSuccess) base = nullptr;
    else cudaMemset(base, poison, 2 * kGuard + n * 4);
  }
  ~GuardedOut() {
    if (base != nullptr) cudaFree(base);
  }
  float* ptr() const { return reinterpret_cast<float*>(base + kGuard); }
  // Copies back; returns false if a guard byte changed.
  bool fetch(std::vector<float>* out) const {
    std::vector<uint8_t> all(2 * kGuard + n * 4);
    if (cudaMemcpy(all.data(), base, all.size(), cudaMemcpyDeviceToHost) != cudaSuccess) return false;
    for (size_t i = 0; i < kGuard; ++i)
      if (all[i] != poison || all[kGuard + n * 4 + i] != poison) return false;
    out->resize(n);
    std::memcpy(out->data(), all.data() + kGuard, n * 4);
    return true;
  }
};

// fp32 rows in device memory.
struct DevX {
  test::DeviceBuffer buf;
  explicit DevX(const std::vector<float>& h) : buf(h.size() * 4) {
    cudaMemcpy(buf.get(), h.data(), h.size() * 4, cudaMemcpyHostToDevice);
  }
  const float* ptr() const { return reinterpret_cast<const float*>(buf.get()); }
};

// Normal activations with a few outliers, so that the 1x128 block scales differ.
inline std::vector<float> random_x(int64_t n, std::mt19937_64& rng, float sigma = 1.0f) {
  std::normal_distribution<float> nd(0.0f, sigma);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = nd(rng);
  for (int64_t i = 0; i < n; i += 997) x[size_t(i)] *= 20.0f;
  return x;
}

}  // namespace dsv4::cuda::gemmtest
