// The kernels' codecs (backends/cuda/sm90/weights/dequant_codec.h) compiled for the host, checked
// on every input against core/dtype.h. These run without a GPU (in CI too); the device tests
// (dequant_test.cpp) check the same lines compiled for the GPU.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "backends/cuda/sm90/weights/dequant_codec.h"
#include "core/dtype.h"
#include "support/test_support.h"

namespace dsv4::cuda {
namespace {

uint16_t cpu_e4m3(uint8_t q, uint8_t s) { return f32_to_bf16(e4m3_to_f32(q) * e8m0_to_f32(s)); }
uint16_t cpu_e2m1(uint8_t c, uint8_t s) { return f32_to_bf16(e2m1_to_f32(c) * e8m0_to_f32(s)); }

TEST(CudaCodec, ScalarE4m3EveryCodeEveryScale) {
  for (int q = 0; q < 256; ++q)
    for (int s = 0; s < 256; ++s)
      ASSERT_EQ(dequant_e4m3_e8m0_bf16(uint8_t(q), uint8_t(s)), cpu_e4m3(uint8_t(q), uint8_t(s)))
          << "q=" << q << " s=" << s;
}

TEST(CudaCodec, ScalarE2m1EveryCodeEveryScale) {
  for (int c = 0; c < 16; ++c)
    for (int s = 0; s < 256; ++s)
      ASSERT_EQ(dequant_e2m1_e8m0_bf16(uint8_t(c), uint8_t(s)), cpu_e2m1(uint8_t(c), uint8_t(s)))
          << "c=" << c << " s=" << s;
}

TEST(CudaCodec, NaNIsTheCpuNaN) {
  // Independent of the codec: the CPU path's NaN is quiet_NaN -> bf16 0x7FC0.
  EXPECT_EQ(kBf16NaN, cpu_e4m3(0x7F, 127));
  EXPECT_EQ(kBf16NaN, cpu_e4m3(0xFF, 127));
  EXPECT_EQ(kBf16NaN, cpu_e4m3(0x38, 255));
  EXPECT_EQ(kBf16NaN, cpu_e2m1(0x3, 255));
}

TEST(CudaCodec, PackedE4m3EveryCodeInEveryLaneEveryScale) {
  const uint64_t seed = test::fresh_seed("CudaCodec.PackedE4m3");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int s = 0; s < 255; ++s) {
    const uint32_t scale_x2 = e8m0_scale_bf16x2(uint32_t(s));
    for (int q = 0; q < 256; ++q) {
      for (int lane = 0; lane < 4; ++lane) {
        uint32_t w = uint32_t(rng());
        w = (w & ~(0xFFu << (8 * lane))) | (uint32_t(q) << (8 * lane));
        const bool any_nan = ((w & 0x7Fu) == 0x7F) || (((w >> 8) & 0x7Fu) == 0x7F) ||
                             (((w >> 16) & 0x7Fu) == 0x7F) || (((w >> 24) & 0x7Fu) == 0x7F);
        ASSERT_EQ(e4m3x4_nan_bits(w) != 0, any_nan) << std::hex << w;
        if (any_nan) continue;  // the kernel takes the scalar path for such words
        uint32_t lo = 0, hi = 0;
        e4m3x4_scaled_bf16x2(w, scale_x2, &lo, &hi);
        const uint16_t got[4] = {uint16_t(lo), uint16_t(lo >> 16), uint16_t(hi), uint16_t(hi >> 16)};
        for (int i = 0; i < 4; ++i)
          ASSERT_EQ(got[i], cpu_e4m3(uint8_t(w >> (8 * i)), uint8_t(s)))
              << "word " << std::hex << w << " element " << i << " scale " << std::dec << s;
      }
    }
  }
}

TEST(CudaCodec, PackedE2m1EveryCodeInEveryNibbleEveryScale) {
  const uint64_t seed = test::fresh_seed("CudaCodec.PackedE2m1");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int s = 0; s < 255; ++s) {
    const uint32_t scale_x2 = e8m0_scale_bf16x2(uint32_t(s));
    for (int c = 0; c < 16; ++c) {
      for (int nib = 0; nib < 8; ++nib) {
        uint32_t w = uint32_t(rng());
        w = (w & ~(0xFu << (4 * nib))) | (uint32_t(c) << (4 * nib));
        uint32_t out[4];
        e2m1x8_scaled_bf16x2(w, scale_x2, out);
        for (int i = 0; i < 8; ++i)
          ASSERT_EQ(uint16_t(out[i / 2] >> (16 * (i % 2))), cpu_e2m1(uint8_t((w >> (4 * i)) & 0xF), uint8_t(s)))
              << "word " << std::hex << w << " element " << i << " scale " << std::dec << s;
      }
    }
  }
}

