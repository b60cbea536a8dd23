// Every collective of the CPU communicator on 1, 2, 3 and 4 ranks (threads of this process) with
// fresh random data, against a serial reference: bit-exact, including the sums (rank order).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "dist/communicator.h"
#include "rank_runner.h"
#include "support/test_support.h"

namespace dsv4::dist {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr double kTimeout = 5.0;

// Random elements of `type` (finite floats spread over magnitudes so that the sum order matters).
Bytes random_elements(DType type, size_t count, std::mt19937_64& rng) {
  Bytes b(count * dtype_size(type));
  std::uniform_real_distribution<float> mant(-1.f, 1.f);
  std::uniform_int_distribution<int> expo(-8, 8);
  for (size_t i = 0; i < count; ++i) {
    const float x = std::ldexp(mant(rng), expo(rng));
    if (type == DType::F32) {
      std::memcpy(&b[i * 4], &x, 4);
    } else if (type == DType::BF16) {
      const uint16_t h = f32_to_bf16(x);
      std::memcpy(&b[i * 2], &h, 2);
    } else if (type == DType::I32) {
      const auto v = static_cast<int32_t>(rng());
      std::memcpy(&b[i * 4], &v, 4);
    } else {
      for (size_t k = 0; k < dtype_size(type); ++k) b[i * dtype_size(type) + k] = static_cast<uint8_t>(rng());
    }
  }
  return b;
}

// The serial reference: element i over the ranks in order (F32 in fp32, BF16 in fp32 with one rounding).
Bytes reference_reduce(const std::vector<Bytes>& in, DType type, ReduceOp op, size_t begin, size_t count) {
  const size_t e = dtype_size(type);
  Bytes out(count * e);
  for (size_t i = 0; i < count; ++i) {
    const size_t at = (begin + i) * e;
    if (type == DType::I32) {
      int32_t acc;
      std::memcpy(&acc, &in[0][at], 4);
      for (size_t r = 1; r < in.size(); ++r) {
        int32_t x;
        std::memcpy(&x, &in[r][at], 4);
        acc = op == ReduceOp::sum ? static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(x)) : std::max(acc, x);
      }
      std::memcpy(&out[i * e], &acc, 4);
      continue;
    }
    auto load = [&](size_t r) {
      if (type == DType::F32) {
        float x;
        std::memcpy(&x, &in[r][at], 4);
        return x;
      }
      uint16_t h;
      std::memcpy(&h, &in[r][at], 2);
      return bf16_to_f32(h);
    };
    float acc = load(0);
    for (size_t r = 1; r < in.size(); ++r) acc = op == ReduceOp::sum ? acc + load(r) : std::max(acc, load(r));
    if (type == DType::F32) {
      std::memcpy(&out[i * e], &acc, 4);
    } else {
      const uint16_t h = f32_to_bf16(acc);
      std::memcpy(&out[i * e], &h, 2);
    }
  }
  return out;
}

std::vector<Bytes> per_rank(int world, DType type, size_t count, std::mt19937_64& rng) {
  std::vector<Bytes> v;
  for (int r = 0; r < world; ++r) v.push_back(random_elements(type, count, rng));
  return v;
}

std::vector<std::string> test_run(int world, const std::function<void(Communicator&)>& body) {
  return test::run_in_threads(world, kTimeout, body);
}

