// GPU dequantization (backends/cuda/sm90/weights/dequant.h) against the CPU path: bitwise, on
// every code x every scale byte, on random shapes, with guard bytes around every output; and the
// Status of calls the kernels cannot serve. Device tests skip when no CUDA device is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>
#include <numeric>
#include <random>

#include "backends/cuda/sm90/weights/dequant.h"
#include "backends/cuda/sm90/weights/dequant_kernels.h"
#include "core/dtype.h"
#include "cuda/cuda_test_support.h"
#include "model/weights.h"
#include "support/test_support.h"

namespace dsv4::cuda {
namespace {

using test::DeviceBuffer;

constexpr size_t kGuard = 256;  // bytes of canary before and after every output buffer
constexpr uint8_t kPoisons[2] = {0xA5, 0x5A};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

const char* path_name(DequantPath p) { return p == DequantPath::kPacked ? "packed" : "scalar"; }

// ---- CPU reference: the engine's dequantize_rows (fp32), then f32_to_bf16 ----

std::vector<uint16_t> cpu_reference(const LinearWeight& w) {
  std::vector<float> f(size_t(w.out * w.in));
  dequantize_rows(w, 0, w.out, f.data());
  std::vector<uint16_t> out(f.size());
  for (size_t i = 0; i < f.size(); ++i) out[i] = f32_to_bf16(f[i]);
  return out;
}

LinearWeight fp8_weight(const std::vector<uint8_t>& q, const std::vector<uint8_t>& s, int64_t rows, int64_t cols) {
  LinearWeight w;
  w.format = WeightFormat::FP8Block;
  w.out = rows;
  w.in = cols;
  w.weight = TensorView{q.data(), DType::F8_E4M3, {rows, cols}, Device::Host};
  w.scale = TensorView{s.data(), DType::F8_E8M0, {ceil_div(rows, 128), ceil_div(cols, 128)}, Device::Host};
  w.name = "test.fp8";
  return w;
}

LinearWeight mxfp4_weight(const std::vector<uint8_t>& q, const std::vector<uint8_t>& s, int64_t rows, int64_t cols) {
  LinearWeight w;
  w.format = WeightFormat::MXFP4;
  w.out = rows;
  w.in = cols;
  w.weight = TensorView{q.data(), DType::I8, {rows, cols / 2}, Device::Host};
  w.scale = TensorView{s.data(), DType::F8_E8M0, {rows, cols / 32}, Device::Host};
  w.name = "test.mxfp4";
  return w;
}

// ---- running a kernel into a guarded output ----

// Uploads q and s, runs `launch(weight, scale, out)` into an output of rows*cols bf16 framed by
// kGuard canary bytes on each side (everything pre-filled with `poison`), checks the canaries,
// and returns the output.
template <typename Launch>
void run_guarded(const std::vector<uint8_t>& q, const std::vector<uint8_t>& s, size_t n_out, uint8_t poison,
                 const Launch& launch, std::vector<uint16_t>* result) {
  DeviceBuffer dq(q.size()), ds(s.size()), dout(2 * kGuard + 2 * n_out);
  ASSERT_NE(dq.get(), nullptr);
  ASSERT_NE(ds.get(), nullptr);
  ASSERT_NE(dout.get(), nullptr);
  DSV4_CUDA_OK(cudaMemcpy(dq.get(), q.data(), q.size(), cudaMemcpyHostToDevice));
  DSV4_CUDA_OK(cudaMemcpy(ds.get(), s.data(), s.size(), cudaMemcpyHostToDevice));
  DSV4_CUDA_OK(cudaMemset(dout.get(), poison, dout.size()));
  uint16_t* out = reinterpret_cast<uint16_t*>(dout.get() + kGuard);
  const Status st = launch(dq.get(), ds.get(), out);
  ASSERT_TRUE(st.is_ok()) << st.message();
  DSV4_CUDA_OK(cudaDeviceSynchronize());
  DSV4_CUDA_OK(cudaGetLastError());
  std::vector<uint8_t> all(dout.size());
  DSV4_CUDA_OK(cudaMemcpy(all.data(), dout.get(), all.size(), cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < kGuard; ++i) {
    ASSERT_EQ(all[i], poison) << "canary before the output overwritten at byte " << i;
    ASSERT_EQ(all[kGuard + 2 * n_out + i], poison) << "canary after the output overwritten at byte " << i;
  }
  result->resize(n_out);
  std::memcpy(result->data(), all.data() + kGuard, 2 * n_out);
}

// Bitwise comparison; reports the first mismatches with their coordinates and inputs.
template <typename Describe>
void expect_bitwise(const std::vector<uint16_t>& got, const std::vector<uint16_t>& want, int64_t cols,
                    Describe describe) {
  ASSERT_EQ(got.size(), want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] == want[i]) continue;
    if (++bad <= 8)
      ADD_FAILURE() << "element [" << int64_t(i) / cols << ", " << int64_t(i) % cols << "] " << describe(i)
                    << ": gpu 0x" << std::hex << got[i] << " cpu 0x" << want[i] << std::dec;
  }
  EXPECT_EQ(bad, 0u) << "mismatching elements out of " << got.size();
}

// A way to run a kernel: a label and a launch (device weight, device scale, device out) -> Status.
using Launcher = std::function<Status(const uint8_t*, const uint8_t*, uint16_t*)>;
using Launchers = std::vector<std::pair<std::string, Launcher>>;

std::string variant_label(const detail::KernelVariant& v) {
  return std::string(v.packed ? "packed" : "scalar") + (v.staged_stores ? "/staged" : "/direct") + "/x" +
         std::to_string(v.chunks_per_thread);
}

std::vector<detail::KernelVariant> all_variants() {
  std::vector<detail::KernelVariant> out;
  for (bool packed : {true, false})
    for (bool staged : {true, false})
      for (int unroll : {1, 2, 4}) out.push_back(detail::KernelVariant{packed, staged, unroll});
  return out;
}

Status from_cuda(cudaError_t err) {
  return err == cudaSuccess ? Status::ok() : Status::error(cudaGetErrorString(err));
}

// The public launcher on both paths; with `variants`, also every kernel variant directly.
Launchers fp8_launchers(int64_t rows, int64_t cols, bool variants) {
  Launchers l;
  for (DequantPath path : {DequantPath::kPacked, DequantPath::kScalar})
    l.emplace_back(std::string("public/") + path_name(path), [=](const uint8_t* q, const uint8_t* s, uint16_t* out) {
      Fp8BlockDequantParams p;
      p.weight = q;
      p.scale = s;
      p.out = out;
      p.rows = rows;
      p.cols = cols;
      p.path = path;
      return dequant_fp8_block_to_bf16(p, nullptr);
    });
  if (variants)
    for (const auto& v : all_variants())
      l.emplace_back(variant_label(v), [=](const uint8_t* q, const uint8_t* s, uint16_t* out) {
        return from_cuda(detail::launch_fp8_block_dequant(q, s, out, rows, cols, v, nullptr));
      });
  return l;
}

Launchers mxfp4_launchers(int64_t rows, int64_t cols, bool variants) {
  Launchers l;
  for (DequantPath path : {DequantPath::kPacked, DequantPath::kScalar})
    l.emplace_back(std::string("public/") + path_name(path), [=](const uint8_t* q, const uint8_t* s, uint16_t* out) {
      Mxfp4DequantParams p;
      p.weight = q;
      p.scale = s;
      p.out = out;
      p.rows = rows;
      p.cols = cols;
      p.path = path;
      return dequant_mxfp4_to_bf16(p, nullptr);
    });
  if (variants)
    for (const auto& v : all_variants())
      l.emplace_back(variant_label(v), [=](const uint8_t* q, const uint8_t* s, uint16_t* out) {
        return from_cuda(detail::launch_mxfp4_dequant(q, s, out, rows, cols, v, nullptr));
      });
  return l;
}

void check_fp8(const std::vector<uint8_t>& q, const std::vector<uint8_t>& s, int64_t rows, int64_t cols,
               bool variants = false) {
  const std::vector<uint16_t> want = cpu_reference(fp8_weight(q, s, rows, cols));
  const int64_t scale_cols = ceil_div(cols, 128);
  for (const auto& [label, launch] : fp8_launchers(rows, cols, variants)) {
    for (uint8_t poison : kPoisons) {
      SCOPED_TRACE(::testing::Message() << "fp8 [" << rows << ", " << cols << "] kernel " << label << " poison 0x"
                                        << std::hex << int(poison));
      std::vector<uint16_t> got;
      run_guarded(q, s, size_t(rows * cols), poison, launch, &got);
      if (::testing::Test::HasFatalFailure()) return;
      expect_bitwise(got, want, cols, [&](size_t i) {
        const int64_t r = int64_t(i) / cols, c = int64_t(i) % cols;
        return (::testing::Message() << "code 0x" << std::hex << int(q[i]) << " scale byte 0x"
                                     << int(s[size_t((r / 128) * scale_cols + c / 128)]))
            .GetString();
      });
    }
  }
}

void check_mxfp4(const std::vector<uint8_t>& q, const std::vector<uint8_t>& s, int64_t rows, int64_t cols,
                 bool variants = false) {
  const std::vector<uint16_t> want = cpu_reference(mxfp4_weight(q, s, rows, cols));
  for (const auto& [label, launch] : mxfp4_launchers(rows, cols, variants)) {
    for (uint8_t poison : kPoisons) {
      SCOPED_TRACE(::testing::Message() << "mxfp4 [" << rows << ", " << cols << "] kernel " << label << " poison 0x"
                                        << std::hex << int(poison));
      std::vector<uint16_t> got;
      run_guarded(q, s, size_t(rows * cols), poison, launch, &got);
      if (::testing::Test::HasFatalFailure()) return;
      expect_bitwise(got, want, cols, [&](size_t i) {
        const int64_t r = int64_t(i) / cols, c = int64_t(i) % cols;
        const uint8_t byte = q[size_t(r * (cols / 2) + c / 2)];
        return (::testing::Message() << "code 0x" << std::hex << int((c % 2) ? (byte >> 4) : (byte & 0xF))
                                     << " scale byte 0x" << int(s[size_t(r * (cols / 32) + c / 32)]))
            .GetString();
      });
    }
  }
}

// Scale bytes: a mix of the whole byte range (NaN, 2^-127, overflow) and realistic ones near 2^0.
std::vector<uint8_t> random_scales(size_t n, std::mt19937_64& rng) {
  std::vector<uint8_t> s(n);
  for (auto& b : s) b = (rng() % 2) ? uint8_t(rng()) : uint8_t(112 + rng() % 24);
  return s;
}

std::vector<uint8_t> random_bytes(size_t n, std::mt19937_64& rng) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

// ---- every code x every scale byte ----

TEST(CudaDequant, Fp8EveryCodeTimesEveryScaleByte) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaDequant.Fp8EveryCodeTimesEveryScaleByte");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  // 16 x 16 blocks of 128 x 128: block (i, j) has scale byte perm[16 i + j], so the 256 blocks
  // carry the 256 scale bytes; each block holds every e4m3 code 64 times, shuffled.
  const int64_t rows = 16 * 128, cols = 16 * 128;
  std::vector<uint8_t> s(256);
  std::iota(s.begin(), s.end(), uint8_t(0));
  std::shuffle(s.begin(), s.end(), rng);
  std::vector<uint8_t> q(size_t(rows * cols));
  std::vector<uint8_t> block(128 * 128);
  for (int bi = 0; bi < 16; ++bi)
    for (int bj = 0; bj < 16; ++bj) {
      for (size_t k = 0; k < block.size(); ++k) block[k] = uint8_t(k);
      std::shuffle(block.begin(), block.end(), rng);
      for (int r = 0; r < 128; ++r)
        std::memcpy(&q[size_t((bi * 128 + r) * cols + bj * 128)], &block[size_t(r * 128)], 128);
    }
  check_fp8(q, s, rows, cols, /*variants=*/true);
}

