// The NCCL communicator on the GPU machine.
//   NcclSingleRank.*: the one-GPU path: every collective of one rank is the identity (checked
//     bit-exactly, on a stream, as the model will call them), and a throughput print for
//     all_reduce and all_to_all_v at a few sizes.
//   NcclMultiRank.*: with >= 2 GPUs, this binary re-launched as one process per GPU (the local
//     launcher, TCP rendezvous, ncclCommInitRank): sums and all-to-all against the formula.
// Without a device they skip; with a device but no loadable libnccl.so.2 they fail, naming
// every path tried (set LD_LIBRARY_PATH or DSV4_NCCL_LIBRARY).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "cuda_test_support.h"
#include "dist/communicator.h"
#include "dist/local_launcher.h"
#include "dist/nccl/nccl_communicator.h"
#include "dist/socket.h"

namespace dsv4::dist {
namespace {

using cuda::test::DeviceBuffer;

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng() & 0x7F);  // small bytes: finite F32/BF16 patterns
  return b;
}

std::vector<uint8_t> download(const DeviceBuffer& d, size_t n) {
  std::vector<uint8_t> h(n);
  if (n > 0) cudaMemcpy(h.data(), d.get(), n, cudaMemcpyDeviceToHost);
  return h;
}

TEST(NcclSingleRank, CollectivesAreTheIdentity) {
  DSV4_REQUIRE_CUDA_DEVICE();
  auto comm = make_single_rank_nccl_communicator(0);
  ASSERT_EQ(comm->size(), 1);
  cudaStream_t stream;
  DSV4_CUDA_OK(cudaStreamCreate(&stream));
  const size_t n = 4096;
  const auto host = random_bytes(n * 4, 7);
  DeviceBuffer in(n * 4), out(n * 4 + 64);
  DSV4_CUDA_OK(cudaMemcpy(in.get(), host.data(), host.size(), cudaMemcpyHostToDevice));
  for (DType t : {DType::F32, DType::BF16, DType::I32}) {
    const size_t count = n * 4 / dtype_size(t);
    DSV4_CUDA_OK(cudaMemset(out.get(), 0, out.size()));
    comm->all_reduce(in.get(), out.get(), count, t, ReduceOp::sum, stream);
    DSV4_CUDA_OK(cudaStreamSynchronize(stream));
    EXPECT_EQ(download(out, host.size()), host) << "all_reduce " << dtype_name(t);
    DSV4_CUDA_OK(cudaMemset(out.get(), 0, out.size()));
    comm->reduce_scatter(in.get(), out.get(), count, t, ReduceOp::max, stream);
    DSV4_CUDA_OK(cudaStreamSynchronize(stream));
    EXPECT_EQ(download(out, host.size()), host) << "reduce_scatter " << dtype_name(t);
  }
  DSV4_CUDA_OK(cudaMemset(out.get(), 0, out.size()));
  comm->all_gather(in.get(), out.get(), n * 4, DType::U8, stream);
  DSV4_CUDA_OK(cudaStreamSynchronize(stream));
  EXPECT_EQ(download(out, host.size()), host) << "all_gather";
  // all_to_all_v with displacements: this rank's block lands at recv + 16 elements.
  DSV4_CUDA_OK(cudaMemset(out.get(), 0, out.size()));
  const std::vector<size_t> counts = {n}, sdispl = {0}, rdispl = {16};
  comm->all_to_all_v(in.get(), counts, sdispl, out.get(), counts, rdispl, DType::F32, stream);
  DSV4_CUDA_OK(cudaStreamSynchronize(stream));
  const auto moved = download(out, out.size());
  EXPECT_EQ(std::vector<uint8_t>(moved.begin() + 64, moved.begin() + 64 + static_cast<ptrdiff_t>(host.size())), host);
  const std::vector<size_t> zero = {0};
  comm->all_to_all_v(in.get(), zero, zero, out.get(), zero, zero, DType::F32, stream);  // empty
  DSV4_CUDA_OK(cudaMemcpy(out.get(), in.get(), host.size(), cudaMemcpyDeviceToDevice));
  comm->broadcast(out.get(), n, DType::F32, 0, stream);
  comm->barrier(stream);
  EXPECT_EQ(download(out, host.size()), host) << "broadcast";
  DSV4_CUDA_OK(cudaStreamDestroy(stream));
}

// Average microseconds per call of fn (after a warm-up), timed with events on `stream`.
template <typename Fn>
double time_us(cudaStream_t stream, int iters, Fn&& fn) {
  fn();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a, stream);
  for (int i = 0; i < iters; ++i) fn();
  cudaEventRecord(b, stream);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return double(ms) * 1000.0 / iters;
}

// Prints per size: time per call and bytes per rank over time. `comm` of any size.
void print_throughput(Communicator& comm, cudaStream_t stream) {
  const int world = comm.size();
  for (size_t mib : {size_t(1), size_t(16), size_t(256)}) {
    const size_t bytes = mib << 20, count = bytes / 2;  // BF16
    DeviceBuffer a(bytes), b(bytes);
    if (a.get() == nullptr || b.get() == nullptr) continue;
    cudaMemset(a.get(), 0, bytes);
    const double ar = time_us(stream, 10, [&] { comm.all_reduce(a.get(), b.get(), count, DType::BF16, ReduceOp::sum, stream); });
    const size_t per_peer = count / static_cast<size_t>(world);
    std::vector<size_t> counts(static_cast<size_t>(world), per_peer), displ(static_cast<size_t>(world));
    for (int p = 0; p < world; ++p) displ[static_cast<size_t>(p)] = static_cast<size_t>(p) * per_peer;
    const double a2a = time_us(stream, 10, [&] { comm.all_to_all_v(a.get(), counts, displ, b.get(), counts, displ, DType::BF16, stream); });
    if (comm.rank() == 0)
      std::printf("[nccl] %d rank%s, %4zu MiB bf16: all_reduce %9.1f us (%6.1f GB/s algbw), all_to_all_v %9.1f us (%6.1f GB/s)\n",
                  world, world > 1 ? "s" : "", mib, ar, double(bytes) / ar / 1e3, a2a, double(bytes) / a2a / 1e3);
  }
}