TEST(CudaCodec, BytePermMatchesPtxDefinition) {
  // prmt.b32 default mode, written out independently: selector nibble n picks byte n&7 of {b:a},
  // or replicates that byte's top bit when n&8.
  const uint64_t seed = test::fresh_seed("CudaCodec.BytePerm");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int it = 0; it < 20000; ++it) {
    const uint32_t a = uint32_t(rng()), b = uint32_t(rng()), sel = uint32_t(rng()) & 0xFFFFu;
    uint8_t src[8];
    for (int i = 0; i < 4; ++i) {
      src[i] = uint8_t(a >> (8 * i));
      src[4 + i] = uint8_t(b >> (8 * i));
    }
    uint32_t want = 0;
    for (int i = 0; i < 4; ++i) {
      const unsigned n = (sel >> (4 * i)) & 0xF;
      const uint8_t byte = src[n & 7];
      want |= uint32_t((n & 8) ? (byte >= 0x80 ? 0xFF : 0x00) : byte) << (8 * i);
    }
    ASSERT_EQ(byte_perm(a, b, sel), want);
  }
}

}  // namespace
}  // namespace dsv4::cuda

namespace dsv4::cuda {
namespace {

// Simulates one warp's staging: every position gets the piece that belongs there, every slot is
// used once, and no quarter-warp phase (8 lanes x 16 bytes) touches a shared-memory bank twice.
template <int kPieces>
void check_staging() {
  const uint32_t slots = 32 * kPieces;
  std::vector<int> stage(slots, -1);
  auto bank_group = [](uint32_t slot) { return slot % 8; };  // a 16-byte slot covers 4 of 32 banks
  for (uint32_t j = 0; j < uint32_t(kPieces); ++j) {
    for (uint32_t phase = 0; phase < 4; ++phase) {
      std::vector<bool> used(8, false);
      for (uint32_t lane = 8 * phase; lane < 8 * phase + 8; ++lane) {
        const uint32_t slot = stage_slot<kPieces>(lane, j);
        ASSERT_LT(slot, slots);
        ASSERT_EQ(stage[slot], -1) << "slot written twice";
        stage[slot] = int(lane * kPieces + j);  // the position this piece belongs at
        ASSERT_FALSE(used[bank_group(slot)]) << "write bank conflict, piece " << j << " lane " << lane;
        used[bank_group(slot)] = true;
      }
    }
  }
  for (uint32_t j = 0; j < uint32_t(kPieces); ++j) {
    for (uint32_t phase = 0; phase < 4; ++phase) {
      std::vector<bool> used(8, false);
      for (uint32_t lane = 8 * phase; lane < 8 * phase + 8; ++lane) {
        const uint32_t pos = j * 32 + lane;
        const uint32_t slot = stage_slot<kPieces>(pos / kPieces, pos % kPieces);
        EXPECT_EQ(stage[slot], int(pos)) << "store " << j << " lane " << lane;
        ASSERT_FALSE(used[bank_group(slot)]) << "read bank conflict, store " << j << " lane " << lane;
        used[bank_group(slot)] = true;
      }
    }
  }
}

TEST(CudaCodec, WarpStagingIsAConflictFreePermutation) {
  check_staging<2>();
  check_staging<4>();
}

}  // namespace
}  // namespace dsv4::cuda