TEST(CudaDequant, Mxfp4EveryCodeTimesEveryScaleByte) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaDequant.Mxfp4EveryCodeTimesEveryScaleByte");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  // 16 rows x 16 groups of 32: group (r, g) has scale byte perm[16 r + g] and holds each of the
  // 16 e2m1 codes twice, shuffled.
  const int64_t rows = 16, cols = 16 * 32;
  std::vector<uint8_t> s(256);
  std::iota(s.begin(), s.end(), uint8_t(0));
  std::shuffle(s.begin(), s.end(), rng);
  std::vector<uint8_t> q(size_t(rows * cols / 2));
  std::vector<uint8_t> codes(32);
  for (int r = 0; r < rows; ++r)
    for (int g = 0; g < 16; ++g) {
      for (size_t k = 0; k < 32; ++k) codes[k] = uint8_t(k % 16);
      std::shuffle(codes.begin(), codes.end(), rng);
      for (int m = 0; m < 16; ++m)
        q[size_t(r * (cols / 2) + g * 16 + m)] = uint8_t(codes[size_t(2 * m)] | (codes[size_t(2 * m + 1)] << 4));
    }
  check_mxfp4(q, s, rows, cols, /*variants=*/true);
}

// ---- random shapes ----

TEST(CudaDequant, Fp8RandomShapes) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaDequant.Fp8RandomShapes");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 16}, {128, 128}, {129, 144}, {127, 2064}, {3, 4096}};
  for (int i = 0; i < 10; ++i) shapes.emplace_back(1 + int64_t(rng() % 777), 16 * (1 + int64_t(rng() % 120)));
  shapes.emplace_back(2112, 7184);  // many blocks; cols not a multiple of 128
  for (auto [rows, cols] : shapes) {
    const auto q = random_bytes(size_t(rows * cols), rng);  // every code, NaNs included
    const auto s = random_scales(size_t(ceil_div(rows, 128) * ceil_div(cols, 128)), rng);
    check_fp8(q, s, rows, cols, /*variants=*/rows * cols < 200000);
    if (HasFailure()) return;
  }
}