void expect_no_errors(const std::vector<std::string>& errors) {
  for (size_t r = 0; r < errors.size(); ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

class Collectives : public ::testing::TestWithParam<int> {};

TEST_P(Collectives, AllReduceIsBitExactAgainstRankOrder) {
  const int world = GetParam();
  const uint64_t seed = ::dsv4::test::fresh_seed("all_reduce");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (DType type : {DType::F32, DType::BF16, DType::I32})
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::max})
      for (size_t count : {size_t(0), size_t(1), size_t(3), size_t(1001), size_t(65537)}) {
        SCOPED_TRACE(::testing::Message() << dtype_name(type) << " " << reduce_op_name(op) << " count=" << count);
        const std::vector<Bytes> in = per_rank(world, type, count, rng);
        const Bytes want = reference_reduce(in, type, op, 0, count);
        std::vector<Bytes> got(static_cast<size_t>(world), Bytes(want.size())), in_place = in;
        expect_no_errors(test_run(world, [&](Communicator& c) {
          const size_t r = static_cast<size_t>(c.rank());
          c.all_reduce(in[r].data(), got[r].data(), count, type, op);
          c.all_reduce(in_place[r].data(), in_place[r].data(), count, type, op);
        }));
        for (int r = 0; r < world; ++r) {
          EXPECT_TRUE(got[static_cast<size_t>(r)] == want) << "rank " << r;
          EXPECT_TRUE(in_place[static_cast<size_t>(r)] == want) << "rank " << r << " in place";
        }
      }
}

TEST_P(Collectives, ReduceScatterGivesEachRankItsSlice) {
  const int world = GetParam();
  const uint64_t seed = ::dsv4::test::fresh_seed("reduce_scatter");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (DType type : {DType::F32, DType::BF16, DType::I32})
    for (size_t count : {size_t(0), size_t(1), size_t(777)}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(type) << " count=" << count);
      const std::vector<Bytes> in = per_rank(world, type, count * static_cast<size_t>(world), rng);
      std::vector<Bytes> got(static_cast<size_t>(world), Bytes(count * dtype_size(type))), in_place = in;
      expect_no_errors(test_run(world, [&](Communicator& c) {
        const size_t r = static_cast<size_t>(c.rank());
        c.reduce_scatter(in[r].data(), got[r].data(), count, type, ReduceOp::sum);
        c.reduce_scatter(in_place[r].data(), in_place[r].data() + r * count * dtype_size(type), count, type, ReduceOp::sum);
      }));
      for (int r = 0; r < world; ++r) {
        const Bytes want = reference_reduce(in, type, ReduceOp::sum, static_cast<size_t>(r) * count, count);
        EXPECT_TRUE(got[static_cast<size_t>(r)] == want) << "rank " << r;
        const uint8_t* slice = in_place[static_cast<size_t>(r)].data() + static_cast<size_t>(r) * count * dtype_size(type);
        EXPECT_TRUE(Bytes(slice, slice + want.size()) == want) << "rank " << r << " in place";
      }
    }
}

TEST_P(Collectives, AllGatherConcatenatesInRankOrder) {
  const int world = GetParam();
  const uint64_t seed = ::dsv4::test::fresh_seed("all_gather");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (DType type : {DType::F32, DType::BF16, DType::I32, DType::U8})
    for (size_t count : {size_t(0), size_t(1), size_t(5000)}) {
      const std::vector<Bytes> in = per_rank(world, type, count, rng);
      Bytes want;
      for (const Bytes& b : in) want.insert(want.end(), b.begin(), b.end());
      std::vector<Bytes> got(static_cast<size_t>(world), Bytes(want.size())), in_place(static_cast<size_t>(world), Bytes(want.size()));
      for (int r = 0; r < world; ++r)
        std::copy(in[static_cast<size_t>(r)].begin(), in[static_cast<size_t>(r)].end(),
                  in_place[static_cast<size_t>(r)].begin() + static_cast<ptrdiff_t>(in[0].size()) * r);
      expect_no_errors(test_run(world, [&](Communicator& c) {
        const size_t r = static_cast<size_t>(c.rank());
        c.all_gather(in[r].data(), got[r].data(), count, type);
        c.all_gather(in_place[r].data() + r * in[0].size(), in_place[r].data(), count, type);
      }));
      for (int r = 0; r < world; ++r) {
        EXPECT_TRUE(got[static_cast<size_t>(r)] == want) << dtype_name(type) << " count=" << count << " rank " << r;
        EXPECT_TRUE(in_place[static_cast<size_t>(r)] == want) << dtype_name(type) << " count=" << count << " rank " << r;
      }
    }
}