TEST(NcclSingleRank, ThroughputPrint) {
  DSV4_REQUIRE_CUDA_DEVICE();
  auto comm = make_single_rank_nccl_communicator(0);
  cudaStream_t stream;
  DSV4_CUDA_OK(cudaStreamCreate(&stream));
  print_throughput(*comm, stream);
  DSV4_CUDA_OK(cudaStreamDestroy(stream));
}

// One rank of NcclMultiRank.AcrossEveryGpu (runs only when launched by it).
TEST(NcclWorker, Rank) {
  const char* port = std::getenv("DSV4_NCCL_TEST_PORT");
  if (port == nullptr) GTEST_SKIP() << "runs as a rank of NcclMultiRank.AcrossEveryGpu";
  const auto env = local_rank_from_env();
  ASSERT_TRUE(env.has_value());
  RendezvousOptions o;
  o.addr = {"127.0.0.1", std::atoi(port)};
  o.world_size = env->local_world_size;
  o.rank = env->local_rank;
  o.timeout_s = 60;
  o.listener_fd = env->rendezvous_fd;
  DSV4_CUDA_OK(cudaSetDevice(env->local_rank));
  auto comm = connect_nccl_communicator(o, env->local_rank);
  const int world = comm->size(), rank = comm->rank();
  cudaStream_t stream;
  DSV4_CUDA_OK(cudaStreamCreate(&stream));
  // all_reduce: element i of rank r is r + i; the sum is world*i + world(world-1)/2 (exact in f32).
  const size_t n = 1 << 16;
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = float(rank) + float(i % 1024);
  DeviceBuffer d(n * 4);
  DSV4_CUDA_OK(cudaMemcpy(d.get(), h.data(), n * 4, cudaMemcpyHostToDevice));
  comm->all_reduce(d.get(), d.get(), n, DType::F32, ReduceOp::sum, stream);
  DSV4_CUDA_OK(cudaStreamSynchronize(stream));
  DSV4_CUDA_OK(cudaMemcpy(h.data(), d.get(), n * 4, cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < n; i += 97)
    ASSERT_EQ(h[i], float(world) * float(i % 1024) + float(world * (world - 1) / 2)) << "i=" << i;
  // all_to_all_v: rank r sends (r + 1) * (p + 1) int32s of value 1000 r + p to rank p.
  std::vector<size_t> sc(static_cast<size_t>(world)), sd(sc.size()), rc(sc.size()), rd(sc.size());
  size_t st = 0, rt = 0;
  for (int p = 0; p < world; ++p) {
    sc[static_cast<size_t>(p)] = static_cast<size_t>((rank + 1) * (p + 1));
    rc[static_cast<size_t>(p)] = static_cast<size_t>((p + 1) * (rank + 1));
    sd[static_cast<size_t>(p)] = st;
    rd[static_cast<size_t>(p)] = rt;
    st += sc[static_cast<size_t>(p)];
    rt += rc[static_cast<size_t>(p)];
  }
  std::vector<int32_t> hs(st), hr(rt, -1);
  for (int p = 0; p < world; ++p)
    for (size_t k = 0; k < sc[static_cast<size_t>(p)]; ++k) hs[sd[static_cast<size_t>(p)] + k] = 1000 * rank + p;
  DeviceBuffer ds(st * 4), dr(rt * 4);
  DSV4_CUDA_OK(cudaMemcpy(ds.get(), hs.data(), st * 4, cudaMemcpyHostToDevice));
  comm->all_to_all_v(ds.get(), sc, sd, dr.get(), rc, rd, DType::I32, stream);
  DSV4_CUDA_OK(cudaStreamSynchronize(stream));
  DSV4_CUDA_OK(cudaMemcpy(hr.data(), dr.get(), rt * 4, cudaMemcpyDeviceToHost));
  for (int p = 0; p < world; ++p)
    for (size_t k = 0; k < rc[static_cast<size_t>(p)]; ++k)
      ASSERT_EQ(hr[rd[static_cast<size_t>(p)] + k], 1000 * p + rank) << "from rank " << p;
  print_throughput(*comm, stream);
  comm->barrier(stream);
  DSV4_CUDA_OK(cudaStreamDestroy(stream));
}

TEST(NcclMultiRank, AcrossEveryGpu) {
  if (std::getenv("DSV4_NCCL_TEST_PORT") != nullptr) GTEST_SKIP() << "inside a launched rank";
  DSV4_REQUIRE_CUDA_DEVICE();
  int n = 0;
  DSV4_CUDA_OK(cudaGetDeviceCount(&n));
  if (n < 2) GTEST_SKIP() << "needs 2 or more GPUs (this machine has " << n << ")";
  Socket listener = listen_tcp({"127.0.0.1", 0});
  LaunchOptions o;
  o.local_world_size = std::min(n, 8);
  o.argv = {"/proc/self/exe", "--gtest_filter=NcclWorker.Rank", "--gtest_color=no"};
  o.env = {{"DSV4_NCCL_TEST_PORT", std::to_string(local_port(listener))}};
  o.rendezvous_fd = listener.fd();
  const LaunchResult r = launch_local_ranks(o);
  EXPECT_EQ(r.exit_code(), 0) << r.summary();
}

}  // namespace
}  // namespace dsv4::dist
