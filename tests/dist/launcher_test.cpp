// The local launcher: fork+exec of world ranks, their environment, supervision when one fails,
// and an end-to-end run of this test binary as 3 ranks (launcher -> rendezvous -> TCP mesh).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>

#include "dist/local_launcher.h"
#include "dist/socket.h"
#include "dist/tcp_communicator.h"

namespace dsv4::dist {
namespace {

LaunchOptions shell(int world, const std::string& script) {
  LaunchOptions o;
  o.local_world_size = world;
  o.argv = {"/bin/sh", "-c", script};
  return o;
}

TEST(Launcher, EveryRankSeesItsPlace) {
  LaunchOptions o = shell(3, R"(test "$DSV4_LOCAL_WORLD_SIZE" = 3 && test "$EXTRA" = yes && exit $((DSV4_LOCAL_RANK * 0)))");
  o.env = {{"EXTRA", "yes"}};
  const LaunchResult r = launch_local_ranks(o);
  ASSERT_EQ(r.ranks.size(), 3u);
  EXPECT_EQ(r.exit_code(), 0) << r.summary();
  EXPECT_EQ(r.first_failure, -1);
}

TEST(Launcher, OneFailedRankStopsTheOthers) {
  LaunchOptions o = shell(3, R"(if [ "$DSV4_LOCAL_RANK" = 1 ]; then kill -9 $$; fi; exec sleep 30)");
  o.grace_s = 1;
  const auto t0 = std::chrono::steady_clock::now();
  const LaunchResult r = launch_local_ranks(o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 5.0);
  EXPECT_EQ(r.first_failure, 1);
  EXPECT_EQ(r.ranks[1].signal, SIGKILL);
  EXPECT_EQ(r.ranks[0].signal, SIGTERM);
  EXPECT_EQ(r.ranks[2].signal, SIGTERM);
  EXPECT_EQ(r.exit_code(), 128 + SIGKILL);
  EXPECT_NE(r.summary().find("local rank 1 (pid "), std::string::npos) << r.summary();
}

TEST(Launcher, ExitStatusOfTheFirstFailure) {
  const LaunchResult r = launch_local_ranks(shell(2, R"([ "$DSV4_LOCAL_RANK" = 0 ] && exit 3; exec sleep 30)"));
  EXPECT_EQ(r.first_failure, 0);
  EXPECT_EQ(r.exit_code(), 3);
}

// The worker: runs only when started by the launcher below (DSV4_DIST_TEST_PORT set).
TEST(LaunchedRank, AllReduceOverTheMesh) {
  const char* port = std::getenv("DSV4_DIST_TEST_PORT");
  if (port == nullptr) GTEST_SKIP() << "runs as a rank of Launcher.RunsThisBinaryAsThreeRanks";
  const auto env = local_rank_from_env();
  ASSERT_TRUE(env.has_value());
  RendezvousOptions o;
  o.addr = {"127.0.0.1", std::atoi(port)};
  o.world_size = env->local_world_size;
  o.rank = env->local_rank;
  o.timeout_s = 10;
  o.listener_fd = env->rendezvous_fd;
  auto comm = connect_tcp_communicator(o, 10);
  int32_t v = 1 << comm->rank();
  comm->all_reduce(&v, &v, 1, DType::I32, ReduceOp::sum);
  EXPECT_EQ(v, (1 << comm->size()) - 1);
}

TEST(Launcher, RunsThisBinaryAsThreeRanks) {
  if (std::getenv("DSV4_DIST_TEST_PORT") != nullptr) GTEST_SKIP() << "inside a launched rank";
  Socket listener = listen_tcp({"127.0.0.1", 0});
  LaunchOptions o;
  o.local_world_size = 3;
  o.argv = {"/proc/self/exe", "--gtest_filter=LaunchedRank.AllReduceOverTheMesh", "--gtest_color=no"};
  o.env = {{"DSV4_DIST_TEST_PORT", std::to_string(local_port(listener))}};
  o.rendezvous_fd = listener.fd();
  const LaunchResult r = launch_local_ranks(o);
  EXPECT_EQ(r.exit_code(), 0) << r.summary();
}

}  // namespace
}  // namespace dsv4::dist