TEST_P(Collectives, AllToAllVWithRandomAndZeroCounts) {
  const int world = GetParam();
  const uint64_t seed = ::dsv4::test::fresh_seed("all_to_all_v");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const auto n = static_cast<size_t>(world);
  for (int trial = 0; trial < 6; ++trial) {
    for (DType type : {DType::BF16, DType::I32, DType::U8}) {
      // counts[s][d]: elements rank s sends to rank d; trial 0: all zero; otherwise about a third zero.
      std::vector<std::vector<size_t>> counts(n, std::vector<size_t>(n));
      for (auto& row : counts)
        for (auto& c : row) c = trial == 0 || rng() % 3 == 0 ? 0 : rng() % 300;
      const size_t e = dtype_size(type);
      std::vector<Bytes> send(n), want(n), got(n);
      std::vector<std::vector<size_t>> sdispl(n, std::vector<size_t>(n)), rdispl(n, std::vector<size_t>(n)),
          rcounts(n, std::vector<size_t>(n));
      for (size_t s = 0; s < n; ++s) {
        size_t total = 0;
        for (size_t d = 0; d < n; ++d) {
          sdispl[s][d] = total + 2;  // gaps between the blocks: displacements are honoured
          total += counts[s][d] + 2;
        }
        send[s] = random_elements(type, total, rng);
      }
      for (size_t d = 0; d < n; ++d) {
        size_t total = 0;
        for (size_t s = 0; s < n; ++s) {
          rcounts[d][s] = counts[s][d];
          rdispl[d][s] = total + 1;
          total += counts[s][d] + 1;
        }
        want[d] = Bytes(total * e, 0xAB);
        for (size_t s = 0; s < n; ++s)
          std::memcpy(want[d].data() + rdispl[d][s] * e, send[s].data() + sdispl[s][d] * e, counts[s][d] * e);
        got[d] = Bytes(total * e, 0xAB);
      }
      expect_no_errors(test_run(world, [&](Communicator& c) {
        const size_t r = static_cast<size_t>(c.rank());
        c.all_to_all_v(send[r].data(), counts[r], sdispl[r], got[r].data(), rcounts[r], rdispl[r], type);
      }));
      for (size_t r = 0; r < n; ++r) EXPECT_TRUE(got[r] == want[r]) << "trial " << trial << " " << dtype_name(type) << " rank " << r;
    }
  }
}

TEST_P(Collectives, BroadcastFromEveryRoot) {
  const int world = GetParam();
  const uint64_t seed = ::dsv4::test::fresh_seed("broadcast");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  for (int root = 0; root < world; ++root)
    for (size_t count : {size_t(0), size_t(1), size_t(10000)}) {
      const Bytes want = random_elements(DType::F32, count, rng);
      std::vector<Bytes> buf(static_cast<size_t>(world), Bytes(want.size(), 0));
      buf[static_cast<size_t>(root)] = want;
      expect_no_errors(test_run(world, [&](Communicator& c) {
        c.broadcast(buf[static_cast<size_t>(c.rank())].data(), count, DType::F32, root);
      }));
      for (int r = 0; r < world; ++r) EXPECT_TRUE(buf[static_cast<size_t>(r)] == want) << "root " << root << " rank " << r;
    }
}

TEST_P(Collectives, BarrierAndManyCallsInSequence) {
  const int world = GetParam();
  std::vector<int> seen(static_cast<size_t>(world), 0);
  expect_no_errors(test_run(world, [&](Communicator& c) {
    for (int k = 0; k < 50; ++k) {
      c.barrier();
      int32_t v = c.rank() + k;
      c.all_reduce(&v, &v, 1, DType::I32, ReduceOp::sum);
      if (v == world * (world - 1) / 2 + world * k) ++seen[static_cast<size_t>(c.rank())];
    }
  }));
  for (int r = 0; r < world; ++r) EXPECT_EQ(seen[static_cast<size_t>(r)], 50) << "rank " << r;
}

INSTANTIATE_TEST_SUITE_P(Ranks, Collectives, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& i) { return std::to_string(i.param) + "ranks"; });

}  // namespace
}  // namespace dsv4::dist