TEST(CudaDequant, Mxfp4RandomShapes) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = dsv4::test::fresh_seed("CudaDequant.Mxfp4RandomShapes");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 32}, {1, 64}, {7, 96}, {128, 4096}};
  for (int i = 0; i < 10; ++i) shapes.emplace_back(1 + int64_t(rng() % 600), 32 * (1 + int64_t(rng() % 80)));
  shapes.emplace_back(4100, 4096);  // a stack of experts' rows, many blocks
  for (auto [rows, cols] : shapes) {
    const auto q = random_bytes(size_t(rows * cols / 2), rng);
    const auto s = random_scales(size_t(rows * (cols / 32)), rng);
    check_mxfp4(q, s, rows, cols, /*variants=*/rows * cols < 200000);
    if (HasFailure()) return;
  }
}

// ---- calls the kernels cannot serve (no GPU needed: checked before any launch) ----

// Fake, never dereferenced device addresses with chosen alignment.
const uint8_t* fake_in(uintptr_t offset) { return reinterpret_cast<const uint8_t*>(uintptr_t(1) << 20) + offset; }
uint16_t* fake_out(uintptr_t offset) {
  return reinterpret_cast<uint16_t*>((uintptr_t(1) << 21) + offset);
}

Fp8BlockDequantParams fp8_params(int64_t rows, int64_t cols) {
  Fp8BlockDequantParams p;
  p.weight = fake_in(0);
  p.scale = fake_in(4096);
  p.out = fake_out(0);
  p.rows = rows;
  p.cols = cols;
  return p;
}

