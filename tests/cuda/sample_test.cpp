// The sampling op on the GPU (backends/cuda/sm90/sample/) against the CPU reference
// (backends/cpu/cpu_sample.h): random logits (normal, ties, peaked, -inf, all -inf, NaN), every
// parameter combination (greedy, temperature, top-k incl. k >= V, top-p, min-p, the three
// penalties, min_tokens / ignore_eos masks, constraint bitmasks incl. empty ones, logprobs 0..20),
// vocabularies from 1 to the real 129280; inputs and outputs framed by canaries. Greedy ids are
// bit-identical, sampled ids identical for the same u except CDF-boundary ties (sample_row.h),
// logprobs within 1e-5. Device tests skip without a GPU; the Status checks run everywhere.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <vector>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/sm90/sample/sample.h"
#include "cuda/layer_ops_support.h"
#include "cuda/sample_test_support.h"
#include "runtime/sample_batch.h"
#include "support/test_support.h"

namespace dsv4::test {
namespace {

using cuda::test::Guarded;

template <typename T>
Guarded<T> up(const std::vector<T>& v) {
  Guarded<T> g(v.size());
  g.upload(v);
  return g;
}

std::vector<SampledRow> run_gpu(const SampleCase& c) {
  const SampleArgs h = c.host_args(nullptr);
  Guarded<float> logits = up(c.logits);
  Guarded<SampleRowParams> rows = up(c.rows.rows());
  Guarded<PenaltyToken> pen = up(c.rows.penalties());
  Guarded<int32_t> mask = up(c.rows.mask_ids());
  Guarded<uint64_t> allowed = up(c.rows.allowed());
  Guarded<SampledRow> out(c.rows.size());
  const size_t bytes = cuda::sample_scratch_bytes(int64_t(c.rows.size()), c.V);
  Guarded<float> scratch(bytes / sizeof(float));
  SampleArgs a = h;
  a.logits = logits.get();
  a.rows = rows.get();
  a.penalties = pen.get();
  a.mask_ids = mask.get();
  a.allowed = allowed.get();
  a.out = out.get();
  const Status st = cuda::sample(a, scratch.get(), bytes, nullptr);
  EXPECT_TRUE(st) << st.message();
  scratch.download("sample scratch");  // canaries only
  return out.download("sample out");
}

TEST(SampleOpStatus, BadArgumentsAreRejectedBeforeAnyLaunch) {
  SampleArgs a;
  a.V = 0;
  EXPECT_FALSE(cuda::check_sample(a, nullptr, 0));
  a.V = 10;
  a.R = -1;
  EXPECT_FALSE(cuda::check_sample(a, nullptr, 0));
  a.R = 0;
  EXPECT_TRUE(cuda::check_sample(a, nullptr, 0));  // empty work: null pointers are fine
  EXPECT_TRUE(cuda::sample(a, nullptr, 0, nullptr));
  float dummy = 0;
  SampleRowParams row;
  SampledRow out;
  a.R = 1;
  a.logits = &dummy;
  a.rows = &row;
  a.out = &out;
  EXPECT_FALSE(cuda::check_sample(a, nullptr, 0)) << "no scratch";
  EXPECT_FALSE(cuda::check_sample(a, &dummy, 39)) << "scratch too small";
  EXPECT_TRUE(cuda::check_sample(a, &dummy, 40));
  a.mask_count = 2;
  EXPECT_FALSE(cuda::check_sample(a, &dummy, 40)) << "mask ids counted but null";
}

TEST(SampleOp, MatchesTheCpuReference) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = fresh_seed("SampleOp");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  SampleCompare stats;
  for (int64_t V : {1, 2, 7, 33, 64, 65, 1000, 4099, 32000, 129280})
    for (int rep = 0; rep < (V >= 32000 ? 2 : 4); ++rep) {
      const SampleCase c = make_sample_case(rng, V, V >= 32000 ? 24 : 32);
      expect_rows_match(c, run_gpu(c), reference_rows(c), "gpu", stats);
    }
  std::printf("[sample gpu] %lld rows: %lld greedy, %lld sampled (%lld CDF-boundary ties), %lld errors\n",
              static_cast<long long>(stats.rows), static_cast<long long>(stats.greedy),
              static_cast<long long>(stats.sampled), static_cast<long long>(stats.ties),
              static_cast<long long>(stats.errors));
  EXPECT_GT(stats.sampled, 0);
}

// Fixed-order reductions: the same rows give the same bytes on every run.
TEST(SampleOp, DeterministicAcrossRuns) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = fresh_seed("SampleOp.Deterministic");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  const SampleCase c = make_sample_case(rng, 129280, 32);
  const std::vector<SampledRow> a = run_gpu(c), b = run_gpu(c);
  ASSERT_EQ(a.size(), b.size());
  for (size_t r = 0; r < a.size(); ++r) {
    EXPECT_EQ(a[r].id, b[r].id) << "row " << r;
    EXPECT_EQ(a[r].status, b[r].status) << "row " << r;
    EXPECT_TRUE(same_float(a[r].logprob, b[r].logprob)) << "row " << r;
  }
}

// Through the backend and the engine's batch (one upload of the packed rows, one download):
// the same results as the reference on the host.
TEST(SampleOp, SampleBatchOnTheDeviceEqualsTheHostPath) {
  DSV4_REQUIRE_CUDA_DEVICE();
  const uint64_t seed = fresh_seed("SampleOp.Batch");
  DSV4_SEED_TRACE(seed);
  std::mt19937_64 rng(seed);
  std::unique_ptr<Ops> ops = cuda::make_cuda_ops(0);
  const int64_t V = 129280;
  const SampleCase c = make_sample_case(rng, V, 40);
  float* logits = static_cast<float*>(ops->alloc(c.logits.size() * sizeof(float)));
  ops->upload(logits, c.logits.data(), c.logits.size() * sizeof(float));
  SampleBatch batch(*ops, V);
  batch.rows() = c.rows;
  batch.run(logits, c.logit_rows, true);
  std::vector<SampledRow> got;
  for (size_t r = 0; r < c.rows.size(); ++r) got.push_back(batch.result(r));
  SampleCompare stats;
  expect_rows_match(c, got, reference_rows(c), "SampleBatch on cuda", stats);
  std::printf("[sample gpu] batch of %zu rows: %zu bytes up, %zu bytes down\n", c.rows.size(), batch.uploaded_bytes(),
              batch.downloaded_bytes());
  ops->free(logits);
}

}  // namespace
}  // namespace dsv4::test