Mxfp4DequantParams mxfp4_params(int64_t rows, int64_t cols) {
  Mxfp4DequantParams p;
  p.weight = fake_in(0);
  p.scale = fake_in(4096);
  p.out = fake_out(0);
  p.rows = rows;
  p.cols = cols;
  return p;
}

void expect_error(const Status& st, const std::string& needle) {
  ASSERT_FALSE(st.is_ok()) << "expected an error mentioning '" << needle << "'";
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
}

TEST(CudaDequantStatus, Fp8Requirements) {
  EXPECT_TRUE(check_fp8_block_dequant(fp8_params(300, 7168 + 16)).is_ok());
  expect_error(dequant_fp8_block_to_bf16(fp8_params(128, 100), nullptr), "cols % 16 != 0");
  expect_error(dequant_fp8_block_to_bf16(fp8_params(128, 8), nullptr), "cols % 16 != 0");
  expect_error(dequant_fp8_block_to_bf16(fp8_params(-1, 128), nullptr), "negative shape");
  auto p = fp8_params(128, 128);
  p.weight = fake_in(8);
  expect_error(dequant_fp8_block_to_bf16(p, nullptr), "weight pointer");
  p = fp8_params(128, 128);
  p.out = fake_out(2);
  expect_error(dequant_fp8_block_to_bf16(p, nullptr), "out pointer");
  p = fp8_params(128, 128);
  p.scale = nullptr;
  expect_error(dequant_fp8_block_to_bf16(p, nullptr), "null pointer");
  expect_error(dequant_fp8_block_to_bf16(fp8_params(int64_t(1) << 32, 16), nullptr), "2^32");
  expect_error(dequant_fp8_block_to_bf16(fp8_params(int64_t(1) << 40, int64_t(1) << 20), nullptr), "2^32");
  // Empty matrices are a no-op, whatever the pointers.
  Fp8BlockDequantParams empty;
  empty.rows = 0;
  empty.cols = 128;
  EXPECT_TRUE(dequant_fp8_block_to_bf16(empty, nullptr).is_ok());
}

TEST(CudaDequantStatus, Mxfp4Requirements) {
  EXPECT_TRUE(check_mxfp4_dequant(mxfp4_params(2048, 4096)).is_ok());
  expect_error(dequant_mxfp4_to_bf16(mxfp4_params(16, 48), nullptr), "cols % 32 != 0");
  expect_error(dequant_mxfp4_to_bf16(mxfp4_params(16, 16), nullptr), "cols % 32 != 0");
  expect_error(dequant_mxfp4_to_bf16(mxfp4_params(16, -32), nullptr), "negative shape");
  auto p = mxfp4_params(16, 64);
  p.weight = fake_in(4);
  expect_error(dequant_mxfp4_to_bf16(p, nullptr), "weight pointer");
  p = mxfp4_params(16, 64);
  p.out = fake_out(8);
  expect_error(dequant_mxfp4_to_bf16(p, nullptr), "out pointer");
  p = mxfp4_params(16, 64);
  p.weight = nullptr;
  expect_error(dequant_mxfp4_to_bf16(p, nullptr), "null pointer");
  expect_error(dequant_mxfp4_to_bf16(mxfp4_params(int64_t(1) << 32, 32), nullptr), "2^32");
  Mxfp4DequantParams empty;
  empty.rows = 5;
  empty.cols = 0;
  EXPECT_TRUE(dequant_mxfp4_to_bf16(empty, nullptr).is_ok());
}

}  // namespace
}  // namespace dsv4::cuda
